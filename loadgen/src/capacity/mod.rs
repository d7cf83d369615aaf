//! Capacity runs (`loadgen capacity --profile profiles/capacity.toml`): offered load in
//! steps through the real proxy with the open-loop driver, until a step breaks the SLO
//! (p99 over its bound, errors over budget, or achieved short of offered). The knee is
//! the highest rate that held; each step also gets the proxy's CPU per request, read
//! from `/proc` of its pid.
//!
//! Why open loop: a closed-loop user waits for each answer, so an overloaded proxy
//! slows the offered load down with it and the knee hides; the open-loop driver keeps
//! the schedule and records latency from the intended send time, so overload shows as
//! latency and as achieved < offered. Each point names the driver that produced it.
//!
//! Why a CPU quota on the proxy (`proxy_cores`, a cgroup through
//! [`cpu_quota`](crate::rig::cpu_quota)): on a small shared machine an unconstrained
//! proxy is never the first to run out, so the climb ends on the machine's tail and the
//! knee is not the proxy's. Held to a fraction of a core it saturates first; each step
//! records both sides' busy cores and the quota's throttling, and the first broken step
//! names what limited the climb, so the knee per proxy core is only claimed when the
//! proxy's CPU was the bottleneck.
//!
//! Modules: [`spec`] (the profile file), [`step`] (one step, the knee, the bottleneck),
//! [`report`].

pub mod report;
pub mod spec;
pub mod step;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::attack::{self, AttackOptions, Driver};
use crate::faults::inject::OriginControl;
use crate::faults::FaultError;
use crate::harness::provenance;
use crate::judged::Judged;
use crate::origin::faults::FaultSettings;
use crate::rig::cpu_quota::CpuQuota;
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, pin, sample, Rig, RigSpec};

use self::spec::CapacityProfile;
use self::step::{KneeReading, StepResult};

/// Arguments of `loadgen capacity`.
#[derive(Debug, Clone, clap::Args)]
pub struct CapacityArgs {
    /// Capacity profile (TOML), e.g. `profiles/capacity.toml`.
    #[arg(long)]
    pub profile: PathBuf,
    /// Run directory; default `runs/capacity-<name>-<UTC time>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the length of each step, seconds.
    #[arg(long)]
    pub step_seconds: Option<u64>,
    /// The `filter-proxy` binary; default: beside this binary.
    #[arg(long)]
    pub proxy_bin: Option<PathBuf>,
    /// The proxy config the run's config is generated from; default
    /// `scenarios/demo/proxy.toml` in the checkout.
    #[arg(long)]
    pub proxy_config: Option<PathBuf>,
    /// Do not pin the proxy to a CPU of its own.
    #[arg(long)]
    pub no_pin: bool,
    /// Hold the proxy to this many cores (cgroup CPU quota), overriding the profile's
    /// `proxy_cores`; 0 runs it without a quota.
    #[arg(long)]
    pub proxy_cores: Option<f64>,
}

/// What a capacity run produced.
#[derive(Debug, Clone)]
pub struct CapacityOutcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Every step run, in order.
    pub steps: Vec<StepResult>,
    /// The highest rate that held.
    pub knee: Option<f64>,
    /// Whether the run met its bar (a knee, at least `min_knee_rps`).
    pub held: bool,
    /// The profile as run.
    pub profile: CapacityProfile,
    /// The knee per proxy core and what limited it.
    pub reading: KneeReading,
}

