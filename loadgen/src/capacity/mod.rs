//! Capacity runs (`loadgen capacity --profile profiles/capacity.toml`): offered load in
//! steps through the real proxy, one staircase per path of the profile (the plain 1 KiB
//! GET with the open-loop driver, the school-day mix with paced Goose users), until a
//! step breaks the SLO (p99 over its bound, errors over budget, or achieved short of
//! offered). The knee is the highest rate that held; each step also gets the proxy's CPU
//! per request, read from `/proc` of its pid, and what each side used ([`sides`]). A
//! `wrk` cross-check of the 1 KiB path follows the climbs ([`wrk`]).
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
//! Modules: [`spec`] (the profile file), [`load`] (the load profile each step runs),
//! [`sides`] (what the proxy, the driver and the origin used), [`step`] (one step, the
//! knee, the bottleneck), [`wrk`] (the cross-check), [`report`].

pub mod load;
pub mod rate;
pub mod report;
pub mod sides;
pub mod spec;
pub mod step;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::attack::{self, AttackOptions, AttackReport, Driver};
use crate::corpus::{Addressing, Corpus};
use crate::faults::inject::OriginControl;
use crate::faults::FaultError;
use crate::get_loop::Gets;
use crate::harness::provenance;
use crate::judged::Judged;
use crate::mix::Mix;
use crate::origin::faults::FaultSettings;
use crate::profile::Profile;
use crate::rig::cpu_quota::{CpuQuota, Throttling};
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, pin, sample, Rig, RigSpec};
use crate::roster::Roster;

use self::load::StepLoad;
use self::spec::{CapacityPath, CapacityProfile, PathDriver, WrkCheck};
pub use self::step::PathOutcome;
use self::step::StepResult;
use self::wrk::{CrossCheck, DriverFigures, SideCpu, WrkTarget};
use rand::rngs::SmallRng;
use rand::SeedableRng;

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
    /// Skip the `wrk` cross-check even when the profile asks for it.
    #[arg(long)]
    pub no_wrk: bool,
}

/// What a capacity run produced.
#[derive(Debug, Clone)]
pub struct CapacityOutcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Each path's climb, in the profile's order.
    pub paths: Vec<PathOutcome>,
    /// The `wrk` cross-check, when the profile asked for it.
    pub cross_check: Option<CrossCheck>,
    /// Whether the run met its bar (every path has a knee, at least `min_knee_rps`).
    pub held: bool,
    /// The profile as run.
    pub profile: CapacityProfile,
}

/// The running proxy and what a step reads it with.
struct Bench<'a> {
    rig: &'a Rig,
    quota: Option<&'a CpuQuota>,
    ticks: u64,
    step_duration: Duration,
}

/// What one attack of a step measured, with what the sides used.
struct Measured {
    report: AttackReport,
    usage: sides::Usage,
    throttled_share: Option<f64>,
}

