//! The two configs of an appliance run, written into the run directory: the proxy's
//! (the demo config as the harness generates it, plus signed PROXY v2 ingress from
//! 127.0.0.1) and the appliance's (explicit listener -> proxy, RADIUS from loopback,
//! admin port).

use std::net::SocketAddr;
use std::path::Path;

use toml::{Table, Value};

use crate::rig::config_gen::{self, ProxyConfigSpec};
use crate::rig::RigError;

use crate::profile::appliance::ApplianceSettings;

/// The proxy config: `base_text` (the demo config, relative to `base_dir`) with the run's
/// addresses, and `[proxy_protocol]` trusting 127.0.0.1 (the appliance) with `key_file`.
/// Returns the text and the header names the proxy puts the user and group in.
pub fn proxy(
    base_text: &str,
    base_dir: &Path,
    spec: &ProxyConfigSpec,
    key_file: &Path,
) -> Result<(String, [String; 2]), RigError> {
    let text = config_gen::generate(base_text, base_dir, spec)?;
    let mut doc: Table = toml::from_str(&text).map_err(|e| RigError::Config {
        detail: format!("generated proxy config does not parse: {e}"),
    })?;
    let mut pp = Table::new();
    pp.insert(
        "trusted_cidrs".into(),
        Value::Array(vec![Value::String("127.0.0.1/32".into())]),
    );
    pp.insert(
        "hmac_key_file".into(),
        Value::String(key_file.display().to_string()),
    );
    doc.insert("proxy_protocol".into(), Value::Table(pp));
    let forward = doc.get("forward").and_then(Value::as_table);
    let header = |key: &str, default: &str| {
        forward
            .and_then(|f| f.get(key))
            .and_then(Value::as_str)
            .unwrap_or(default)
            .to_ascii_lowercase()
    };
    let names = [
        header("user_header", "x-filter-user"),
        header("group_header", "x-filter-group"),
    ];
    Ok((
        toml::to_string_pretty(&doc).expect("a TOML table always serialises"),
        names,
    ))
}

/// Addresses of the appliance's three ports.
#[derive(Debug, Clone, Copy)]
pub struct ApplianceAddrs {
    /// Explicit listener (clients' proxy setting).
    pub listen: SocketAddr,
    /// RADIUS accounting (UDP).
    pub radius: SocketAddr,
    /// Admin port.
    pub admin: SocketAddr,
}

/// The appliance config: explicit mode to `upstream`, RADIUS accepted from 127.0.0.0/8
/// with the profile's secret.
pub fn appliance(
    addrs: &ApplianceAddrs,
    upstream: SocketAddr,
    key_file: &Path,
    settings: &ApplianceSettings,
) -> String {
    let q = |s: String| Value::String(s).to_string();
    format!(
        r#"# Appliance config of an appliance run (generated).
[upstream]
address = {upstream}
connect_timeout_ms = 3000

[proxy_protocol]
hmac_key_file = {key}

[forward]
idle_timeout_secs = 60
buffer_bytes = 16384
max_connections = 4096
drain_timeout_secs = 5

[[listeners]]
mode = "explicit"
listen = {listen}

[radius]
listen = {radius}
session_timeout_secs = {timeout}
sweep_interval_secs = 5
group_from = ["filter_id"]

[[radius.clients]]
network = "127.0.0.0/8"
secret = {secret}

[admin]
listen = {admin}
"#,
        upstream = q(upstream.to_string()),
        key = q(key_file.display().to_string()),
        listen = q(addrs.listen.to_string()),
        radius = q(addrs.radius.to_string()),
        timeout = settings.session_timeout.as_secs().max(1),
        secret = q(settings.secret.clone()),
        admin = q(addrs.admin.to_string()),
    )
}