/// Runs the staircase and writes the run directory.
pub async fn execute(args: &CapacityArgs) -> Result<CapacityOutcome, FaultError> {
    let mut profile = CapacityProfile::load(&args.profile)?;
    if let Some(s) = args.step_seconds.filter(|s| *s > 0) {
        profile.step_duration = Duration::from_secs(s);
    }
    match args.proxy_cores {
        Some(0.0) => profile.proxy_cores = None,
        Some(c) if !(crate::rig::cpu_quota::MIN_CORES..=64.0).contains(&c) => {
            return Err(FaultError::Setup(format!(
                "--proxy-cores {c}: must be 0 (no quota) or between 0.01 and 64"
            )))
        }
        Some(c) => profile.proxy_cores = Some(c),
        None => {}
    }
    let profile_path = std::fs::canonicalize(&args.profile).unwrap_or(args.profile.clone());
    let repo = paths::repo_dir_of(&profile_path);
    let run_dir = paths::fresh_run_dir(
        args.out.as_deref(),
        &repo,
        &format!("capacity-{}", profile.name),
        &provenance::compact_timestamp(std::time::SystemTime::now()),
    )?;
    let placement = (profile.pin && !args.no_pin && pin::taskset_available())
        .then(|| pin::plan(&pin::allowed_cpus()))
        .flatten();
    if let Some(p) = &placement {
        // Best effort: an unpinned load generator only makes the numbers noisier.
        let _ = pin::pin_process(std::process::id(), &p.loadgen_cpus);
    }
    let rig = Rig::start(&RigSpec {
        run_dir: run_dir.clone(),
        proxy_bin: args
            .proxy_bin
            .clone()
            .unwrap_or_else(paths::default_proxy_bin),
        base_config: paths::base_config(args.proxy_config.as_deref(), &repo),
        redis_bin: None,
        overrides: profile.proxy.clone(),
        proxy_cpus: placement.as_ref().map(|p| p.proxy_cpus.clone()),
        loadgen_cpus: None,
        origin_threads: 2,
        seed_redis: false,
        ready_timeout: Duration::from_secs(30),
    })
    .await?;
    if profile.origin_delay_ms > 0 {
        OriginControl::new(rig.origin.addr())?
            .set(&FaultSettings {
                delay_ms: profile.origin_delay_ms,
                ..FaultSettings::default()
            })
            .await?;
    }
    let ticks = sample::clock_ticks_per_second();
    let pid = rig.proxy_pid();
    // The quota goes on after start-up, so the proxy loads its data at full speed. Where
    // cgroups cannot be written the run goes on pinned only, and the report says so.
    let (quota, quota_note) = match profile.proxy_cores.map(|c| CpuQuota::apply(pid, c)) {
        None => (None, None),
        Some(Ok(q)) => (Some(q), None),
        Some(Err(e)) => {
            let note = format!("no CPU quota on the proxy ({e}); it ran pinned only");
            eprintln!("loadgen capacity: {note}");
            (None, Some(note))
        }
    };
    let mut steps = Vec::new();
    for (i, rate) in profile.rates.iter().copied().enumerate() {
        let out = run_dir.join(format!("step-{i:02}"));
        let cpu_before = sample::cpu_ms(pid, ticks).ok();
        let throttle_before = quota.as_ref().and_then(|q| q.throttling().ok());
        let own_before = sample::cpu_ms(std::process::id(), ticks).ok();
        let wall = std::time::Instant::now();
        let report = attack::attack(&AttackOptions {
            profile: profile.load_profile.clone(),
            proxy: Some(rig.listen),
            origin: Some(rig.origin_addrs()),
            out,
            duration: Some(profile.step_duration),
            users: Some(profile.connections),
            driver: Driver::OpenLoop,
            rate: Some(rate),
            quiet: true,
        })
        .await
        .map_err(|e| FaultError::Setup(format!("step {i} ({rate} req/s): {e}")))?;
        let cpu_after = sample::cpu_ms(pid, ticks).ok();
        let cpu = cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b));
        let run = &report.run_json;
        let all = run["totals"]["requests"].as_u64().unwrap_or(0)
            + run["samples"]["warmup"].as_u64().unwrap_or(0);
        let mut result = step::from_run_json(i, rate, run, cpu, all, &profile.slo);
        let own_after = sample::cpu_ms(std::process::id(), ticks).ok();
        let wall_s = wall.elapsed().as_secs_f64();
        result.loadgen_cores_busy = own_before
            .zip(own_after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / 1000.0 / wall_s);
        result.proxy_cores_busy = cpu.map(|ms| ms as f64 / 1000.0 / wall_s);
        result.throttled_share = throttle_before
            .zip(quota.as_ref().and_then(|q| q.throttling().ok()))
            .and_then(|(b, a)| a.throttled_share_since(&b));
        eprintln!(
            "step {i}: offered {rate:.0}, achieved {:.0} req/s, p99 {} -> {}",
            result.achieved_rps,
            result.p99_ms.map_or("-".into(), |p| format!("{p:.1} ms")),
            if result.held() {
                "held".into()
            } else {
                result.broken.join("; ")
            }
        );
        let broke = !result.held();
        steps.push(result);
        if broke {
            break;
        }
        if !crate::rig::children::pid_alive(pid) {
            return Err(FaultError::Setup("the proxy exited during the run".into()));
        }
    }
    let quota_desc = quota
        .as_ref()
        .map(|q| format!("{}, {:.2} cores", q.hierarchy().mechanism(), q.cores()));
    let proxy_limit = quota.as_ref().map(CpuQuota::cores).unwrap_or_else(|| {
        placement
            .as_ref()
            .map_or(pin::allowed_cpus().len(), |p| p.proxy_cpus.len())
            .max(1) as f64
    });
    let loadgen_cpus = placement
        .as_ref()
        .map_or(pin::allowed_cpus().len(), |p| p.loadgen_cpus.len())
        .max(1) as f64;
    drop(quota);
    drop(rig);
    let knee = step::knee(&steps);
    let reading = step::read_knee(&steps, proxy_limit, loadgen_cpus, quota_desc, quota_note);
    let held = knee.is_some_and(|k| profile.slo.min_knee_rps.is_none_or(|min| k >= min));
    let extra = json!({
        "placement": placement,
        "load_profile": profile.load_profile,
    });
    report::write(&run_dir, &profile, &steps, &reading, held, extra)?;
    Ok(CapacityOutcome {
        run_dir,
        steps,
        knee,
        held,
        profile,
        reading,
    })
}

/// `loadgen capacity`: runs until done or until Ctrl-C/SIGTERM.
pub async fn run(args: &CapacityArgs) -> Result<CapacityOutcome, FaultError> {
    until_shutdown(execute(args))
        .await
        .unwrap_or(Err(FaultError::Interrupted))
}

impl Judged for CapacityOutcome {
    fn held(&self) -> bool {
        self.held
    }

    fn report(&self) -> String {
        report::markdown(&self.profile, &self.steps, &self.reading)
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }
}