impl Bench<'_> {
    /// Runs one attack of `path` at `load` into `dir`.
    async fn attack(
        &self,
        path: &CapacityPath,
        dir: &Path,
        load: &StepLoad,
    ) -> Result<Measured, FaultError> {
        let profile = load::write(dir, path, load)?;
        let pid = self.rig.proxy_pid();
        let before = sides::snapshot(pid, self.ticks, &self.rig.admin).await;
        let throttle_before = self.quota.and_then(|q| q.throttling().ok());
        let report = attack::attack(&AttackOptions {
            profile,
            proxy: Some(self.rig.listen),
            origin: Some(self.rig.origin_addrs()),
            out: dir.to_path_buf(),
            duration: None,
            users: None,
            driver: match path.driver {
                PathDriver::OpenLoop => Driver::OpenLoop,
                PathDriver::Goose => Driver::Goose,
            },
            rate: load.rate,
            quiet: true,
        })
        .await
        .map_err(|e| FaultError::Setup(format!("{}: {e}", dir.display())))?;
        let after = sides::snapshot(pid, self.ticks, &self.rig.admin).await;
        let throttled_share = self.throttled_since(throttle_before);
        Ok(Measured {
            report,
            usage: sides::usage(&before, &after, pid, self.ticks),
            throttled_share,
        })
    }

    /// Climbs `path`'s staircase until a step breaks the SLO.
    async fn climb(
        &self,
        profile: &CapacityProfile,
        path: &CapacityPath,
        dir: &Path,
    ) -> Result<Vec<StepResult>, FaultError> {
        let mut steps = Vec::new();
        for (i, rate) in path.rates.iter().copied().enumerate() {
            let load = StepLoad {
                rate: Some(rate),
                connections: path.connections,
                duration: path.step(self.step_duration),
                warmup: path.warmup,
            };
            let step_dir = dir.join(format!("step-{i:02}"));
            let m = self.attack(path, &step_dir, &load).await?;
            // The achieved rate is the step's sustained per-second rate (`rate`), not the
            // whole window's, which the stop and one late answer dilute.
            let mut run_json = m.report.run_json.clone();
            if let Some(rate) = std::fs::read_to_string(step_dir.join("timeseries.csv"))
                .ok()
                .and_then(|t| rate::steady_rate(&t))
            {
                run_json["totals"]["rps"] = rate.into();
            }
            let run = &run_json;
            let all = run["totals"]["requests"].as_u64().unwrap_or(0)
                + run["samples"]["warmup"].as_u64().unwrap_or(0);
            let mut result = step::from_run_json(
                i,
                rate,
                run,
                m.usage.proxy_cpu_ms,
                all,
                &profile.slo,
                path.slo_classes.as_deref(),
            );
            result.loadgen_cores_busy = m.usage.loadgen_cores;
            result.origin_cores_busy = m.usage.origin_cores;
            result.proxy_cores_busy = m.usage.proxy_cores;
            result.pool_exhausted = m.usage.pool_exhausted;
            result.proxy_rss_bytes = m.usage.proxy_rss_bytes;
            result.proxy_fds = m.usage.proxy_fds.zip(m.usage.proxy_fd_limit);
            result.throttled_share = m.throttled_share;
            eprintln!(
                "{} step {i}: offered {rate:.0}, achieved {:.0} req/s, p99 {} -> {}",
                path.name,
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
            if !crate::rig::children::pid_alive(self.rig.proxy_pid()) {
                return Err(FaultError::Setup("the proxy exited during the run".into()));
            }
        }
        Ok(steps)
    }

    /// The `wrk` cross-check: an unmeasured `wrk` warm-up pass, then `wrk`, then the
    /// driver closed loop, same connections, time, CPU and request sequence, each side's
    /// CPU recorded (see [`wrk`]).
    async fn cross_check(
        &self,
        check: &WrkCheck,
        path: &CapacityPath,
        dir: &Path,
        limits: (f64, f64),
    ) -> CrossCheck {
        let (proxy_limit_cores, load_cpus) = limits;
        let mut out = CrossCheck {
            connections: check.connections,
            duration_s: check.duration.as_secs_f64(),
            url: String::new(),
            distinct_urls: 0,
            load_cpus,
            proxy_limit_cores,
            wrk: None,
            wrk_cpu: None,
            driver: None,
            driver_cpu: None,
            rate_difference: None,
            p50_difference: None,
            agree: None,
            reading: Vec::new(),
            note: None,
        };
        let load = StepLoad {
            rate: None,
            connections: check.connections,
            duration: check.duration,
            // `wrk` measures its whole run, so the driver does too.
            warmup: Some(Duration::ZERO),
        };
        let target = match wrk_target(path, dir, &load) {
            Ok(t) => t,
            Err(e) => {
                out.note = Some(e);
                return out;
            }
        };
        out.url = target.top.clone();
        out.distinct_urls = target.targets.len();
        if !wrk::available() {
            out.note = Some("wrk is not installed (scripts/deps.sh lists it)".into());
            return out;
        }
        let script = wrk::script(&target.targets, &target.sequence, target.auth.as_deref());
        let wrk_dir = dir.join("wrk");
        let (proxy, conns, time) = (self.rig.listen, check.connections, check.duration);
        // A warm-up pass first, not measured: the first side to send the draw fills the
        // proxy's per-host state (upstream pool entries, lookups), and the side that paid
        // for it did more work per request (measured: 58 against 50 µs, a 14 % rate gap).
        let (warm_dir, warm_script) = (dir.join("wrk-warmup"), script.clone());
        let warmed = tokio::task::spawn_blocking(move || {
            wrk::run(&warm_dir, proxy, &warm_script, conns, wrk::WARMUP)
        })
        .await
        .unwrap_or_else(|e| Err(format!("wrk task: {e}")));
        if let Err(e) = warmed {
            out.note = Some(format!("the warm-up pass: {e}"));
            return out.judge();
        }
        let pid = self.rig.proxy_pid();
        let before = sides::snapshot(pid, self.ticks, &self.rig.admin).await;
        let throttle_before = self.quota.and_then(|q| q.throttling().ok());
        let ran =
            tokio::task::spawn_blocking(move || wrk::run(&wrk_dir, proxy, &script, conns, time))
                .await
                .unwrap_or_else(|e| Err(format!("wrk task: {e}")));
        let after = sides::snapshot(pid, self.ticks, &self.rig.admin).await;
        let throttled = self.throttled_since(throttle_before);
        match ran {
            Ok(r) => {
                let used = sides::usage(&before, &after, pid, self.ticks);
                out.wrk = Some(r.figures);
                out.wrk_cpu = Some(SideCpu {
                    proxy_cores: used.proxy_cores,
                    proxy_cpu_us_per_request: per_request(used.proxy_cpu_ms, r.figures.requests),
                    proxy_throttled_share: throttled,
                    tool_cores: r
                        .cpu_ms
                        .map(|ms| ms as f64 / 1000.0 / r.wall.as_secs_f64().max(1e-3)),
                    origin_cores: used.origin_cores,
                });
            }
            Err(e) => out.note = Some(e),
        }
        match self.attack(path, &dir.join("driver"), &load).await {
            Ok(m) => {
                let run = &m.report.run_json;
                let p50 = run["classes"]["allowed"]["latency_us"]["p50"].as_f64();
                let all = run["totals"]["requests"].as_u64().unwrap_or(0)
                    + run["samples"]["warmup"].as_u64().unwrap_or(0);
                out.driver = p50.map(|p50| DriverFigures {
                    rps: run["totals"]["rps"].as_f64().unwrap_or(0.0),
                    p50_ms: p50 / 1000.0,
                    failures: run["totals"]["failures"].as_u64().unwrap_or(0),
                });
                out.driver_cpu = Some(SideCpu {
                    proxy_cores: m.usage.proxy_cores,
                    proxy_cpu_us_per_request: per_request(m.usage.proxy_cpu_ms, all),
                    proxy_throttled_share: m.throttled_share,
                    tool_cores: m
                        .usage
                        .loadgen_cores
                        .zip(m.usage.origin_cores)
                        .map(|(all, origin)| (all - origin).max(0.0)),
                    origin_cores: m.usage.origin_cores,
                });
            }
            Err(e) => out.note = Some(format!("the driver's side: {e}")),
        }
        out.judge()
    }

    /// The quota's throttled share since `before` (with a quota).
    fn throttled_since(&self, before: Option<Throttling>) -> Option<f64> {
        before
            .zip(self.quota.and_then(|q| q.throttling().ok()))
            .and_then(|(b, a)| a.throttled_share_since(&b))
    }
}

