//! `[tunnel]`: how CONNECT and intercepted-TLS tunnels treat the client's first bytes
//! and how long they may sit idle. A section type of the config like the others in
//! [`crate::config`]; the tunnels themselves are [`crate::tunnel`].

use std::time::Duration;

/// What to do when the client's first bytes are not a TLS ClientHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonTlsPolicy {
    /// Forward other protocols (and clients that send nothing first) unchanged.
    Allow,
    /// Close tunnels that do not open with a TLS ClientHello.
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
    /// What to do with streams that are not TLS.
    pub non_tls: NonTlsPolicy,
}
