//! Raw TOML -> [`Config`]: applies defaults, checks every value and loads the data files,
//! collecting all problems (with key and line) before failing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use super::checker::Checker;
use super::problem::{ConfigError, Problem};
use super::raw::{RawAccessLog, RawConfig, RawServer, RawUpstream};
use super::settings::{
    Config, FilterSettings, ForwardSettings, LogFormat, LogSettings, ResolveOverrides,
    ServerSettings, UpstreamSettings,
};
use super::tunnel::{NonTlsPolicy, TunnelSettings};
use crate::access_log::{AccessLogFormat, AccessLogSettings};
use crate::identity::{IdentityConfig, IdentityResolver};
use crate::reload::{Snapshot, SnapshotError};

/// The smallest head buffer hyper accepts.
const MIN_HEADER_BYTES: usize = 8192;

/// `[identity]` with every default, when the section is absent.
fn default_identity() -> IdentityConfig {
    toml::from_str("").expect("every identity key has a default")
}

/// Validates `text` into a [`Config`].
pub(super) fn validate(text: &str, base: &Path, origin: String) -> Result<Config, ConfigError> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map(|s| text[..s.start].lines().count().max(1));
            return Err(ConfigError {
                origin,
                problems: vec![Problem {
                    key: String::new(),
                    line,
                    message: e.message().to_string(),
                }],
            });
        }
    };
    let mut c = Checker {
        text,
        problems: Vec::new(),
    };
    let raw = c.deserialize_all(table);
    let RawConfig {
        server,
        filter,
        identity,
        forward,
        upstream,
        tunnel,
        log,
        access_log,
        store,
        proxy_protocol,
        admin,
    } = raw;
    let proxy_protocol =
        proxy_protocol.and_then(|raw| match raw.validate(base, "proxy_protocol") {
            Ok(settings) => Some(settings),
            Err(issues) => {
                for issue in issues.0 {
                    let (section, key) = issue
                        .key
                        .rsplit_once('.')
                        .unwrap_or(("proxy_protocol", &issue.key));
                    c.problem(section, Some(key), issue.message.clone());
                }
                None
            }
        });
    let store = match store.validate() {
        Ok(settings) => settings,
        Err(problems) => {
            for problem in problems {
                let (key, message) = problem.split_once(": ").unwrap_or(("store", &problem));
                let (section, key) = key.rsplit_once('.').unwrap_or(("store", key));
                c.problem(section, Some(key), message);
            }
            crate::store::StoreSettings::Memory
        }
    };
    let identity = Some(identity.unwrap_or_else(default_identity));
    if let Some(cfg) = &identity {
        for (key, name) in [
            ("trusted_user_header", &cfg.trusted_user_header),
            ("trusted_group_header", &cfg.trusted_group_header),
        ] {
            if HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).is_err() {
                c.problem(
                    "identity",
                    Some(key),
                    format!("`{name}` is not a valid header name"),
                );
            }
        }
    }
    let server = check_server(&mut c, server);
    let admin = admin
        .validate(base, server.admin_listen)
        .unwrap_or_else(|problems| {
            for (key, message) in problems {
                c.problem("admin", Some(key), message);
            }
            super::admin::AdminSettings::default()
        });
    let filter = FilterSettings {
        categories: base.join(filter.categories.as_deref().unwrap_or("categories.txt")),
        policy: base.join(filter.policy.as_deref().unwrap_or("policy.toml")),
    };
    let forward = ForwardSettings {
        user_header: c.header(
            "forward",
            "user_header",
            forward.user_header.as_deref(),
            "x-filter-user",
        ),
        group_header: c.header(
            "forward",
            "group_header",
            forward.group_header.as_deref(),
            "x-filter-group",
        ),
        trusted_forwarders: forward.trusted_forwarders.unwrap_or_default(),
    };
    if forward.user_header == forward.group_header {
        c.problem(
            "forward",
            Some("group_header"),
            "must differ from forward.user_header",
        );
    }
    let upstream = check_upstream(&mut c, upstream);
    let tunnel = TunnelSettings {
        hello_timeout: c.duration(
            "tunnel",
            "hello_timeout",
            tunnel.hello_timeout.as_deref(),
            Duration::from_secs(10),
        ),
        hello_max_bytes: c.positive(
            "tunnel",
            "hello_max_bytes",
            tunnel.hello_max_bytes,
            16 * 1024,
        ),
        idle_timeout: c.duration(
            "tunnel",
            "idle_timeout",
            tunnel.idle_timeout.as_deref(),
            Duration::from_secs(300),
        ),
        non_tls: tunnel.non_tls.unwrap_or(NonTlsPolicy::Close),
    };
    let log = LogSettings {
        format: match log.format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                c.problem(
                    "log",
                    Some("format"),
                    format!("`{other}` is not one of text, json"),
                );
                LogFormat::Text
            }
        },
        level: log.level.unwrap_or_else(|| "info".to_string()),
    };

    let access_log = check_access_log(&mut c, access_log, base);

    // Data files: only worth loading when the paths themselves are sound.
    let snapshot = match Snapshot::load(&filter.categories, &filter.policy, 1) {
        Ok(s) => Some(Arc::new(s)),
        Err(SnapshotError::Categories(e)) => {
            c.problem("filter", Some("categories"), e.to_string());
            None
        }
        Err(SnapshotError::Policy(e)) => {
            c.problem("filter", Some("policy"), e.to_string());
            None
        }
    };
    let resolver =
        identity
            .as_ref()
            .and_then(|cfg| match IdentityResolver::from_config(cfg, base) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    c.problem("identity", Some("users_file"), e.to_string());
                    None
                }
            });

    match (snapshot, resolver, identity, c.problems.is_empty()) {
        (Some(snapshot), Some(resolver), Some(identity), true) => Ok(Config {
            base_dir: base.to_path_buf(),
            server,
            filter,
            identity,
            forward,
            upstream,
            tunnel,
            log,
            access_log,
            store,
            proxy_protocol,
            admin,
            reload_trigger: Arc::new(tokio::sync::Notify::new()),
            snapshot,
            resolver,
        }),
        _ => {
            let mut problems = c.problems;
            problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            Err(ConfigError { origin, problems })
        }
    }
}

