//! CONNECT tunnels: after the proxy has answered `200 Connection Established`, peek the
//! client's TLS ClientHello for its SNI, refuse domain fronting, then splice bytes both
//! ways with correct half-close and an idle timeout.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// What to do when the client's first bytes are not a TLS ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonTlsPolicy {
    Allow,
    Close,
}

/// Tunnel settings (from the proxy config's `[tunnel]` table).
#[derive(Debug, Clone)]
pub struct TunnelSettings {
    /// How long to wait for the ClientHello.
    pub hello_timeout: Duration,
    /// Most bytes read while looking for a complete ClientHello.
    pub hello_max_bytes: usize,
    /// Close the tunnel after this long with no bytes either way.
    pub idle_timeout: Duration,
    pub non_tls: NonTlsPolicy,
}

/// How a tunnel ended; the caller counts it in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelOutcome {
    /// Both directions finished; bytes client->upstream and upstream->client.
    Closed { up: u64, down: u64 },
    /// The SNI named a blocked host (domain fronting); the tunnel was cut before any byte went upstream.
    SniBlocked { sni: String },
    /// Not TLS and the policy is `Close`.
    NotTls,
    /// Idle timeout.
    Idle { up: u64, down: u64 },
    /// An I/O error on either side.
    Error { kind: std::io::ErrorKind, up: u64, down: u64 },
}

/// Runs a tunnel between an upgraded client connection and a connected upstream.
/// `sni_blocked` answers whether the SNI host is blocked for this client.
pub async fn run<C, U, F>(
    _client: C,
    _upstream: U,
    _settings: &TunnelSettings,
    _sni_blocked: F,
) -> TunnelOutcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
    F: Fn(&str) -> bool,
{
    unimplemented!("tunnel::run")
}