/// CPU per request, µs.
fn per_request(cpu_ms: Option<u64>, requests: u64) -> Option<f64> {
    cpu_ms
        .filter(|_| requests > 0)
        .map(|ms| ms as f64 * 1000.0 / requests as f64)
}

/// What `wrk` sends: the path's allowed URLs in a sequence drawn from the corpus's Zipf
/// ranks (the driver's draw), with the driver's `Proxy-Authorization`.
struct WrkPlan {
    top: String,
    targets: Vec<WrkTarget>,
    sequence: Vec<usize>,
    auth: Option<String>,
}

/// Builds [`WrkPlan`] from the path's mix as the driver reads it (it writes the
/// closed-loop step's profile too).
fn wrk_target(path: &CapacityPath, dir: &Path, load: &StepLoad) -> Result<WrkPlan, String> {
    let profile_path = load::write(&dir.join("driver"), path, load).map_err(|e| e.to_string())?;
    let profile = Profile::load(&profile_path).map_err(|e| e.to_string())?;
    let mix = Mix::load(&profile.scenario_mix).map_err(|e| e.to_string())?;
    let corpus = Corpus::build(&mix, Addressing::Proxy).map_err(|e| e.to_string())?;
    let targets = Gets::targets(&corpus, true).map_err(|e| e.to_string())?;
    let top = targets.first().ok_or("the mix has no allowed URLs")?;
    let auth = Roster::load(&mix.roster, mix.roster_seed)
        .map_err(|e| e.to_string())?
        .get(0)
        .proxy_authorization
        .to_str()
        .ok()
        .map(str::to_owned);
    // Draw as the driver does, then keep only the URLs drawn.
    let mut rng = SmallRng::seed_from_u64(0x9E37_79B9_7F4A_7C15);
    let mut index = std::collections::HashMap::new();
    let mut chosen = Vec::new();
    let mut sequence = Vec::with_capacity(wrk::SEQUENCE_LEN);
    for _ in 0..wrk::SEQUENCE_LEN {
        let rank = corpus.zipf_rank(&mut rng).min(targets.len() - 1);
        let next = index.len();
        let i = *index.entry(rank).or_insert_with(|| {
            let t = &targets[rank];
            chosen.push(WrkTarget {
                url: t.uri.to_string(),
                host: t.host.to_str().unwrap_or_default().to_owned(),
            });
            next
        });
        sequence.push(i);
    }
    Ok(WrkPlan {
        top: top.uri.to_string(),
        targets: chosen,
        sequence,
        auth,
    })
}