/// `[access_log]`: None when disabled (the default: the harness and tests run without it).
fn check_access_log(
    c: &mut Checker<'_>,
    raw: RawAccessLog,
    base: &Path,
) -> Option<AccessLogSettings> {
    if !raw.enabled.unwrap_or(false) {
        return None;
    }
    let path = match raw.path.as_deref() {
        None | Some("-") => None,
        Some("") => {
            c.problem(
                "access_log",
                Some("path"),
                "must name a file, or \"-\" for standard output",
            );
            None
        }
        Some(p) => Some(base.join(p)),
    };
    let host = raw.host.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "filter-proxy".to_string())
    });
    Some(AccessLogSettings {
        path,
        format: raw.format.unwrap_or(AccessLogFormat::Json),
        buffer: c.positive("access_log", "buffer", raw.buffer, 4096),
        host,
        source: raw.source.unwrap_or_else(|| "filter-proxy".to_string()),
        sourcetype: raw
            .sourcetype
            .unwrap_or_else(|| "filter-proxy:access".to_string()),
        index: raw.index,
    })
}

fn check_server(c: &mut Checker<'_>, raw: RawServer) -> ServerSettings {
    let s = "server";
    let max_header_bytes = c.positive(s, "max_header_bytes", raw.max_header_bytes, 32 * 1024);
    if max_header_bytes < MIN_HEADER_BYTES {
        c.problem(
            s,
            Some("max_header_bytes"),
            format!("must be at least {MIN_HEADER_BYTES}"),
        );
    }
    ServerSettings {
        listen: c.addr(s, "listen", raw.listen.as_deref(), "127.0.0.1:3128"),
        admin_listen: c.addr(
            s,
            "admin_listen",
            raw.admin_listen.as_deref(),
            "127.0.0.1:9090",
        ),
        max_connections: c.positive(s, "max_connections", raw.max_connections, 4096),
        header_read_timeout: c.duration(
            s,
            "header_read_timeout",
            raw.header_read_timeout.as_deref(),
            Duration::from_secs(10),
        ),
        max_header_bytes: max_header_bytes.max(MIN_HEADER_BYTES),
        max_headers: c.positive(s, "max_headers", raw.max_headers, 100),
        keep_alive: raw.keep_alive.unwrap_or(true),
        strict_framing: raw.strict_framing.unwrap_or(true),
        shutdown_grace: c.duration(
            s,
            "shutdown_grace",
            raw.shutdown_grace.as_deref(),
            Duration::from_secs(10),
        ),
        via_name: match raw.via_name {
            Some(name) if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) => {
                c.problem(
                    s,
                    Some("via_name"),
                    "must be a non-empty token without spaces",
                );
                "filter-proxy".to_string()
            }
            Some(name) => name,
            None => "filter-proxy".to_string(),
        },
    }
}

