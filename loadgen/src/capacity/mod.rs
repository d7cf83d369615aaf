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
//! Modules: [`spec`] (the profile file), [`step`] (one step, the knee), [`report`].

pub mod report;
pub mod spec;
pub mod step;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use crate::attack::{self, AttackOptions, Driver};
use crate::faults::inject::OriginControl;
use crate::faults::rig::{Rig, RigSpec};
use crate::faults::{self, FaultError};
use crate::harness::{pin, sample};
use crate::origin::faults::FaultSettings;

use self::spec::CapacityProfile;
use self::step::StepResult;

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
}

/// Runs the staircase and writes the run directory.
pub async fn execute(args: &CapacityArgs) -> Result<CapacityOutcome, FaultError> {
    let mut profile = CapacityProfile::load(&args.profile)?;
    if let Some(s) = args.step_seconds.filter(|s| *s > 0) {
        profile.step_duration = Duration::from_secs(s);
    }
    let profile_path = std::fs::canonicalize(&args.profile).unwrap_or(args.profile.clone());
    let repo = faults::repo_dir_of(&profile_path);
    let run_dir = faults::fresh_run_dir(
        args.out.as_deref(),
        &repo,
        &format!("capacity-{}", profile.name),
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
            .unwrap_or_else(faults::default_proxy_bin),
        base_config: args
            .proxy_config
            .clone()
            .unwrap_or_else(|| repo.join("scenarios/demo/proxy.toml")),
        redis_bin: None,
        overrides: profile.proxy.clone(),
        proxy_cpus: placement.as_ref().map(|p| p.proxy_cpus.clone()),
        origin_threads: 2,
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
    let mut steps = Vec::new();
    for (i, rate) in profile.rates.iter().copied().enumerate() {
        let out = run_dir.join(format!("step-{i:02}"));
        let cpu_before = sample::cpu_ms(pid, ticks).ok();
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
        result.loadgen_cores_busy = own_before
            .zip(own_after)
            .map(|(b, a)| a.saturating_sub(b) as f64 / 1000.0 / wall.elapsed().as_secs_f64());
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
        if !crate::harness::children::pid_alive(pid) {
            return Err(FaultError::Setup("the proxy exited during the run".into()));
        }
    }
    drop(rig);
    let knee = step::knee(&steps);
    let held = knee.is_some_and(|k| profile.slo.min_knee_rps.is_none_or(|min| k >= min));
    let extra = json!({
        "placement": placement,
        "load_profile": profile.load_profile,
    });
    report::write(&run_dir, &profile, &steps, knee, held, extra)?;
    Ok(CapacityOutcome {
        run_dir,
        steps,
        knee,
        held,
        profile,
    })
}

/// `loadgen capacity`: runs, prints the table, and returns the exit code (0 a knee
/// was found and met `min_knee_rps`, 1 not, 2 bad input or the run could not be made).
pub async fn run(args: CapacityArgs) -> i32 {
    faults::judged("loadgen capacity", execute(&args), |o| {
        (
            report::markdown(&o.profile, &o.steps, o.knee),
            o.run_dir.clone(),
            o.held,
        )
    })
    .await
}
