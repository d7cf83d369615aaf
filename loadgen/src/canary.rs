//! `loadgen canary`: one canary session on one machine, judged as production is.
//!
//! Starts the test origin, a control proxy and a canary proxy (two binaries, e.g. the
//! baseline's commit and the work tree, or one binary twice for A/A; the canary may get
//! the self-test slowdown in its environment), and a real Prometheus scraping both every
//! second. One school-day load is split between them by user, the way a load balancer
//! spreads clients: two `loadgen attack --segment 1/2, 2/2` workers with one shared start,
//! each browsing as its own slice of the shuffled roster and sending to its own proxy.
//! When the steady window is over, `perf-report canary` judges it through the Prometheus
//! HTTP API (`--end`, `--window`), exactly the call an on-call engineer makes during an
//! instance refresh; its exit code is the session's.
//!
//! Every child is held by a guard that stops it by pid on error, panic, Ctrl-C or SIGTERM,
//! and every wait has a deadline.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rig::children::ChildGuard;
use crate::rig::launch::{self, ConfigSpec};
use crate::rig::origin::Origin;
use crate::rig::prometheus;
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, RigError};

/// Arguments of `loadgen canary`.
#[derive(Debug, Clone, clap::Args)]
pub struct CanaryArgs {
    /// Load profile (TOML): its mix, users and target rate are split between the sides.
    #[arg(long, default_value = "profiles/ci.toml")]
    pub profile: PathBuf,
    /// The control's proxy binary (default: beside this executable).
    #[arg(long)]
    pub control_bin: Option<PathBuf>,
    /// The canary's proxy binary (default: the control's).
    #[arg(long)]
    pub canary_bin: Option<PathBuf>,
    /// `NAME=VALUE` set in the canary proxy's environment only (repeatable), e.g.
    /// `FILTER_PROXY_SELFTEST_BURN_US=50`.
    #[arg(long = "canary-env")]
    pub canary_env: Vec<String>,
    /// Seconds judged, after the profile's warm-up.
    #[arg(long, default_value_t = 40)]
    pub window: u64,
    /// Seconds per judged interval (at least 2: Prometheus scrapes every second).
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    /// Both proxies look users and policies up in a real Redis (seeded with the demo
    /// data, `fail_mode = "open"`) instead of the config's files.
    #[arg(long)]
    pub redis: bool,
    /// With `--redis`: the canary's Redis is unreachable (its URL names a closed port), so
    /// every lookup it makes fails open, serving unfiltered: the judge must catch it.
    #[arg(long, requires = "redis")]
    pub canary_store_down: bool,
    /// Gates file with the `[canary]` section.
    #[arg(long, default_value = "baselines/gates.toml")]
    pub gates: PathBuf,
    /// The Prometheus server binary.
    #[arg(long, default_value = "prometheus")]
    pub prometheus: PathBuf,
    /// The judge (`perf-report`; default: beside this executable).
    #[arg(long)]
    pub perf_report: Option<PathBuf>,
    /// Directory to write (must be new or empty): the proxies' logs, the workers' run
    /// directories, Prometheus' config, and the judge's canary.json and canary.md.
    #[arg(long)]
    pub out: PathBuf,
}

/// What a session left.
#[derive(Debug)]
pub struct CanarySession {
    /// The session directory.
    pub dir: PathBuf,
    /// The judge's exit code: 0 pass, 1 rollback, 3 hotfix, 2 not judged.
    pub verdict_code: i32,
    /// The judge's report (`canary.md`).
    pub report: PathBuf,
}

/// Seconds from launching the workers to their shared start (their set-up time).
const START_DELAY: Duration = Duration::from_secs(5);
/// After the window, the scrapes that close its last interval.
const SCRAPE_LAG: Duration = Duration::from_secs(3);
/// The load runs this long past the window, so the last scrapes still see traffic.
const LOAD_TAIL: Duration = Duration::from_secs(5);

fn parse_env(items: &[String]) -> Result<Vec<(String, String)>, RigError> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(RigError::Config {
                detail: format!("--canary-env {item:?}: expected NAME=VALUE"),
            }),
        })
        .collect()
}

