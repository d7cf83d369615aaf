//! Starting the proxy under test, the one way every command does it: the run's config
//! generated from a base config (fresh loopback ports, the test origin, Redis when
//! used, optional settings merged over it) into the run directory, then the release
//! binary started on it, pinned, and waited for until `/readyz` answers.
//!
//! Shared by `loadgen run` (the harness), the fault and capacity rigs and the
//! instruction pass, so all of them measure a proxy configured and started alike.
//! Writing the config and starting the proxy are two steps because the harness seeds
//! Redis with the written config before the proxy starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::admin::{wait_ready, AdminClient};
use super::children::ChildGuard;
use super::config_gen::{self, ProxyConfigSpec};
use super::error::RigError;
use super::files;
use super::pin;
use super::redis::free_local_addr;

/// What the run's proxy config is made from.
#[derive(Debug, Clone, Copy)]
pub struct ConfigSpec<'a> {
    /// The config the run's config is generated from (the demo config).
    pub base_config: &'a Path,
    /// Directory the config is written to (as `proxy.toml`).
    pub dir: &'a Path,
    /// The test origin every host resolves to.
    pub origin: SocketAddr,
    /// Redis, when the proxy uses the Redis store.
    pub redis_url: Option<&'a str>,
    /// Settings merged over the generated config (tables recursively); `None` or empty
    /// writes the generated text as it is.
    pub overrides: Option<&'a toml::Table>,
}

/// A written proxy config and the addresses it binds.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// The `proxy.toml` written.
    pub path: PathBuf,
    /// The client-facing address.
    pub listen: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
}

/// Merges `over` into `base`: tables recursively, every other value replaced.
pub fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Generates the run's proxy config on two fresh loopback ports and writes it to
/// `spec.dir/proxy.toml`.
pub fn write_config(spec: &ConfigSpec<'_>) -> Result<ProxyConfig, RigError> {
    let listen = free_local_addr()?;
    let admin = free_local_addr()?;
    let base_text = std::fs::read_to_string(spec.base_config).map_err(|source| RigError::Io {
        what: format!("read the proxy config {}", spec.base_config.display()),
        cause: source,
    })?;
    let base_dir = spec.base_config.parent().unwrap_or(Path::new("."));
    let mut text = config_gen::generate(
        &base_text,
        base_dir,
        &ProxyConfigSpec {
            listen,
            admin_listen: admin,
            origin: spec.origin,
            redis_url: spec.redis_url.map(str::to_owned),
        },
    )?;
    if let Some(over) = spec.overrides.filter(|o| !o.is_empty()) {
        let mut doc: toml::Table = toml::from_str(&text).map_err(|e| RigError::Config {
            detail: format!("generated proxy config does not parse: {e}"),
        })?;
        merge_tables(&mut doc, over);
        text = toml::to_string_pretty(&doc).expect("a TOML table always serialises");
    }
    std::fs::create_dir_all(spec.dir).map_err(|source| RigError::Io {
        what: format!("create {}", spec.dir.display()),
        cause: source,
    })?;
    let path = spec.dir.join("proxy.toml");
    files::write_atomic(&path, text.as_bytes())?;
    Ok(ProxyConfig {
        path,
        listen,
        admin,
    })
}

/// Starts `proxy_bin` on `config`, pinned to `cpus` when given, its output in `log`,
/// and waits up to `ready_timeout` for `/readyz` (failing early, with its stderr, if
/// it exits).
pub async fn start_proxy(
    proxy_bin: &Path,
    config: &ProxyConfig,
    cpus: Option<&[usize]>,
    log: PathBuf,
    ready_timeout: Duration,
) -> Result<(ChildGuard, AdminClient), RigError> {
    start_proxy_with_env(proxy_bin, config, cpus, log, ready_timeout, &[]).await
}

/// [`start_proxy`] with variables set in the proxy's environment only (the self-test
/// slowdown of one side of a canary session).
pub async fn start_proxy_with_env(
    proxy_bin: &Path,
    config: &ProxyConfig,
    cpus: Option<&[usize]>,
    log: PathBuf,
    ready_timeout: Duration,
    env: &[(String, String)],
) -> Result<(ChildGuard, AdminClient), RigError> {
    let mut cmd = pin::command(proxy_bin.as_os_str(), cpus);
    cmd.arg("--config").arg(&config.path);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut proxy = ChildGuard::spawn("filter-proxy", cmd, Some(log))?;
    let admin = AdminClient::new(config.admin)?;
    wait_ready(&admin, &mut proxy, ready_timeout).await?;
    Ok((proxy, admin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_replaces_leaves_and_keeps_siblings() {
        let mut base: toml::Table = toml::from_str("[a]\nx = 1\ny = 2\n[b]\nz = \"k\"\n").unwrap();
        let over: toml::Table = toml::from_str("[a]\ny = 3\n[c]\nw = true\n").unwrap();
        merge_tables(&mut base, &over);
        assert_eq!(base["a"]["x"].as_integer(), Some(1));
        assert_eq!(base["a"]["y"].as_integer(), Some(3));
        assert_eq!(base["b"]["z"].as_str(), Some("k"));
        assert_eq!(base["c"]["w"].as_bool(), Some(true));
    }

    #[test]
    fn writes_the_generated_config_with_overrides_merged() {
        let dir = tempfile::tempdir().unwrap();
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo/proxy.toml");
        let origin: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let over: toml::Table = toml::from_str("[upstream]\nconnect_timeout = \"1s\"\n").unwrap();
        let spec = ConfigSpec {
            base_config: &base,
            dir: dir.path(),
            origin,
            redis_url: None,
            overrides: Some(&over),
        };
        let written = write_config(&spec).unwrap();
        assert_eq!(written.path, dir.path().join("proxy.toml"));
        assert_ne!(written.listen, written.admin);
        let doc: toml::Table =
            toml::from_str(&std::fs::read_to_string(&written.path).unwrap()).unwrap();
        assert_eq!(doc["upstream"]["connect_timeout"].as_str(), Some("1s"));
        assert_eq!(
            doc["server"]["listen"].as_str(),
            Some(written.listen.to_string().as_str())
        );
        // Without overrides the generated text is written as it is.
        let plain = write_config(&ConfigSpec {
            overrides: None,
            ..spec
        })
        .unwrap();
        let doc: toml::Table =
            toml::from_str(&std::fs::read_to_string(&plain.path).unwrap()).unwrap();
        assert_ne!(doc["upstream"]["connect_timeout"].as_str(), Some("1s"));
    }
}
