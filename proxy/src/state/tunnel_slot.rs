//! Where a CONNECT request parks its tunnel.
//!
//! hyper hands the client socket over (`hyper::upgrade::on`) only after the `200` has
//! been written and the connection future has finished. Rather than spawning a detached
//! task, the handler parks the tunnel future here and the connection's own task runs it
//! next, so a tunnel stays counted as a client connection (limit, drain, shutdown).
//!
//! The slot is part of the connection context ([`super::ClientCtx`] holds one), so it
//! lives with that context rather than under [`crate::tunnel`]: the tunnel path parks
//! into it and the server runs what was parked, and neither needs the other for that.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// A tunnel waiting to run.
pub(crate) type TunnelFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// At most one parked tunnel per connection.
#[derive(Default)]
pub(crate) struct TunnelSlot(Mutex<Option<TunnelFuture>>);

impl TunnelSlot {
    /// Parks a tunnel to run once the connection has been upgraded.
    pub fn park(&self, tunnel: TunnelFuture) {
        *self.0.lock().expect("tunnel slot lock is never poisoned") = Some(tunnel);
    }

    /// Takes the parked tunnel, if any.
    pub fn take(&self) -> Option<TunnelFuture> {
        self.0
            .lock()
            .expect("tunnel slot lock is never poisoned")
            .take()
    }
}

impl fmt::Debug for TunnelSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TunnelSlot")
    }
}
