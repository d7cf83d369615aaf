//! Connections an appliance intercepted transparently (its PROXY v2 header says so):
//! the client spoke to its real destination, so the stream carries either origin-form
//! HTTP (served by the normal HTTP path, which takes the target from `Host`) or a TLS
//! ClientHello, handled here as a tunnel to the original destination whose SNI is
//! checked against the client's policy, exactly like a CONNECT tunnel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use tokio::net::TcpStream;

use crate::metrics::UpstreamErrorKind;
use crate::state::{self, ClientCtx, Shared};

use super::guard::run_tunnel;

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// True when the client's first byte (waited for at most `wait`) opens a TLS handshake.
pub(crate) async fn starts_with_tls(stream: &TcpStream, wait: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(wait, stream.peek(&mut first)).await,
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE
    )
}

/// Tunnels intercepted TLS to `destination` under the client's policy.
pub(crate) async fn tls(
    shared: &Arc<Shared>,
    stream: TcpStream,
    ctx: &ClientCtx,
    destination: SocketAddr,
) {
    let snapshot = shared.reloader.current();
    let policy = match state::resolve(shared, &snapshot, &HeaderMap::new(), ctx).await {
        Ok((_, policy)) => policy,
        Err(e) => {
            tracing::debug!(peer = %ctx.peer, error = %e, "transparent TLS refused");
            return;
        }
    };
    let connect = tokio::time::timeout(
        shared.config.upstream.connect_timeout,
        TcpStream::connect(destination),
    );
    let upstream = match connect.await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => {
            shared.metrics.upstream_error(UpstreamErrorKind::Connect);
            tracing::debug!(%destination, error = %e, "transparent TLS: upstream connect failed");
            return;
        }
        Err(_) => {
            shared
                .metrics
                .upstream_error(UpstreamErrorKind::ConnectTimeout);
            return;
        }
    };
    let target = destination.to_string();
    run_tunnel(shared, stream, upstream, &policy, &snapshot, &target, None).await;
}
