//! Forwarding one intercepted connection to the cloud proxy: connect, write the signed
//! PROXY v2 header, then splice bytes both ways.
//!
//! The splice keeps TCP semantics a client relies on: EOF in one direction becomes a
//! half-close (FIN) towards the other side while the reverse direction keeps flowing.
//! Each direction copies through one fixed buffer (bounded memory per connection); a
//! connection with no bytes either way for the idle timeout is closed, so abandoned
//! sessions do not hold one of the capped connection slots forever.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::shared::Shared;
use proxy_protocol::build::HeaderIdentity;
use proxy_protocol::{build_header, unix_now};

/// How a splice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceEnd {
    /// Both directions reached EOF.
    Closed,
    /// No bytes either way for the idle timeout.
    IdleTimeout,
}

/// Last time a byte moved, as milliseconds after `base`; shared by both directions.
struct Activity {
    base: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }

    /// Resolves once nothing moved for `idle`.
    async fn idle_for(&self, idle: Duration) {
        loop {
            let deadline = self.last() + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

async fn copy_half<R, W>(
    mut from: R,
    mut to: W,
    buffer_bytes: usize,
    activity: &Activity,
    counter: &Counter,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; buffer_bytes];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Half-close: pass the EOF on; the peer may already be gone, which is fine.
            let _ = to.shutdown().await;
            return Ok(());
        }
        activity.touch();
        to.write_all(&buf[..n]).await?;
        activity.touch();
        counter.inc_by(n as u64);
    }
}

/// Splices `client` and `upstream` until both directions end, an error, or `idle`
/// without traffic. `up`/`down` count bytes client->upstream and back.
pub async fn splice(
    mut client: TcpStream,
    mut upstream: TcpStream,
    buffer_bytes: usize,
    idle: Duration,
    up: &Counter,
    down: &Counter,
) -> std::io::Result<SpliceEnd> {
    let activity = Activity::new();
    let (cr, cw) = client.split();
    let (ur, uw) = upstream.split();
    let both = async {
        tokio::try_join!(
            copy_half(cr, uw, buffer_bytes, &activity, up),
            copy_half(ur, cw, buffer_bytes, &activity, down),
        )
    };
    tokio::select! {
        r = both => r.map(|_| SpliceEnd::Closed),
        _ = activity.idle_for(idle) => Ok(SpliceEnd::IdleTimeout),
    }
}

/// Decrements the active-connections gauge however the task ends.
struct ActiveGuard<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Handles one intercepted connection from `peer` bound for `destination`
/// (`transparent`: redirected by the firewall rather than sent to us as a proxy).
pub(crate) async fn handle(
    client: TcpStream,
    peer: SocketAddr,
    destination: SocketAddr,
    transparent: bool,
    upstream: Arc<str>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
) {
    let m = &shared.metrics;
    m.active.inc();
    let _active = ActiveGuard(&m.active);
    let identity = shared.resolve(peer.ip());
    let header = match build_header(
        peer,
        destination,
        HeaderIdentity {
            user: identity.as_ref().map(|(u, _)| &**u),
            group: identity.as_ref().and_then(|(_, g)| g.as_deref()),
            transparent,
        },
        &shared.cfg.key,
        shared.cfg.tlv_type,
        unix_now(),
    ) {
        Ok(h) => h,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "building PROXY header");
            m.rejected("header");
            return;
        }
    };
    let fwd = &shared.cfg.forward;
    let mut up =
        match tokio::time::timeout(fwd.connect_timeout, TcpStream::connect(&*upstream)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(%upstream, error = %e, "connecting to cloud proxy");
                m.rejected("upstream_connect");
                return;
            }
            Err(_) => {
                m.rejected("upstream_connect");
                return;
            }
        };
    let _ = up.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if up.write_all(&header).await.is_err() {
        m.rejected("upstream_connect");
        return;
    }
    match splice(
        client,
        up,
        fwd.buffer_bytes,
        fwd.idle_timeout,
        &m.bytes_up,
        &m.bytes_down,
    )
    .await
    {
        Ok(SpliceEnd::IdleTimeout) => {
            m.idle_timeouts.inc();
        }
        Ok(SpliceEnd::Closed) => {}
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
    }
}
