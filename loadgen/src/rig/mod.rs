//! The rig beneath every command: the parts a run starts and how they are stopped.
//!
//! `run`, `attack`'s harness, `faults`, `capacity`, the appliance run, the instruction pass
//! and the parity rig all start a test origin, maybe a `redis-server`, and the
//! `filter-proxy` binary on a config generated into a fresh run directory, and must stop
//! every one of them on success, error, panic, Ctrl-C or SIGTERM. They do it here, the one
//! way, so they measure a proxy configured and started alike and cannot drift apart.
//!
//! # Layout
//! - this file: [`Rig`], the origin + Redis + proxy started together (and Redis killed and
//!   restarted for fault runs).
//! - [`children`]: child processes held by guards that kill them by pid when dropped.
//! - [`signal`]: the shutdown signal (Ctrl-C and SIGTERM) every command selects on.
//! - [`paths`]: the checkout, the proxy binary, the demo config, a fresh run directory.
//! - [`files`]: atomic writes of what the rig generates.
//! - [`launch`]: the run's proxy config written, the proxy started and waited for.
//! - [`config_gen`]: the generated proxy config (fresh ports, the origin, Redis).
//! - [`origin`]: the test origin on its own threads.
//! - [`redis`]: `redis-server` started on a free port, pinged, found on the PATH.
//! - [`admin`]: the proxy's admin port (readiness, metrics, jemalloc counters).
//! - [`perf`]: CPU profiles of the proxy (perf with kernel stacks, pprof as the fallback).
//! - [`pin`]: CPU placement (`taskset`); [`cpu_quota`]: a cgroup CPU quota on the proxy.
//! - [`sample`]: `/proc` readings of a process (CPU, RSS, fds, state).
//! - [`error`]: the rig's error type.
//!
//! Nothing here imports a command module; the commands sit above and never reach into
//! each other.

pub mod admin;
pub mod children;
pub mod config_gen;
pub mod cpu_quota;
pub mod error;
pub mod files;
pub mod launch;
pub mod origin;
pub mod paths;
pub mod perf;
pub mod pin;
pub mod prometheus;
pub mod redis;
pub mod sample;
pub mod signal;

pub use error::RigError;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use self::admin::AdminClient;
use self::children::ChildGuard;
use self::launch::ConfigSpec;
use self::origin::{Origin, OriginAddrs};
use self::redis::RedisServer;

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
    /// CPUs for the origin and Redis (`None`: not pinned).
    pub loadgen_cpus: Option<Vec<usize>>,
    /// Origin worker threads.
    pub origin_threads: usize,
    /// Seed Redis with the demo data (through `filter-proxy seed-redis`) before the
    /// proxy starts.
    pub seed_redis: bool,
    /// Longest wait for the proxy's `/readyz`.
    pub ready_timeout: Duration,
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
    /// Starts origin, redis (if asked, seeded if asked) and the proxy, and waits for
    /// `/readyz`. What started before a failure is stopped when the error returns.
    pub async fn start(spec: &RigSpec) -> Result<Rig, RigError> {
        std::fs::create_dir_all(&spec.run_dir).map_err(|source| RigError::Io {
            what: format!("create {}", spec.run_dir.display()),
            cause: source,
        })?;
        let proxy_bin = paths::proxy_bin(Some(&spec.proxy_bin))?;
        let origin = Origin::start(&spec.run_dir, spec.origin_threads)?;
        let redis = match &spec.redis_bin {
            Some(bin) => Some(redis::start(
                bin,
                spec.loadgen_cpus.as_deref(),
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
        if redis.is_some() && spec.seed_redis {
            seed_redis(&proxy_bin, &config.path, &spec.run_dir).await?;
        }
        let (proxy, admin) = launch::start_proxy(
            &proxy_bin,
            &config,
            spec.proxy_cpus.as_deref(),
            spec.run_dir.join("proxy.log"),
            spec.ready_timeout,
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

    /// The Redis URL the proxy was configured with, while Redis runs.
    pub fn redis_url(&self) -> Option<String> {
        self.redis.as_ref().map(RedisServer::url)
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
    pub async fn restart_redis(&mut self) -> Result<(), RigError> {
        let (Some(bin), Some(addr)) = (&self.redis_bin, self.redis_addr) else {
            return Ok(());
        };
        if self.redis.is_some() {
            return Ok(());
        }
        let path = redis::find_program(bin).ok_or_else(|| RigError::MissingProgram {
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
                return Err(RigError::NotReady {
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

/// Seeds the Redis store with the demo data through the proxy binary.
/// Seeds Redis with the demo data through `filter-proxy seed-redis` on `config`.
pub async fn seed_redis(
    proxy_bin: &std::path::Path,
    config: &std::path::Path,
    run_dir: &std::path::Path,
) -> Result<(), RigError> {
    let mut cmd = std::process::Command::new(proxy_bin);
    cmd.arg("seed-redis").arg("--config").arg(config);
    children::run_to_end(
        "filter-proxy seed-redis",
        cmd,
        run_dir.join("seed-redis.log"),
        Duration::from_secs(120),
    )
    .await
}
