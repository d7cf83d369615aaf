//! The appliance config file as written: serde structs, unknown keys refused, defaults
//! filled in. [`super::RawApplianceConfig::validate`] turns it into the running form.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;

use crate::radius::GroupAttribute;
use proxy_protocol::config::default_tlv_type;

/// How a listener learns where the client meant to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerMode {
    /// Connections redirected by the host firewall; destination from `SO_ORIGINAL_DST`.
    Transparent,
    /// Clients configured to use this port; destination is this listener.
    Explicit,
}

impl ListenerMode {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Transparent => "transparent",
            Self::Explicit => "explicit",
        }
    }
}

/// Raw config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApplianceConfig {
    /// The cloud proxy.
    pub upstream: RawUpstream,
    /// Signing of the identity header.
    pub proxy_protocol: RawSigning,
    /// Forwarding limits.
    #[serde(default)]
    pub forward: RawForward,
    /// Intercepting listeners.
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    /// RADIUS accounting listener.
    #[serde(default)]
    pub radius: Option<RawRadius>,
    /// Static network -> user map.
    #[serde(default)]
    pub static_map: Vec<RawStaticEntry>,
    /// Admin endpoints.
    #[serde(default)]
    pub admin: Option<RawAdmin>,
}

/// `[upstream]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// `host:port` of the cloud proxy's PROXY-v2 listener.
    pub address: String,
    /// Connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

/// `[proxy_protocol]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigning {
    /// Inline shared key (development only).
    #[serde(default)]
    pub hmac_key: Option<String>,
    /// File holding the shared key.
    #[serde(default)]
    pub hmac_key_file: Option<PathBuf>,
    /// Our TLV type, 0xE0-0xEF.
    #[serde(default = "default_tlv_type")]
    pub tlv_type: u8,
}

/// `[forward]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawForward {
    /// Close a connection after this long without bytes in either direction.
    pub idle_timeout_secs: u64,
    /// Buffer per direction per connection.
    pub buffer_bytes: usize,
    /// Concurrent connections; more are refused.
    pub max_connections: usize,
    /// On shutdown, how long open connections may finish.
    pub drain_timeout_secs: u64,
}

impl Default for RawForward {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 300,
            buffer_bytes: 16 * 1024,
            max_connections: 4096,
            drain_timeout_secs: 10,
        }
    }
}

/// `[[listeners]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListener {
    /// Transparent or explicit.
    pub mode: ListenerMode,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Cloud proxy for this listener; default `[upstream].address`.
    #[serde(default)]
    pub upstream: Option<String>,
}

/// `[radius]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadius {
    /// UDP address for Accounting-Requests (1813 by convention).
    pub listen: SocketAddr,
    /// A session without Interim-Update for this long is dropped.
    #[serde(default = "default_session_timeout")]
    pub session_timeout_secs: u64,
    /// How often expired sessions are freed.
    #[serde(default = "default_sweep")]
    pub sweep_interval_secs: u64,
    /// User-Names shared by many devices; Calling-Station-Id is used instead.
    #[serde(default)]
    pub shared_user_names: Vec<String>,
    /// Attributes that carry the group, in order.
    #[serde(default = "default_group_from")]
    pub group_from: Vec<GroupAttribute>,
    /// NAS clients and their secrets.
    pub clients: Vec<RawRadiusClient>,
}

/// `[[radius.clients]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRadiusClient {
    /// Source network of the NAS.
    pub network: IpNet,
    /// Inline secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// File with the secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// `[[static_map]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticEntry {
    /// Source network.
    pub network: IpNet,
    /// User reported for it.
    pub user: String,
    /// Group reported for it.
    #[serde(default)]
    pub group: Option<String>,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Address of healthz/readyz/metrics.
    pub listen: SocketAddr,
}

fn default_connect_timeout_ms() -> u64 {
    3_000
}
fn default_session_timeout() -> u64 {
    900
}
fn default_sweep() -> u64 {
    30
}
fn default_group_from() -> Vec<GroupAttribute> {
    vec![GroupAttribute::FilterId, GroupAttribute::Class]
}
