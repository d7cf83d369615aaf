//! How every appliance task learns that shutdown has started.

use tokio::sync::watch;

/// Resolves once the shutdown flag turns true (or its sender is gone).
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