fn check_upstream(c: &mut Checker<'_>, raw: RawUpstream) -> UpstreamSettings {
    let s = "upstream";
    let mut resolve = ResolveOverrides::default();
    for (host, target) in raw.resolve.unwrap_or_default() {
        match target.parse::<SocketAddr>() {
            Ok(addr) if host == "*" => resolve.wildcard = Some(addr),
            Ok(addr) => {
                resolve.hosts.insert(host.to_ascii_lowercase(), addr);
            }
            Err(_) => {
                let problem = format!("`{target}` is not an ip:port address");
                c.problem("upstream.resolve", Some(&host), problem);
            }
        }
    }
    let max_per_host = c.positive(s, "max_per_host", raw.max_per_host, 32);
    let max_total = c.positive(s, "max_total", raw.max_total, 1024);
    if max_per_host > max_total {
        c.problem(
            s,
            Some("max_per_host"),
            "must not exceed upstream.max_total",
        );
    }
    UpstreamSettings {
        connect_timeout: c.duration(
            s,
            "connect_timeout",
            raw.connect_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        response_header_timeout: c.duration(
            s,
            "response_header_timeout",
            raw.response_header_timeout.as_deref(),
            Duration::from_secs(30),
        ),
        max_per_host,
        max_total,
        idle_timeout: c.duration(
            s,
            "idle_timeout",
            raw.idle_timeout.as_deref(),
            Duration::from_secs(60),
        ),
        acquire_timeout: c.duration(
            s,
            "acquire_timeout",
            raw.acquire_timeout.as_deref(),
            Duration::from_secs(5),
        ),
        resolve,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_problem_with_key_and_line() {
        let text = "[server]\nlisten = 5\nbogus = 1\nmax_connections = 0\n\n[upstream]\nconnect_timeout = \"5\"\n\n[upstream.resolve]\n\"a.example\" = \"nope\"\n\n[weird]\n";
        let err = validate(text, Path::new("/nonexistent"), "t".into()).unwrap_err();
        let got: Vec<(String, Option<usize>)> = err
            .problems
            .iter()
            .map(|p| (p.key.clone(), p.line))
            .collect();
        for want in [
            ("server.listen", Some(2)),
            ("server.bogus", Some(3)),
            ("server.max_connections", Some(4)),
            ("upstream.connect_timeout", Some(7)),
            ("upstream.resolve.a.example", Some(10)),
            ("weird", Some(12)),
        ] {
            assert!(
                got.contains(&(want.0.to_string(), want.1)),
                "{want:?} missing from {got:?}"
            );
        }
        assert!(got.iter().any(|(k, _)| k == "filter.categories"));
    }
}
