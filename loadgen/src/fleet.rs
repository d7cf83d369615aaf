//! `loadgen fleet`: a distributed run on one machine, the proof that segments and the
//! merge measure what one process would.
//!
//! Starts the rig once (origin and proxy, the proxy on its own core when there are two),
//! then N `loadgen attack --driver open-loop --segment I/N --start-at T` worker processes
//! against that one proxy, each into `OUT/worker-I/`, all waiting for the same start; then
//! (unless `--no-single`) one `loadgen attack` process at the same total rate into
//! `OUT/single/`. `perf-report merge OUT/merged OUT/worker-* --compare OUT/single` then
//! merges the workers and compares. Every child is held by a guard that kills it by pid
//! on error, panic, Ctrl-C or SIGTERM; each has a deadline.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::rig::children::{self, ChildGuard};
use crate::rig::origin::Origin;
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, pin, Rig, RigError, RigSpec};

/// Arguments of `loadgen fleet`.
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Load profile (TOML); its mix's allowed browsing is what the open-loop driver sends.
    #[arg(long)]
    pub profile: PathBuf,
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    pub workers: u32,
    /// Total open-loop rate, requests per second (split over the workers).
    #[arg(long)]
    pub rate: f64,
    /// Total connections (split over the workers; default: the profile's users).
    #[arg(long)]
    pub users: Option<u64>,
    /// Length of each run (`60s`, `2m`; default: the profile's).
    #[arg(long)]
    pub duration: Option<String>,
    /// Seconds from launching the workers to their shared start (their set-up time).
    #[arg(long, default_value_t = 5)]
    pub start_delay: u64,
    /// Skip the single-process run at the same total rate.
    #[arg(long)]
    pub no_single: bool,
    /// The proxy binary (default: beside this executable).
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// Directory to write (must be new or empty).
    #[arg(long)]
    pub out: PathBuf,
}

/// What a fleet run left.
#[derive(Debug)]
pub struct FleetOutcome {
    /// The directory holding everything.
    pub run_dir: PathBuf,
    /// The workers' run directories.
    pub workers: Vec<PathBuf>,
    /// Workers that failed, with why (their directories may be partial or missing).
    pub failed: Vec<String>,
    /// The single process's run directory, when run.
    pub single: Option<PathBuf>,
}

impl FleetOutcome {
    /// What to print: where things are and the merge command.
    pub fn report(&self) -> String {
        let mut text = format!("fleet run in {}\n", self.run_dir.display());
        for f in &self.failed {
            text.push_str(&format!("  worker failed: {f}\n"));
        }
        let dirs: Vec<String> = self
            .workers
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        text.push_str(&format!(
            "merge with: perf-report merge {} {}{}\n",
            self.run_dir.join("merged").display(),
            dirs.join(" "),
            self.single
                .as_ref()
                .map(|s| format!(" --compare {}", s.display()))
                .unwrap_or_default()
        ));
        text
    }
}

/// An attack command for one process (a worker when `segment` is given).
fn attack_command(
    args: &FleetArgs,
    profile: &Path,
    cpus: Option<&[usize]>,
    origin: &Origin,
    proxy: std::net::SocketAddr,
    out: &Path,
    segment: Option<(&str, &str)>,
) -> Result<Command, RigError> {
    let exe = std::env::current_exe().map_err(|cause| RigError::Io {
        what: "locate the loadgen binary".into(),
        cause,
    })?;
    let mut cmd = pin::command(exe.as_os_str(), cpus);
    cmd.arg("attack")
        .arg("--driver")
        .arg("open-loop")
        .arg("--quiet")
        .arg("--profile")
        .arg(profile)
        .arg("--proxy")
        .arg(proxy.to_string())
        .arg("--rate")
        .arg(args.rate.to_string())
        .arg("--out")
        .arg(out);
    cmd.args(origin.attack_args());
    if let Some(users) = args.users {
        cmd.arg("--users").arg(users.to_string());
    }
    if let Some(d) = &args.duration {
        cmd.arg("--duration").arg(d);
    }
    if let Some((segment, start_at)) = segment {
        cmd.arg("--segment")
            .arg(segment)
            .arg("--start-at")
            .arg(start_at);
    }
    Ok(cmd)
}

