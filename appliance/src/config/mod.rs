//! The appliance's config file: raw serde form (unknown keys refused), validated into
//! [`ApplianceConfig`] with every problem collected and named by key.
//!
//! ```toml
//! [upstream]
//! address = "cloud-proxy.example:3128"      # the cloud filter's PROXY-v2 listener
//!
//! [proxy_protocol]
//! hmac_key_file = "appliance.key"           # shared with the cloud proxy
//!
//! [[listeners]]
//! mode = "transparent"                      # firewall-redirected traffic
//! listen = "0.0.0.0:3129"
//!
//! [radius]
//! listen = "0.0.0.0:1813"
//! shared_user_names = ["guest"]
//! [[radius.clients]]
//! network = "10.0.0.0/8"
//! secret_file = "radius.secret"
//!
//! [[static_map]]
//! network = "10.50.0.0/16"
//! user = "library-pcs"
//! group = "students"
//!
//! [admin]
//! listen = "127.0.0.1:9190"
//! ```

mod raw;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::radius::{RadiusClient, RadiusSettings};
use super::static_map::{StaticEntry, StaticMap};
use proxy_protocol::config::{check_tlv_type, load_key};
use proxy_protocol::{ConfigIssue, HmacKey};

pub use raw::{
    ListenerMode, RawAdmin, RawApplianceConfig, RawForward, RawListener, RawRadius,
    RawRadiusClient, RawSigning, RawStaticEntry, RawUpstream,
};

pub use proxy_protocol::config::ConfigIssues;

/// Upper bound of `forward.max_connections` (far above what one host can hold open;
/// keeps the drain's permit count within `u32`).
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// Validated forwarding limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardSettings {
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Bytes per direction buffer.
    pub buffer_bytes: usize,
    /// Connection cap.
    pub max_connections: usize,
    /// Shutdown drain time.
    pub drain_timeout: Duration,
    /// Connect timeout to the cloud proxy.
    pub connect_timeout: Duration,
}

/// A validated listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    /// Mode.
    pub mode: ListenerMode,
    /// Listen address.
    pub listen: SocketAddr,
    /// Cloud proxy `host:port`.
    pub upstream: Arc<str>,
}

/// Validated RADIUS settings.
#[derive(Debug, Clone)]
pub struct RadiusConfig {
    /// UDP listen address.
    pub listen: SocketAddr,
    /// Session expiry.
    pub session_timeout: Duration,
    /// Listener behaviour.
    pub settings: RadiusSettings,
}

/// The validated appliance config.
#[derive(Debug, Clone)]
pub struct ApplianceConfig {
    /// Default cloud proxy `host:port` (also what readiness probes).
    pub upstream: Arc<str>,
    /// The key shared with the cloud proxy.
    pub key: HmacKey,
    /// Our TLV type.
    pub tlv_type: u8,
    /// Forwarding limits.
    pub forward: ForwardSettings,
    /// Intercepting listeners.
    pub listeners: Vec<ListenerSettings>,
    /// RADIUS, if configured.
    pub radius: Option<RadiusConfig>,
    /// Static map.
    pub static_map: StaticMap,
    /// Admin listen address, if any.
    pub admin_listen: Option<SocketAddr>,
}

/// Why the config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML or not our schema.
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
    /// Values are invalid.
    #[error("{path}: {issues}")]
    Invalid {
        /// The file.
        path: String,
        /// Every problem.
        issues: ConfigIssues,
    },
}

impl ApplianceConfig {
    /// Reads, parses and validates a config file; relative paths in it are relative to it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: shown.clone(),
            source,
        })?;
        let raw: RawApplianceConfig =
            toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: shown.clone(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        raw.validate(base).map_err(|issues| ConfigError::Invalid {
            path: shown,
            issues,
        })
    }
}

fn check_host_port(value: &str, key: &str, issues: &mut Vec<ConfigIssue>) {
    let ok = value
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !ok {
        issues.push(ConfigIssue::new(key, format!("{value:?} is not host:port")));
    }
}

