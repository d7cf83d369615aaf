//! The proxy config of a run: the demo config with the run's addresses and store
//! substituted, written into the run directory so the run can be reproduced.
//!
//! Starting from the demo config (rather than a template in code) means a run measures
//! the proxy as it ships; only what a run must change is changed: listen and admin
//! addresses (ephemeral ports), the upstream resolve override (every host to the test
//! origin), the policy store, and relative file paths (made absolute, because the
//! generated file lives elsewhere than the demo config).

use std::net::SocketAddr;
use std::path::Path;

use toml::{Table, Value};

use super::error::RigError;

/// What a run changes in the demo config.
#[derive(Debug, Clone)]
pub struct ProxyConfigSpec {
    /// Client-facing listen address.
    pub listen: SocketAddr,
    /// Admin listen address.
    pub admin_listen: SocketAddr,
    /// Where every upstream host is sent.
    pub origin: SocketAddr,
    /// Redis URL when the run uses the Redis store.
    pub redis_url: Option<String>,
}

/// Builds the run's proxy config from the demo config text `base_text`, whose relative
/// paths are relative to `base_dir`.
pub fn generate(
    base_text: &str,
    base_dir: &Path,
    spec: &ProxyConfigSpec,
) -> Result<String, RigError> {
    let mut doc: Table = toml::from_str(base_text).map_err(|e| RigError::Config {
        detail: format!("demo proxy config does not parse: {e}"),
    })?;
    absolutise_paths(&mut doc, base_dir);
    let server = table(&mut doc, "server");
    server.insert("listen".into(), Value::String(spec.listen.to_string()));
    server.insert(
        "admin_listen".into(),
        Value::String(spec.admin_listen.to_string()),
    );
    let upstream = table(&mut doc, "upstream");
    let mut resolve = Table::new();
    resolve.insert("*".into(), Value::String(spec.origin.to_string()));
    upstream.insert("resolve".into(), Value::Table(resolve));
    if let Some(url) = &spec.redis_url {
        let store = table(&mut doc, "store");
        store.insert("backend".into(), Value::String("redis".into()));
        table(store, "redis").insert("url".into(), Value::String(url.clone()));
    }
    Ok(toml::to_string_pretty(&doc).expect("a TOML table always serialises"))
}

/// The sub-table `key` of `doc`, created when missing (replacing a non-table value).
fn table<'a>(doc: &'a mut Table, key: &str) -> &'a mut Table {
    let entry = doc
        .entry(key.to_owned())
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    entry
        .as_table_mut()
        .expect("the entry was just made a table")
}

/// Replaces every string value naming an existing file relative to `base_dir` by its
/// absolute path.
fn absolutise_paths(doc: &mut Table, base_dir: &Path) {
    for (_, value) in doc.iter_mut() {
        match value {
            Value::String(s) => {
                let candidate = base_dir.join(s.as_str());
                if !Path::new(s.as_str()).is_absolute() && !s.contains("://") && candidate.is_file()
                {
                    let abs = std::fs::canonicalize(&candidate).unwrap_or(candidate);
                    *s = abs.to_string_lossy().into_owned();
                }
            }
            Value::Table(t) => absolutise_paths(t, base_dir),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"
[server]
listen = "127.0.0.1:3128"
admin_listen = "127.0.0.1:9090"
max_connections = 1000

[filter]
categories = "categories.txt"
policy = "missing.toml"

[upstream]
connect_timeout = "2s"

[upstream.resolve]
"*" = "127.0.0.1:8080"
"example.org" = "10.0.0.1:80"
"#;

    #[test]
    fn substitutes_addresses_and_absolutises_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("categories.txt"), "a.com news\n").unwrap();
        let spec = ProxyConfigSpec {
            listen: "127.0.0.1:40001".parse().unwrap(),
            admin_listen: "127.0.0.1:40002".parse().unwrap(),
            origin: "127.0.0.1:40003".parse().unwrap(),
            redis_url: None,
        };
        let text = generate(DEMO, dir.path(), &spec).unwrap();
        let doc: Table = toml::from_str(&text).unwrap();
        assert_eq!(doc["server"]["listen"].as_str(), Some("127.0.0.1:40001"));
        assert_eq!(
            doc["server"]["admin_listen"].as_str(),
            Some("127.0.0.1:40002")
        );
        assert_eq!(doc["server"]["max_connections"].as_integer(), Some(1000));
        let resolve = doc["upstream"]["resolve"].as_table().unwrap();
        assert_eq!(resolve.len(), 1, "only the catch-all remains: {resolve:?}");
        assert_eq!(resolve["*"].as_str(), Some("127.0.0.1:40003"));
        let categories = doc["filter"]["categories"].as_str().unwrap();
        assert!(Path::new(categories).is_absolute() && categories.ends_with("categories.txt"));
        assert_eq!(doc["filter"]["policy"].as_str(), Some("missing.toml"));
        assert!(doc.get("store").is_none());
    }

    #[test]
    fn bad_demo_config_is_an_error() {
        let spec = ProxyConfigSpec {
            listen: "127.0.0.1:1".parse().unwrap(),
            admin_listen: "127.0.0.1:2".parse().unwrap(),
            origin: "127.0.0.1:3".parse().unwrap(),
            redis_url: Some("redis://127.0.0.1:4".into()),
        };
        assert!(generate("[server\n", Path::new("."), &spec).is_err());
        let text = generate("[store.redis]\ntimeout = \"1s\"\n", Path::new("."), &spec).unwrap();
        let doc: Table = toml::from_str(&text).unwrap();
        assert_eq!(doc["store"]["backend"].as_str(), Some("redis"));
        assert_eq!(
            doc["store"]["redis"]["url"].as_str(),
            Some("redis://127.0.0.1:4")
        );
        assert_eq!(doc["store"]["redis"]["timeout"].as_str(), Some("1s"));
    }
}