/// Runs the fleet and, unless asked not to, the single process.
pub async fn run(args: &FleetArgs) -> Result<FleetOutcome, RigError> {
    if args.workers == 0 || args.start_delay < 2 {
        return Err(RigError::Config {
            detail: "--workers must be at least 1 and --start-delay at least 2 s".into(),
        });
    }
    let profile = crate::rig::paths::canonical_profile(&args.profile)?;
    let loaded = crate::profile::Profile::load(&profile).map_err(|e| RigError::Config {
        detail: e.to_string(),
    })?;
    let duration = match &args.duration {
        Some(d) => crate::units::parse_duration(d).map_err(|detail| RigError::Config { detail })?,
        None => loaded.duration,
    };
    let repo = paths::repo_dir_of(&profile);
    let run_dir = paths::fresh_run_dir(Some(&args.out), &repo, "fleet", "")?;
    std::fs::create_dir_all(&run_dir).map_err(|cause| RigError::Io {
        what: format!("create {}", run_dir.display()),
        cause,
    })?;
    let placement = pin::plan(&pin::allowed_cpus()).filter(|_| pin::taskset_available());
    let rig = Rig::start(&RigSpec {
        run_dir: run_dir.join("rig"),
        proxy_bin: args
            .proxy_bin
            .clone()
            .unwrap_or_else(paths::default_proxy_bin),
        base_config: paths::base_config(None, &repo),
        redis_bin: None,
        overrides: toml::Table::new(),
        proxy_cpus: placement.as_ref().map(|p| p.proxy_cpus.clone()),
        loadgen_cpus: placement.as_ref().map(|p| p.loadgen_cpus.clone()),
        origin_threads: 1,
        seed_redis: false,
        ready_timeout: Duration::from_secs(30),
    })
    .await?;
    let cpus = placement.as_ref().map(|p| p.loadgen_cpus.as_slice());
    // A bound on every child: set-up, the run, its drain (a tenth of it, at least 2 s)
    // and writing the run directory.
    let limit =
        Duration::from_secs(args.start_delay) + duration + duration / 10 + Duration::from_secs(60);

    let work = async {
        let start_at =
            rundir::time::rfc3339(SystemTime::now() + Duration::from_secs(args.start_delay));
        let mut guards = Vec::new();
        let mut workers = Vec::new();
        for i in 1..=args.workers {
            let out = run_dir.join(format!("worker-{i}"));
            let segment = format!("{i}/{}", args.workers);
            let cmd = attack_command(
                args,
                &profile,
                cpus,
                &rig.origin,
                rig.listen,
                &out,
                Some((&segment, &start_at)),
            )?;
            let log = run_dir.join(format!("worker-{i}.log"));
            guards.push(ChildGuard::spawn(
                &format!("worker {segment}"),
                cmd,
                Some(log),
            )?);
            workers.push(out);
        }
        let deadline = Instant::now() + limit;
        let mut failed = Vec::new();
        let mut pending: Vec<ChildGuard> = guards;
        while !pending.is_empty() {
            let mut still = Vec::new();
            for mut g in pending {
                match g.try_exit_status() {
                    Some(s) if s.success() => {}
                    Some(s) => failed.push(format!(
                        "{} exited with {s}: {}",
                        g.name(),
                        g.stderr_tail(2000)
                    )),
                    None if Instant::now() >= deadline => {
                        failed.push(format!(
                            "{} ran past {} s and was killed",
                            g.name(),
                            limit.as_secs()
                        ));
                    }
                    None => still.push(g),
                }
            }
            pending = still;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let single = if args.no_single {
            None
        } else {
            let out = run_dir.join("single");
            let cmd = attack_command(args, &profile, cpus, &rig.origin, rig.listen, &out, None)?;
            children::run_to_end("single", cmd, run_dir.join("single.log"), limit).await?;
            Some(out)
        };
        Ok::<_, RigError>(FleetOutcome {
            run_dir: run_dir.clone(),
            workers,
            failed,
            single,
        })
    };
    let outcome = until_shutdown(work).await.ok_or_else(|| RigError::Config {
        detail: "interrupted: every process started was stopped".into(),
    })?;
    drop(rig);
    outcome
}