impl RawApplianceConfig {
    /// Validates every section, collecting all problems.
    pub fn validate(&self, base_dir: &Path) -> Result<ApplianceConfig, ConfigIssues> {
        let mut issues = Vec::new();
        check_host_port(&self.upstream.address, "upstream.address", &mut issues);
        let key = load_key(
            self.proxy_protocol.hmac_key.as_deref(),
            self.proxy_protocol.hmac_key_file.as_deref(),
            base_dir,
            "proxy_protocol",
            &mut issues,
        );
        check_tlv_type(self.proxy_protocol.tlv_type, "proxy_protocol", &mut issues);
        let f = &self.forward;
        if f.idle_timeout_secs == 0 {
            issues.push(ConfigIssue::new("forward.idle_timeout_secs", "must be > 0"));
        }
        if !(1024..=1 << 20).contains(&f.buffer_bytes) {
            issues.push(ConfigIssue::new(
                "forward.buffer_bytes",
                "must be 1024..=1048576",
            ));
        }
        if !(1..=MAX_CONNECTIONS).contains(&f.max_connections) {
            issues.push(ConfigIssue::new(
                "forward.max_connections",
                format!("must be 1..={MAX_CONNECTIONS}"),
            ));
        }
        if self.upstream.connect_timeout_ms == 0 {
            issues.push(ConfigIssue::new(
                "upstream.connect_timeout_ms",
                "must be > 0",
            ));
        }
        if self.listeners.is_empty() {
            issues.push(ConfigIssue::new(
                "listeners",
                "at least one listener is required",
            ));
        }
        let upstream: Arc<str> = self.upstream.address.as_str().into();
        let mut listeners = Vec::new();
        for (i, l) in self.listeners.iter().enumerate() {
            if let Some(u) = &l.upstream {
                check_host_port(u, &format!("listeners[{i}].upstream"), &mut issues);
            }
            if self.listeners[..i].iter().any(|o| o.listen == l.listen) {
                issues.push(ConfigIssue::new(
                    format!("listeners[{i}].listen"),
                    "duplicate address",
                ));
            }
            listeners.push(ListenerSettings {
                mode: l.mode,
                listen: l.listen,
                upstream: l
                    .upstream
                    .as_deref()
                    .map_or_else(|| upstream.clone(), Into::into),
            });
        }
        let radius = self
            .radius
            .as_ref()
            .map(|r| validate_radius(r, base_dir, &mut issues));
        let mut entries = Vec::new();
        for (i, e) in self.static_map.iter().enumerate() {
            if e.user.is_empty() {
                issues.push(ConfigIssue::new(
                    format!("static_map[{i}].user"),
                    "must not be empty",
                ));
            }
            entries.push(StaticEntry {
                network: e.network.trunc(),
                user: e.user.as_str().into(),
                group: e.group.as_deref().map(Into::into),
            });
        }
        match key {
            Some(key) if issues.is_empty() => Ok(ApplianceConfig {
                upstream,
                key,
                tlv_type: self.proxy_protocol.tlv_type,
                forward: ForwardSettings {
                    idle_timeout: Duration::from_secs(f.idle_timeout_secs),
                    buffer_bytes: f.buffer_bytes,
                    max_connections: f.max_connections,
                    drain_timeout: Duration::from_secs(f.drain_timeout_secs),
                    connect_timeout: Duration::from_millis(self.upstream.connect_timeout_ms),
                },
                listeners,
                radius,
                static_map: StaticMap::new(entries),
                admin_listen: self.admin.as_ref().map(|a| a.listen),
            }),
            _ => Err(ConfigIssues(issues)),
        }
    }
}

fn validate_radius(r: &RawRadius, base_dir: &Path, issues: &mut Vec<ConfigIssue>) -> RadiusConfig {
    if r.clients.is_empty() {
        issues.push(ConfigIssue::new(
            "radius.clients",
            "at least one NAS client is required",
        ));
    }
    if r.session_timeout_secs == 0 {
        issues.push(ConfigIssue::new(
            "radius.session_timeout_secs",
            "must be > 0",
        ));
    }
    if r.sweep_interval_secs == 0 {
        issues.push(ConfigIssue::new(
            "radius.sweep_interval_secs",
            "must be > 0",
        ));
    }
    let mut clients = Vec::new();
    for (i, c) in r.clients.iter().enumerate() {
        let key = format!("radius.clients[{i}]");
        let secret = match (&c.secret, &c.secret_file) {
            (Some(s), None) => Some(s.as_bytes().to_vec()),
            (None, Some(p)) => match std::fs::read_to_string(base_dir.join(p)) {
                Ok(s) => Some(s.trim_end().as_bytes().to_vec()),
                Err(e) => {
                    issues.push(ConfigIssue::new(
                        format!("{key}.secret_file"),
                        e.to_string(),
                    ));
                    None
                }
            },
            _ => {
                issues.push(ConfigIssue::new(
                    format!("{key}.secret"),
                    "set exactly one of secret or secret_file",
                ));
                None
            }
        };
        match secret {
            Some(s) if s.is_empty() => {
                issues.push(ConfigIssue::new(
                    format!("{key}.secret"),
                    "must not be empty",
                ));
            }
            Some(s) => clients.push(RadiusClient {
                network: c.network.trunc(),
                secret: s.into(),
            }),
            None => {}
        }
    }
    RadiusConfig {
        listen: r.listen,
        session_timeout: Duration::from_secs(r.session_timeout_secs.max(1)),
        settings: RadiusSettings {
            clients,
            shared_user_names: r.shared_user_names.clone(),
            group_from: r.group_from.clone(),
            sweep_interval: Duration::from_secs(r.sweep_interval_secs.max(1)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_named() {
        let raw: RawApplianceConfig = toml::from_str(
            r#"
            upstream = { address = "nohost" }
            proxy_protocol = { hmac_key = "short", tlv_type = 1 }
            forward = { buffer_bytes = 10, max_connections = 0 }
            [[listeners]]
            mode = "explicit"
            listen = "127.0.0.1:1"
            [[listeners]]
            mode = "transparent"
            listen = "127.0.0.1:1"
            [radius]
            listen = "127.0.0.1:0"
            clients = [{ network = "10.0.0.0/8" }]
            "#,
        )
        .expect("parses");
        let err = raw.validate(Path::new(".")).expect_err("invalid");
        let keys: Vec<_> = err.0.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "upstream.address",
            "proxy_protocol.hmac_key",
            "proxy_protocol.tlv_type",
            "forward.buffer_bytes",
            "forward.max_connections",
            "listeners[1].listen",
            "radius.clients[0].secret",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let raw: RawApplianceConfig = toml::from_str(
            r#"
            upstream = { address = "proxy:3128" }
            proxy_protocol = { hmac_key = "0123456789abcdef" }
            [[listeners]]
            mode = "explicit"
            listen = "127.0.0.1:0"
            "#,
        )
        .expect("parses");
        let cfg = raw.validate(Path::new(".")).expect("valid");
        assert_eq!(&*cfg.listeners[0].upstream, "proxy:3128");
        assert_eq!(cfg.forward.buffer_bytes, 16 * 1024);
        assert_eq!(cfg.tlv_type, 0xE0);
        assert!(cfg.radius.is_none());
        assert!(toml::from_str::<RawApplianceConfig>("bogus = 1").is_err());
    }
}
