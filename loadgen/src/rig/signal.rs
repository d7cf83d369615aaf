//! The shutdown signal every command waits on beside its work: Ctrl-C (SIGINT) or
//! SIGTERM. A command selects on it, so its run future is dropped and the child guards
//! inside stop every process it started; the default signal action would exit without
//! running them and leave the proxy, the origin and Redis behind.

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, so a command's run future is dropped and its
/// child guards kill what it started (the default signal action would skip them).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs `work` unless Ctrl-C or SIGTERM comes first; then `None`, and `work` is dropped,
/// so the child guards inside it stop every process it started.
pub async fn until_shutdown<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        r = work => Some(r),
        _ = shutdown_signal() => None,
    }
}
