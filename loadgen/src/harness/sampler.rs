//! The once-a-second loop that runs while the attack does: samples the proxy and the
//! load generator, reads the allocator at the edges of the steady window, starts the
//! CPU profile there, and prints the progress line.
//!
//! Everything it learns goes into a [`Record`] owned by the caller, so an interrupted
//! run still has what was sampled up to the interruption.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

use super::resources::{AllocCounters, SteadyWindow, Tick};
use super::{host, scrape};
use crate::rig::admin::{alloc_counters, alloc_gauges, AdminClient};
use crate::rig::children::ChildGuard;
use crate::rig::perf::{self, CpuProfile, CpuProfileMeta, ProfileTarget};
use crate::rig::{sample, RigError};

/// What the run learnt, filled in as it goes.
#[derive(Debug, Default)]
pub struct Record {
    /// Per-second samples of the proxied attack.
    pub ticks: Vec<Tick>,
    /// Allocator counters at the start of the steady window.
    pub alloc_before: Option<AllocCounters>,
    /// Allocator counters at the end of the steady window.
    pub alloc_after: Option<AllocCounters>,
    /// The raw `/debug/jemalloc` documents: before and after.
    pub jemalloc_docs: Vec<(String, Value)>,
    /// Collapsed stacks of the CPU profile.
    pub cpu_folded: Option<String>,
    /// How the CPU profile was taken (`cpu-profile.json`).
    pub cpu_profile_meta: Option<CpuProfileMeta>,
    /// The proxy's `/metrics` at the end of the run.
    pub metrics_end: Option<String>,
    /// Problems that did not stop the run but leave a gap in it.
    pub notes: Vec<String>,
}

/// The CPU profile being taken, and a note when perf could not be used.
type ProfileTask = JoinHandle<Result<(CpuProfile, Option<String>), RigError>>;

/// Settings of the sampling loop.
#[derive(Debug, Clone)]
pub struct SamplerSettings {
    /// The part of the steady window the resource figures come from (seconds since
    /// the attack started); the allocator is read at its edges.
    pub window: SteadyWindow,
    /// When to take the CPU profile, if at all.
    pub profile_window: Option<SteadyWindow>,
    /// Planned length of the attack, seconds (for the progress line).
    pub planned_s: f64,
    /// Whether to print the progress line.
    pub progress: bool,
    /// `CLK_TCK`.
    pub ticks_per_second: u64,
    /// Where perf's files go (the run directory).
    pub profile_dir: std::path::PathBuf,
    /// Keep `perf.data` after collapsing it.
    pub keep_perf_data: bool,
}

/// Reads one tick: proxy process, load generator CPU, proxy gauges, allocator gauges.
/// The two admin requests go out together so a tick takes one round trip.
async fn take_tick(
    t_s: f64,
    proxy_pid: u32,
    loadgen_pid: u32,
    admin: &AdminClient,
    tps: u64,
) -> Tick {
    let (metrics, jemalloc) = tokio::join!(admin.metrics(), admin.jemalloc());
    let gauges = match metrics {
        Ok(text) => scrape::proxy_gauges(&text),
        Err(_) => Default::default(),
    };
    Tick {
        t_s,
        proxy: sample::sample_pid(proxy_pid, tps).ok(),
        loadgen_cpu_ms: sample::cpu_ms(loadgen_pid, tps).ok(),
        gauges,
        alloc: jemalloc.ok().as_ref().and_then(alloc_gauges),
        host: host::sample(tps).ok(),
    }
}

/// Reads the allocator counters together with the request counter.
async fn read_alloc(
    admin: &AdminClient,
    label: &str,
    record: &mut Record,
) -> Option<AllocCounters> {
    match admin.jemalloc().await {
        Ok(doc) => {
            let mut counters = alloc_counters(&doc);
            counters.requests = admin
                .metrics()
                .await
                .ok()
                .and_then(|m| scrape::proxy_gauges(&m).requests_total);
            record.jemalloc_docs.push((label.to_owned(), doc));
            Some(counters)
        }
        Err(e) => {
            record.notes.push(format!("jemalloc {label}: {e}"));
            None
        }
    }
}

/// Starts the CPU profile at `t0 + window.start_s` on its own task, so its timing does
/// not depend on how long the sampling loop's admin requests take under load. perf
/// when it can run here, else the pprof endpoint (see [`crate::rig::perf`]), for the
/// whole profile window (pprof: at most its 60 s).
fn start_profile(target: ProfileTarget, t0: Instant, window: SteadyWindow) -> ProfileTask {
    let seconds = (window.len_s().round() as u64).max(1);
    let at = tokio::time::Instant::from_std(t0) + Duration::from_secs_f64(window.start_s);
    tokio::spawn(async move {
        // The second before the window: how busy the proxy is, to plan perf's frequency.
        tokio::time::sleep_until(at.checked_sub(Duration::from_secs(1)).unwrap_or(at)).await;
        let cores = perf::busy_cores(target.pid).await;
        tokio::time::sleep_until(at).await;
        perf::profile(&target, seconds, cores).await
    })
}

