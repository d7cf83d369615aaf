//! Fault runs (`loadgen faults --profile profiles/faults-*.toml`): background traffic
//! through the real proxy while a timeline of faults is injected into the real parts
//! (Redis paused or killed, the origin slowed or resetting, slowloris clients), each
//! fault judged against the behaviour it states.
//!
//! Why: production proxies die of slow dependencies and hostile clients, not of clean
//! load; each profile encodes what "survives" means for one such risk and fails the
//! run by itself (exit 1) when the proxy does not.
//!
//! Modules: [`spec`] (the profile file), [`expect`] (what a fault expects), [`crate::rig`]
//! (origin, redis, proxy), [`traffic`] (open-loop requests kept as events), [`inject`]
//! (the injectors), [`slowloris`], [`watch`] (metrics and fds every 100 ms), [`verdict`],
//! [`report`].

pub mod expect;
pub mod inject;
pub mod report;
pub mod slowloris;
pub mod spec;
pub mod traffic;
pub mod verdict;
pub mod watch;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::corpus::{Addressing, Corpus};
use crate::harness::provenance;
use crate::judged::Judged;
use crate::mix::Mix;
use crate::profile::Profile;
use crate::rig::signal::until_shutdown;
use crate::rig::RigError;
use crate::roster::Roster;

use self::spec::{FaultProfile, SpecError};
use self::verdict::FaultResult;
use crate::rig::{paths, Rig, RigSpec};

/// Arguments of `loadgen faults`.
#[derive(Debug, Clone, clap::Args)]
pub struct FaultArgs {
    /// Fault profile (TOML), e.g. `profiles/faults-redis-slow.toml`.
    #[arg(long)]
    pub profile: PathBuf,
    /// Run directory; default `runs/faults-<name>-<UTC time>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Shorten the run to this many seconds (the timeline scales with it).
    #[arg(long)]
    pub duration: Option<f64>,
    /// The `filter-proxy` binary; default: beside this binary.
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// The proxy config the run's config is generated from; default
    /// `scenarios/demo/proxy.toml` in the checkout.
    #[arg(long)]
    pub proxy_config: Option<PathBuf>,
    /// `redis-server` binary.
    #[arg(long, default_value = "redis-server")]
    pub redis_bin: PathBuf,
}