/// Runs every path's staircase and the cross-check, and writes the run directory.
pub async fn execute(args: &CapacityArgs) -> Result<CapacityOutcome, FaultError> {
    let mut profile = CapacityProfile::load(&args.profile)?;
    if let Some(s) = args.step_seconds.filter(|s| *s > 0) {
        // One length for every step; a path's warm-up still has to leave 2 s measured.
        profile.step_duration = Duration::from_secs(s);
        for p in &mut profile.paths {
            p.step_duration = None;
            p.warmup = p
                .warmup
                .map(|w| w.min(Duration::from_secs(s.saturating_sub(2))));
        }
    }
    if args.no_wrk {
        profile.wrk = None;
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
    let bench = Bench {
        rig: &rig,
        quota: quota.as_ref(),
        ticks: sample::clock_ticks_per_second(),
        step_duration: profile.step_duration,
    };
    let mut climbs = Vec::new();
    for path in &profile.paths {
        let steps = bench
            .climb(&profile, path, &run_dir.join(&path.name))
            .await?;
        climbs.push((path.clone(), steps));
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
    let cross_check = match &profile.wrk {
        Some(check) => {
            let path = profile
                .paths
                .iter()
                .find(|p| p.name == check.path)
                .expect("validated: the cross-check names a path");
            let c = bench
                .cross_check(
                    check,
                    path,
                    &run_dir.join("cross-check"),
                    (proxy_limit, loadgen_cpus),
                )
                .await;
            eprintln!("wrk cross-check: {}", c.verdict());
            Some(c)
        }
        None => None,
    };
    drop(quota);
    drop(rig);
    let paths: Vec<PathOutcome> = climbs
        .into_iter()
        .map(|(path, steps)| {
            let reading = step::read_knee(
                &steps,
                proxy_limit,
                loadgen_cpus,
                quota_desc.clone(),
                quota_note.clone(),
            );
            PathOutcome {
                path,
                steps,
                reading,
            }
        })
        .collect();
    let held = paths.iter().all(|p| {
        p.knee()
            .is_some_and(|k| profile.slo.min_knee_rps.is_none_or(|min| k >= min))
    });
    let extra = json!({ "placement": placement });
    report::write(
        &run_dir,
        &profile,
        &paths,
        cross_check.as_ref(),
        held,
        extra,
    )?;
    Ok(CapacityOutcome {
        run_dir,
        paths,
        cross_check,
        held,
        profile,
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
        report::markdown(&self.profile, &self.paths, self.cross_check.as_ref())
    }

    fn run_dir(&self) -> &Path {
        &self.run_dir
    }
}
