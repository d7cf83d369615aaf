//! The validated configuration ([`Config`]) and the section types it owns; sections owned
//! by other modules (`[identity]`, `[store]`, `[access_log]`, `[proxy_protocol]`) are
//! their types, and `[tunnel]` and `[admin]` are in sibling files.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::identity::{IdentityConfig, IdentityResolver};
use crate::proxy_protocol::CloudSideConfig;
use crate::reload::Snapshot;
use crate::store::StoreSettings;

use super::admin::AdminSettings;
use super::tunnel::TunnelSettings;

/// A validated configuration, with its data files loaded.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the config file; relative paths in the config are relative to it.
    pub base_dir: PathBuf,
    /// `[server]`.
    pub server: ServerSettings,
    /// `[filter]`.
    pub filter: FilterSettings,
    /// `[identity]`, passed to [`IdentityResolver::from_config`].
    pub identity: IdentityConfig,
    /// `[forward]`.
    pub forward: ForwardSettings,
    /// `[upstream]`.
    pub upstream: UpstreamSettings,
    /// `[tunnel]`.
    pub tunnel: TunnelSettings,
    /// `[log]`.
    pub log: LogSettings,
    /// `[access_log]` (None: off).
    pub access_log: Option<crate::access_log::AccessLogSettings>,
    /// `[store]`: where identity and policy lookups go (embedded files or Redis).
    pub store: StoreSettings,
    /// `[proxy_protocol]`: signed PROXY v2 headers from on-premise appliances (absent: off).
    pub proxy_protocol: Option<CloudSideConfig>,
    /// `[admin]`: the token `POST /reload` and the `/debug/` routes need.
    pub admin: AdminSettings,
    /// Notified to reload the category database and policy from their files (the binary
    /// wires SIGHUP to it; admin `POST /reload` does the same).
    pub reload_trigger: Arc<tokio::sync::Notify>,
    /// The category database and policy loaded at validation (version 1).
    pub(crate) snapshot: Arc<Snapshot>,
    /// The identity resolver built at validation.
    pub(crate) resolver: Arc<IdentityResolver>,
}

/// `[server]` settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Proxy listen address (used by the binary; `serve` takes a bound listener).
    pub listen: SocketAddr,
    /// Admin listen address (used by the binary).
    pub admin_listen: SocketAddr,
    /// Most client connections served at once; more are refused.
    pub max_connections: usize,
    /// Deadline for a client's whole request head.
    pub header_read_timeout: Duration,
    /// Most bytes of a request head (431 beyond).
    pub max_header_bytes: usize,
    /// Most header lines in a request head (431 beyond).
    pub max_headers: usize,
    /// Keep client connections alive between requests.
    pub keep_alive: bool,
    /// Refuse requests carrying both Content-Length and Transfer-Encoding.
    pub strict_framing: bool,
    /// How long in-flight requests may run after shutdown starts.
    pub shutdown_grace: Duration,
    /// The pseudonym in `Via` headers.
    pub via_name: String,
}

/// `[filter]` settings (absolute paths).
#[derive(Debug, Clone)]
pub struct FilterSettings {
    /// The category database file.
    pub categories: PathBuf,
    /// The policy file.
    pub policy: PathBuf,
}

/// `[forward]` settings.
#[derive(Debug, Clone)]
pub struct ForwardSettings {
    /// Header carrying the resolved user upstream.
    pub user_header: HeaderName,
    /// Header carrying the resolved group upstream.
    pub group_header: HeaderName,
    /// Clients whose own `X-Forwarded-For` and `Forwarded` are believed (appended to /
    /// passed on); from any other client they are replaced. Empty by default.
    pub trusted_forwarders: Vec<ipnet::IpNet>,
}

impl ForwardSettings {
    /// True when `client` is a trusted forwarder.
    pub fn trusts(&self, client: std::net::IpAddr) -> bool {
        let client = client.to_canonical();
        self.trusted_forwarders
            .iter()
            .any(|net| net.contains(&client))
    }
}

/// `[upstream]` settings.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// TCP connect deadline (502 after it).
    pub connect_timeout: Duration,
    /// Deadline for the origin's response head (504 after it).
    pub response_header_timeout: Duration,
    /// Most open connections to one origin.
    pub max_per_host: usize,
    /// Most open upstream connections overall.
    pub max_total: usize,
    /// Idle pooled connections are closed after this long.
    pub idle_timeout: Duration,
    /// How long a request waits for a pooled connection (503 after it).
    pub acquire_timeout: Duration,
    /// Static resolution overrides.
    pub resolve: ResolveOverrides,
}

/// `[upstream.resolve]`: host (lowercase) or `"*"` -> fixed socket address.
#[derive(Debug, Clone, Default)]
pub struct ResolveOverrides {
    /// Exact host names.
    pub hosts: HashMap<String, SocketAddr>,
    /// The `"*"` entry, used for every host not listed.
    pub wildcard: Option<SocketAddr>,
}

impl ResolveOverrides {
    /// The override for `host` (lowercase), if any.
    pub fn lookup(&self, host: &str) -> Option<SocketAddr> {
        self.hosts.get(host).copied().or(self.wildcard)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]` settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// A `tracing` env-filter directive, e.g. `info` or `filter_proxy=debug`.
    pub level: String,
}

impl Config {
    /// A one-line summary for `check-config` and the start-up log.
    pub fn summary(&self) -> String {
        format!(
            "listen {} admin {}; {} category rules, policy version {}; pool {}/host {} total; {} resolve override(s)",
            self.server.listen,
            self.server.admin_listen,
            self.snapshot.db.len(),
            self.snapshot.version_label(),
            self.upstream.max_per_host,
            self.upstream.max_total,
            self.upstream.resolve.hosts.len() + usize::from(self.upstream.resolve.wildcard.is_some()),
        )
    }
}