/// Why a fault run could not be made (as opposed to: it ran and failed).
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// The profile is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Starting or stopping a part failed.
    #[error(transparent)]
    Harness(#[from] RigError),
    /// A fault could not be injected.
    #[error(transparent)]
    Inject(#[from] inject::InjectError),
    /// The background traffic could not be sent.
    #[error(transparent)]
    Traffic(#[from] traffic::TrafficError),
    /// Ctrl-C or SIGTERM came first; everything the run started was stopped.
    #[error("interrupted; every process it started is stopped")]
    Interrupted,
    /// Anything else in setting up (mix, corpus, roster).
    #[error("{0}")]
    Setup(String),
}

/// What a fault run produced.
#[derive(Debug, Clone)]
pub struct FaultOutcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Whether every expectation held and the proxy survived.
    pub held: bool,
    /// Per-fault results.
    pub results: Vec<FaultResult>,
    /// Run-level facts.
    pub facts: report::RunFacts,
}

pub use crate::rig::paths::{default_proxy_bin, repo_dir_of};

/// The allowed-browsing corpus and one user's credentials from a load profile's mix.
pub fn load_traffic_source(
    load_profile: &Path,
) -> Result<(Corpus, http::HeaderValue, Duration), FaultError> {
    let setup = |e: String| FaultError::Setup(e);
    let profile = Profile::load(load_profile).map_err(|e| setup(e.to_string()))?;
    let mix = Mix::load(&profile.scenario_mix).map_err(|e| setup(e.to_string()))?;
    let corpus = Corpus::build(&mix, Addressing::Proxy).map_err(|e| setup(e.to_string()))?;
    let roster = Roster::load(&mix.roster, mix.roster_seed).map_err(|e| setup(e.to_string()))?;
    if roster.is_empty() {
        return Err(setup("the scenario mix's roster is empty".into()));
    }
    let auth = roster.get(0).proxy_authorization.clone();
    Ok((corpus, auth, mix.request_timeout))
}

/// Runs a fault profile and writes its run directory; `Ok` also when expectations
/// failed (see [`FaultOutcome::held`]).
pub async fn execute(args: &FaultArgs) -> Result<FaultOutcome, FaultError> {
    let mut profile = FaultProfile::load(&args.profile)?;
    if let Some(s) = args.duration.filter(|s| *s > 0.0) {
        profile = profile.shortened(Duration::from_secs_f64(s));
    }
    let (corpus, auth, request_timeout) = load_traffic_source(&profile.load_profile)?;
    let profile_path = std::fs::canonicalize(&args.profile).unwrap_or(args.profile.clone());
    let repo = repo_dir_of(&profile_path);
    let run_dir = paths::fresh_run_dir(
        args.out.as_deref(),
        &repo,
        &format!("faults-{}", profile.name),
        &provenance::compact_timestamp(SystemTime::now()),
    )?;
    let started_at = provenance::rfc3339(SystemTime::now());
    let mut rig = Rig::start(&RigSpec {
        run_dir: run_dir.clone(),
        proxy_bin: args.proxy_bin.clone().unwrap_or_else(default_proxy_bin),
        base_config: paths::base_config(args.proxy_config.as_deref(), &repo),
        redis_bin: profile.redis.then(|| args.redis_bin.clone()),
        overrides: profile.proxy.clone(),
        proxy_cpus: None,
        loadgen_cpus: None,
        origin_threads: 2,
        seed_redis: false,
        ready_timeout: Duration::from_secs(30),
    })
    .await?;
    let origin = inject::OriginControl::new(rig.origin.addr())?;
    let pid = rig.proxy_pid();
    let start = Instant::now() + Duration::from_millis(300);
    let end = start + profile.duration;
    let traffic = tokio::spawn(traffic::run(
        traffic::TrafficPlan {
            proxy: rig.listen,
            corpus,
            auth,
            rate: profile.rate,
            connections: profile.connections,
            duration: profile.duration,
            request_timeout,
        },
        start,
    ));
    let watcher = tokio::spawn(watch::watch(rig.admin.clone(), pid, start, end));
    let timeline = async {
        let mut slow = Vec::new();
        for fault in &profile.faults {
            tokio::time::sleep_until((start + fault.start).into()).await;
            let ends = start + fault.end();
            let active = inject::begin(fault, &mut rig, &origin, ends).await?;
            tokio::time::sleep_until(ends.into()).await;
            slow.push(inject::end(fault, active, &mut rig, &origin).await?);
        }
        Ok::<_, inject::InjectError>(slow)
    };
    let slow = match timeline.await {
        Ok(slow) => slow,
        Err(e) => {
            traffic.abort();
            watcher.abort();
            return Err(e.into());
        }
    };
    let traffic = traffic.await.map_err(traffic::TrafficError::from)??;
    let ticks = watcher.await.unwrap_or_default();
    let proxy_survived = rig.proxy.try_exit_status().is_none();
    drop(rig);

    let total_us = profile.duration.as_micros() as u64;
    let windows: Vec<(u64, u64)> = profile
        .faults
        .iter()
        .map(|f| {
            let allowance = f.expect.max_recovery.unwrap_or(Duration::from_secs(1));
            (
                f.start.as_micros() as u64,
                (f.end() + allowance).as_micros() as u64,
            )
        })
        .collect();
    let results: Vec<FaultResult> = profile
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let horizon = profile
                .faults
                .get(i + 1)
                .map_or(total_us, |n| n.start.as_micros() as u64);
            verdict::judge(f, &traffic.events, &ticks, &slow[i], &windows, horizon)
        })
        .collect();
    let held = proxy_survived && results.iter().all(|r| r.held);
    let facts = report::RunFacts {
        profile: profile.name.clone(),
        description: profile.description.clone(),
        started_at,
        duration_s: profile.duration.as_secs_f64(),
        offered_rps: profile.rate,
        connections: profile.connections,
        requests: traffic.events.len() as u64,
        unsent: traffic.unsent,
        proxy_survived,
        redis: profile.redis,
    };
    report::write(&run_dir, &facts, &results, held, &ticks)?;
    Ok(FaultOutcome {
        run_dir,
        held,
        results,
        facts,
    })
}

/// `loadgen faults`: runs until done or until Ctrl-C/SIGTERM (then the run's future is
/// dropped, so its child guards stop what it started, and the error is
/// [`FaultError::Interrupted`]).
pub async fn run(args: &FaultArgs) -> Result<FaultOutcome, FaultError> {
    until_shutdown(execute(args))
        .await
        .unwrap_or(Err(FaultError::Interrupted))
}

impl Judged for FaultOutcome {
    fn held(&self) -> bool {
        self.held
    }

    fn report(&self) -> String {
        report::markdown(&self.facts, &self.results, self.held)
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }
}
