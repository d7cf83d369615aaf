//! The parts a fault or capacity run starts: the test origin (its own threads), an
//! optional `redis-server`, and the `filter-proxy` binary with a generated config.
//!
//! Built from the harness's pieces (config generation, child guards, redis start) so
//! these runs measure the proxy the same way `loadgen run` does; what is added here is
//! what faults need: settings merged over the config (short timeouts, a cache that
//! does not hide Redis), and restarting Redis on the same port after killing it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::attack::OriginAddrs;
use crate::harness::admin::{wait_ready, AdminClient};
use crate::harness::children::ChildGuard;
use crate::harness::config_gen::{self, ProxyConfigSpec};
use crate::harness::origin::Origin;
use crate::harness::redis::{self, free_local_addr, RedisServer};
use crate::harness::{pin, rundir, HarnessError};

/// What to start.
#[derive(Debug, Clone)]
pub struct RigSpec {
    /// Directory for the config, logs and the origin's CA.
    pub run_dir: PathBuf,
    /// The `filter-proxy` binary.
    pub proxy_bin: PathBuf,
    /// The config the run's config is generated from (the demo config).
    pub base_config: PathBuf,
    /// `redis-server` to start, when the proxy uses the Redis store.
    pub redis_bin: Option<PathBuf>,
    /// Settings merged over the generated config.
    pub overrides: toml::Table,
    /// CPUs for the proxy (`None`: not pinned).
    pub proxy_cpus: Option<Vec<usize>>,
    /// Origin worker threads.
    pub origin_threads: usize,
}

/// The running parts; every process dies when this is dropped.
#[derive(Debug)]
pub struct Rig {
    /// The test origin.
    pub origin: Origin,
    /// Redis, when started.
    pub redis: Option<RedisServer>,
    /// The proxy process.
    pub proxy: ChildGuard,
    /// The proxy's client-facing address.
    pub listen: SocketAddr,
    /// The proxy's admin client.
    pub admin: AdminClient,
    /// The generated proxy config.
    pub config_path: PathBuf,
    redis_bin: Option<PathBuf>,
    redis_addr: Option<SocketAddr>,
    run_dir: PathBuf,
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

impl Rig {
    /// Starts origin, redis (if asked) and the proxy, and waits for `/readyz`.
    pub async fn start(spec: &RigSpec) -> Result<Rig, HarnessError> {
        std::fs::create_dir_all(&spec.run_dir).map_err(|source| HarnessError::Io {
            what: format!("create {}", spec.run_dir.display()),
            source,
        })?;
        if !spec.proxy_bin.is_file() {
            return Err(HarnessError::MissingProgram {
                program: spec.proxy_bin.display().to_string(),
                hint: "build it first: cargo build --release -p filter-proxy (or pass --proxy-bin)"
                    .into(),
            });
        }
        let origin = Origin::start(&spec.run_dir, spec.origin_threads)?;
        let redis = match &spec.redis_bin {
            Some(bin) => Some(redis::start(
                bin,
                None,
                spec.run_dir.join("redis.log"),
                Duration::from_secs(10),
            )?),
            None => None,
        };
        let listen = free_local_addr()?;
        let admin_addr = free_local_addr()?;
        let base_text =
            std::fs::read_to_string(&spec.base_config).map_err(|source| HarnessError::Io {
                what: format!("read the proxy config {}", spec.base_config.display()),
                source,
            })?;
        let base_dir = spec.base_config.parent().unwrap_or(Path::new("."));
        let text = config_gen::generate(
            &base_text,
            base_dir,
            &ProxyConfigSpec {
                listen,
                admin_listen: admin_addr,
                origin: origin.addr(),
                redis_url: redis.as_ref().map(RedisServer::url),
            },
        )?;
        let mut doc: toml::Table = toml::from_str(&text).map_err(|e| HarnessError::Config {
            detail: format!("generated proxy config does not parse: {e}"),
        })?;
        merge_tables(&mut doc, &spec.overrides);
        let config_path = spec.run_dir.join("proxy.toml");
        let text = toml::to_string_pretty(&doc).expect("a TOML table always serialises");
        rundir::write_atomic(&config_path, text.as_bytes())?;
        let mut cmd = pin::command(spec.proxy_bin.as_os_str(), spec.proxy_cpus.as_deref());
        cmd.arg("--config").arg(&config_path);
        let mut proxy =
            ChildGuard::spawn("filter-proxy", cmd, Some(spec.run_dir.join("proxy.log")))?;
        let admin = AdminClient::new(admin_addr)?;
        wait_ready(&admin, &mut proxy, Duration::from_secs(30)).await?;
        Ok(Rig {
            origin,
            redis,
            proxy,
            listen,
            admin,
            config_path,
            redis_bin: spec.redis_bin.clone(),
            redis_addr: None,
            run_dir: spec.run_dir.clone(),
        })
    }

    /// Where the origin is, for the attack drivers.
    pub fn origin_addrs(&self) -> OriginAddrs {
        OriginAddrs {
            http: self.origin.addr(),
            https: None,
            ca: self.run_dir.join("origin-ca.pem"),
        }
    }

    /// The proxy's pid.
    pub fn proxy_pid(&self) -> u32 {
        self.proxy.pid()
    }

    /// Kills Redis (SIGKILL by pid); [`Rig::restart_redis`] brings it back on the same
    /// port. Returns whether a Redis was running.
    pub fn kill_redis(&mut self) -> bool {
        match self.redis.take() {
            Some(redis) => {
                self.redis_addr = Some(redis.addr);
                redis.child.kill();
                true
            }
            None => false,
        }
    }

    /// Starts Redis again on the port it had, so the proxy's reconnects find it.
    pub async fn restart_redis(&mut self) -> Result<(), HarnessError> {
        let (Some(bin), Some(addr)) = (&self.redis_bin, self.redis_addr) else {
            return Ok(());
        };
        if self.redis.is_some() {
            return Ok(());
        }
        let path = redis::find_program(bin).ok_or_else(|| HarnessError::MissingProgram {
            program: bin.display().to_string(),
            hint: format!("install the Debian package `{}`", redis::REDIS_PACKAGE),
        })?;
        let mut cmd = std::process::Command::new(path);
        cmd.args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no"]);
        let log = self.run_dir.join("redis-restarted.log");
        let mut child = ChildGuard::spawn("redis-server", cmd, Some(log))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis::ping(addr) {
            if child.try_exit_status().is_some() || Instant::now() >= deadline {
                return Err(HarnessError::NotReady {
                    name: "redis-server (restart)".into(),
                    waited_s: 10,
                    stderr: child.stderr_tail(2000),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.redis = Some(RedisServer { child, addr });
        Ok(())
    }
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
}
