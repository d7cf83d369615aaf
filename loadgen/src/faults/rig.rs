//! The parts a fault or capacity run starts: the test origin (its own threads), an
//! optional `redis-server`, and the `filter-proxy` binary with a generated config.
//!
//! Built from the harness's pieces (the proxy launch of [`crate::harness::launch`],
//! child guards, redis start) so these runs measure the proxy the same way `loadgen
//! run` does; what is added here is
//! what faults need: settings merged over the config (short timeouts, a cache that
//! does not hide Redis), and restarting Redis on the same port after killing it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::attack::OriginAddrs;
use crate::harness::admin::AdminClient;
use crate::harness::children::ChildGuard;
use crate::harness::launch::{self, ConfigSpec};
use crate::harness::origin::Origin;
use crate::harness::redis::{self, RedisServer};
use crate::harness::HarnessError;

pub use crate::harness::launch::merge_tables;

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
        let redis_url = redis.as_ref().map(RedisServer::url);
        let config = launch::write_config(&ConfigSpec {
            base_config: &spec.base_config,
            dir: &spec.run_dir,
            origin: origin.addr(),
            redis_url: redis_url.as_deref(),
            overrides: Some(&spec.overrides),
        })?;
        let (proxy, admin) = launch::start_proxy(
            &spec.proxy_bin,
            &config,
            spec.proxy_cpus.as_deref(),
            spec.run_dir.join("proxy.log"),
            Duration::from_secs(30),
        )
        .await?;
        Ok(Rig {
            origin,
            redis,
            proxy,
            listen: config.listen,
            admin,
            config_path: config.path,
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