/// Runs one session.
pub async fn run(args: &CanaryArgs) -> Result<CanarySession, RigError> {
    if args.interval < 2.0 || args.window < 8 || (args.window as f64) < 4.0 * args.interval {
        return Err(RigError::Config {
            detail: "--interval must be at least 2 s and --window at least 8 s and 4 intervals"
                .into(),
        });
    }
    let canary_env = parse_env(&args.canary_env)?;
    let profile = paths::canonical_profile(&args.profile)?;
    let loaded = crate::profile::Profile::load(&profile).map_err(|e| RigError::Config {
        detail: e.to_string(),
    })?;
    let repo = paths::repo_dir_of(&profile);
    let dir = paths::fresh_run_dir(Some(&args.out), &repo, "canary", "")?;
    let control_bin = paths::proxy_bin(args.control_bin.as_deref())?;
    let canary_bin = match &args.canary_bin {
        Some(bin) => paths::proxy_bin(Some(bin))?,
        None => control_bin.clone(),
    };
    let judge_bin = match &args.perf_report {
        Some(bin) => bin.clone(),
        None => paths::beside_exe("perf-report")?,
    };
    let gates = std::fs::canonicalize(&args.gates).map_err(|cause| RigError::Io {
        what: format!("read {}", args.gates.display()),
        cause,
    })?;

    let origin = Origin::start(&dir.join("origin"), 1)?;
    let base_config = paths::base_config(None, &repo);
    let redis = if args.redis {
        Some(crate::rig::redis::start(
            std::path::Path::new("redis-server"),
            None,
            dir.join("redis.log"),
            Duration::from_secs(10),
        )?)
    } else {
        None
    };
    let redis_url = redis.as_ref().map(crate::rig::redis::RedisServer::url);
    // A port bound and released: nothing listens there, every connection is refused.
    let dead_url = format!("redis://{}", crate::rig::redis::free_local_addr()?);
    let fail_open: toml::Table =
        toml::from_str("[store.redis]\nfail_mode = \"open\"\n").expect("a constant table");
    let mut sides = Vec::new();
    for (name, bin, env) in [
        ("control", &control_bin, &[][..]),
        ("canary", &canary_bin, &canary_env[..]),
    ] {
        let url = match (&redis_url, name) {
            (Some(_), "canary") if args.canary_store_down => Some(dead_url.as_str()),
            (url, _) => url.as_deref(),
        };
        let side_dir = dir.join(name);
        std::fs::create_dir_all(&side_dir).map_err(|cause| RigError::Io {
            what: format!("create {}", side_dir.display()),
            cause,
        })?;
        let config = launch::write_config(&ConfigSpec {
            base_config: &base_config,
            dir: &side_dir,
            origin: origin.addr(),
            redis_url: url,
            overrides: url.map(|_| &fail_open),
        })?;
        if name == "control" && redis.is_some() {
            crate::rig::seed_redis(bin, &config.path, &side_dir).await?;
        }
        let (guard, _admin) = launch::start_proxy_with_env(
            bin,
            &config,
            None,
            side_dir.join("proxy.log"),
            Duration::from_secs(30),
            env,
        )
        .await?;
        sides.push((name, config, guard));
    }
    let jobs: Vec<(&str, std::net::SocketAddr)> =
        sides.iter().map(|(n, c, _)| (*n, c.admin)).collect();
    let prom = prometheus::start(
        &args.prometheus,
        &dir.join("prometheus"),
        &jobs,
        Duration::from_secs(30),
    )
    .await?;

    let warmup = loaded.warmup;
    let window = Duration::from_secs(args.window);
    let duration = warmup + window + LOAD_TAIL;
    let start = SystemTime::now() + START_DELAY;
    let start_at = rundir::time::rfc3339(start);
    let exe = paths::beside_exe("loadgen")?;
    let mut workers = Vec::new();
    for (i, (name, config, _)) in sides.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        cmd.arg("attack")
            .arg("--quiet")
            .arg("--profile")
            .arg(&profile)
            .arg("--proxy")
            .arg(config.listen.to_string())
            .arg("--duration")
            .arg(format!("{}s", duration.as_secs()))
            .arg("--segment")
            .arg(format!("{}/2", i + 1))
            .arg("--start-at")
            .arg(&start_at)
            .arg("--out")
            .arg(dir.join(format!("load-{name}")))
            .args(origin.attack_args());
        workers.push(ChildGuard::spawn(
            &format!("load to the {name}"),
            cmd,
            Some(dir.join(format!("load-{name}.log"))),
        )?);
    }

    let work = async {
        // The judged window: the steady part of the shared run.
        let window_end = start + warmup + window;
        let judge_at = window_end + SCRAPE_LAG;
        if let Ok(wait) = judge_at.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
        for w in &mut workers {
            if let Some(status) = w.try_exit_status() {
                return Err(RigError::ChildFailed {
                    name: w.name().to_owned(),
                    status: format!("{status} before the window ended"),
                    stderr: w.stderr_tail(2000),
                });
            }
        }
        let end_s = window_end
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let judge_dir = dir.join("judge");
        let mut cmd = Command::new(&judge_bin);
        cmd.arg("canary")
            .arg("--gates")
            .arg(&gates)
            .arg("--prometheus")
            .arg(prom.url())
            .args(["--control", r#"job="control""#])
            .args(["--canary", r#"job="canary""#])
            .arg("--window")
            .arg(args.window.to_string())
            .arg("--interval")
            .arg(args.interval.to_string())
            .arg("--end")
            .arg(end_s.to_string())
            .arg("--out")
            .arg(&judge_dir);
        let mut judge = ChildGuard::spawn("perf-report canary", cmd, Some(dir.join("judge.log")))?;
        let status = wait_child(&mut judge, Duration::from_secs(120))
            .await
            .ok_or_else(|| RigError::ChildFailed {
                name: "perf-report canary".into(),
                status: "no verdict within 120 s (killed)".into(),
                stderr: judge.stderr_tail(2000),
            })?;
        let code = status.code().unwrap_or(2);
        // The load ends by itself shortly after; wait for it (bounded) so the workers'
        // run directories are whole.
        let deadline = Instant::now() + duration + Duration::from_secs(60);
        for w in &mut workers {
            let left = deadline.saturating_duration_since(Instant::now());
            if wait_child(w, left).await.is_none() {
                w.stop();
            }
        }
        Ok(CanarySession {
            dir: dir.clone(),
            verdict_code: code,
            report: judge_dir.join("canary.md"),
        })
    };
    let outcome = until_shutdown(work).await.ok_or_else(|| RigError::Config {
        detail: "interrupted: every process started was stopped".into(),
    })?;
    drop(prom);
    drop(sides);
    drop(redis);
    drop(origin);
    outcome
}

/// Waits for a child without blocking the runtime (so Ctrl-C still stops everything);
/// `None` when it outlives `limit`.
async fn wait_child(child: &mut ChildGuard, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_exit_status() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_env_is_name_equals_value() {
        let env = parse_env(&["FILTER_PROXY_SELFTEST_BURN_US=50".into()]).unwrap();
        assert_eq!(env, [("FILTER_PROXY_SELFTEST_BURN_US".into(), "50".into())]);
        assert!(parse_env(&["=1".into()]).is_err());
        assert!(parse_env(&["NOVALUE".into()]).is_err());
    }
}