/// Samples until `attack` exits (returning its exit status) or `hard_limit` passes
/// (killing it). The allocator and CPU profile are read in the steady window.
pub async fn sample_attack(
    attack: &mut ChildGuard,
    proxy_pid: u32,
    admin: &AdminClient,
    settings: &SamplerSettings,
    hard_limit: Duration,
    record: &mut Record,
) -> Result<std::process::ExitStatus, RigError> {
    let t0 = Instant::now();
    let loadgen_pid = attack.pid();
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let profile: Option<ProfileTask> = settings.profile_window.map(|pw| {
        let target = ProfileTarget {
            pid: proxy_pid,
            admin: admin.clone(),
            dir: settings.profile_dir.clone(),
            keep_data: settings.keep_perf_data,
        };
        start_profile(target, t0, pw)
    });
    let mut progress = Progress::new(settings.progress);
    let window = settings.window;
    let status = loop {
        interval.tick().await;
        let t = t0.elapsed().as_secs_f64();
        let tick = take_tick(t, proxy_pid, loadgen_pid, admin, settings.ticks_per_second).await;
        record.ticks.push(tick);
        progress.update(&record.ticks, settings);
        if record.alloc_before.is_none() && t >= window.start_s {
            record.alloc_before = read_alloc(admin, "before", record).await;
        }
        if record.alloc_after.is_none() && t >= window.end_s && record.alloc_before.is_some() {
            record.alloc_after = read_alloc(admin, "after", record).await;
        }
        if let Some(status) = attack.try_exit_status() {
            break status;
        }
        if t0.elapsed() > hard_limit {
            record.notes.push(format!(
                "attack still running after {} s: killed",
                hard_limit.as_secs()
            ));
            return Err(RigError::ChildFailed {
                name: "loadgen attack".into(),
                status: "a timeout (killed)".into(),
                stderr: attack.stderr_tail(2000),
            });
        }
    };
    progress.finish();
    if record.alloc_before.is_some() && record.alloc_after.is_none() {
        record.alloc_after = read_alloc(admin, "after", record).await;
    }
    if let Some(task) = profile {
        if !task.is_finished()
            && !matches!(settings.profile_window, Some(pw) if t0.elapsed().as_secs_f64() >= pw.start_s)
        {
            // The attack ended before the profile was due: nothing to profile.
            task.abort();
            record
                .notes
                .push("the attack ended before the CPU profile was due".into());
            return Ok(status);
        }
        match task.await {
            Ok(Ok((profile, fallback))) => {
                record.notes.extend(fallback);
                if profile.folded.trim().is_empty() {
                    record
                        .notes
                        .push("the CPU profile has no samples (the proxy was idle)".into());
                } else {
                    record.notes.extend(profile.thin_note());
                    record.cpu_profile_meta = Some(profile.meta);
                    record.cpu_folded = Some(profile.folded);
                }
            }
            Ok(Err(e)) => record.notes.push(format!("cpu profile: {e}")),
            Err(e) => record.notes.push(format!("cpu profile task: {e}")),
        }
    }
    Ok(status)
}

/// The progress line: phase, elapsed/total, current rate and errors.
struct Progress {
    enabled: bool,
    tty: bool,
    last_print: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            tty: std::io::stderr().is_terminal(),
            last_print: None,
        }
    }

    fn update(&mut self, ticks: &[Tick], settings: &SamplerSettings) {
        let (window, planned_s) = (settings.window, settings.planned_s);
        if !self.enabled {
            return;
        }
        // On a terminal: redraw every second; in a log: a line every 10 s.
        let every = if self.tty { 0 } else { 10 };
        if self
            .last_print
            .is_some_and(|p| p.elapsed().as_secs() < every)
        {
            return;
        }
        self.last_print = Some(Instant::now());
        let Some(last) = ticks.last() else { return };
        let prev = ticks.len().checked_sub(2).map(|i| ticks[i]);
        let rate = prev.and_then(|p| {
            let dt = last.t_s - p.t_s;
            let d = last.gauges.requests_total? - p.gauges.requests_total?;
            (dt > 0.0).then(|| d / dt)
        });
        let in_profile = settings
            .profile_window
            .is_some_and(|p| last.t_s >= p.start_s && last.t_s <= p.end_s);
        let phase = if last.t_s < window.start_s {
            "warm-up"
        } else if last.t_s <= window.end_s {
            "steady"
        } else if in_profile {
            "profile"
        } else {
            "ending"
        };
        let line = format!(
            "[{phase:>7}] {:>4.0}/{:.0} s  {:>8} req/s  errors {}",
            last.t_s,
            planned_s,
            rate.map(|r| format!("{r:.0}"))
                .unwrap_or_else(|| "-".into()),
            last.gauges
                .request_errors_total
                .map(|e| format!("{e:.0}"))
                .unwrap_or_else(|| "-".into()),
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.enabled && self.tty {
            eprintln!();
        }
    }
}
