//! The config file as written: serde structs with `deny_unknown_fields`, every field
//! optional so that defaults live in one place ([`super::validate`]) and a missing key is
//! never a parse error. Durations are strings such as `"250ms"`, `"10s"` or `"5m"`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `[server]`: client-facing listener and per-connection limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub max_connections: Option<usize>,
    pub header_read_timeout: Option<String>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub keep_alive: Option<bool>,
    pub strict_framing: Option<bool>,
    pub shutdown_grace: Option<String>,
    pub via_name: Option<String>,
}

/// `[filter]`: the category database and policy files (relative to the config file).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    pub categories: Option<String>,
    pub policy: Option<String>,
}

/// `[forward]`: what the proxy adds to forwarded requests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    pub user_header: Option<String>,
    pub group_header: Option<String>,
    pub trusted_forwarders: Option<Vec<ipnet::IpNet>>,
}

/// `[upstream]`: resolving, connecting and pooling towards origins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub connect_timeout: Option<String>,
    pub response_header_timeout: Option<String>,
    pub max_per_host: Option<usize>,
    pub max_total: Option<usize>,
    pub idle_timeout: Option<String>,
    pub acquire_timeout: Option<String>,
    pub resolve: Option<BTreeMap<String, String>>,
}

/// `[tunnel]`: CONNECT tunnels.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTunnel {
    pub hello_timeout: Option<String>,
    pub hello_max_bytes: Option<usize>,
    pub idle_timeout: Option<String>,
    pub non_tls: Option<super::tunnel::NonTlsPolicy>,
}

/// `[access_log]`: one structured line per request (see `crate::access_log`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    pub enabled: Option<bool>,
    pub path: Option<String>,
    pub format: Option<crate::access_log::AccessLogFormat>,
    pub buffer: Option<usize>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
}

/// `[log]`: log format and level.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub filter: RawFilter,
    pub identity: Option<crate::identity::IdentityConfig>,
    #[serde(default)]
    pub forward: RawForward,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub tunnel: RawTunnel,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub access_log: RawAccessLog,
    #[serde(default)]
    pub store: crate::store::StoreConfig,
    pub proxy_protocol: Option<crate::proxy_protocol::ProxyProtocolConfig>,
    #[serde(default)]
    pub admin: super::admin::RawAdmin,
}
