//! Orchestration of one run: set up, start the parts, attack while sampling, stop
//! everything, complete the run directory, print the summary.
//!
//! Every process is held by a guard local to [`orchestrate`]; when that future ends,
//! fails, panics or is dropped because Ctrl-C/SIGTERM arrived, the guards kill the
//! processes. What was learnt lives in a [`Record`] outside it, so even an interrupted
//! run leaves a run directory, marked `"complete": false`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use ::rundir::run::{HarnessReport, Instructions, Provenance};
use serde_json::{Map, Value};

use crate::rig::children::{self, ChildGuard};
use crate::rig::error::RigError;
use crate::rig::launch::{self, ConfigSpec};
use crate::rig::origin::Origin;
use crate::rig::paths::{self, repo_dir_of};
use crate::rig::pin::{self, Placement};
use crate::rig::signal::until_shutdown;
use crate::rig::{Rig, RigSpec};

use super::args::RunArgs;
use super::profile_view::ProfileView;
use super::provenance;
use super::resources::{self, SteadyWindow};
use super::sampler::{self, Record, SamplerSettings};
use super::{flame, latency, rundir, summary};

/// What a finished (or interrupted) run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Whether the run completed; an incomplete run must not be used as a measurement.
    pub complete: bool,
}

/// Everything resolved before anything is started.
#[derive(Debug, Clone)]
struct Setup {
    profile_path: PathBuf,
    profile: ProfileView,
    repo_dir: PathBuf,
    run_dir: PathBuf,
    proxy_bin: PathBuf,
    loadgen_bin: PathBuf,
    demo_config: PathBuf,
    redis: bool,
    direct_pass_s: u64,
    instructions: u64,
    window: SteadyWindow,
    cpu_profile: bool,
}

impl Setup {
    fn resolve(args: &RunArgs, started: SystemTime) -> Result<Self, RigError> {
        let profile_path = crate::rig::paths::canonical_profile(&args.profile)?;
        let profile = ProfileView::load(
            &profile_path,
            args.duration.map(Duration::from_secs),
            args.users,
        )?;
        let repo_dir = repo_dir_of(&profile_path);
        let this_exe = std::env::current_exe().map_err(|source| RigError::Io {
            what: "locate the loadgen binary".into(),
            cause: source,
        })?;
        let loadgen_bin = args.loadgen_bin.clone().unwrap_or_else(|| this_exe.clone());
        let proxy_bin = paths::proxy_bin(args.proxy_bin.as_deref())?;
        let run_dir = paths::fresh_run_dir(
            args.out.as_deref(),
            &repo_dir,
            &profile.name,
            &provenance::compact_timestamp(started),
        )?;
        let window = profile.window;
        let profile_cpu = profile.cpu_profile;
        Ok(Self {
            demo_config: paths::base_config(args.proxy_config.as_deref(), &repo_dir),
            redis: args.redis || profile.redis_store,
            direct_pass_s: args.direct_pass.unwrap_or(profile.direct_pass_s),
            instructions: args.instructions.unwrap_or(profile.instructions),
            profile_path,
            profile,
            repo_dir,
            run_dir,
            proxy_bin,
            loadgen_bin,
            window,
            cpu_profile: !args.no_cpu_profile && profile_cpu,
        })
    }

    /// The measuring part of the steady window and the CPU profile's part.
    fn windows(&self) -> (SteadyWindow, Option<SteadyWindow>) {
        resources::split_window(self.window, self.cpu_profile)
    }
}

/// Runs a profile end to end. Returns the run directory, also when the run was
/// interrupted (then `complete` is false); returns an error when a part could not be
/// started or failed, after writing what it could into the run directory.
pub async fn run(args: RunArgs) -> Result<RunOutcome, RigError> {
    let started = SystemTime::now();
    let setup = Setup::resolve(&args, started)?;
    let run_json = setup.run_dir.join("run.json");
    let prov = provenance::collect(&setup.repo_dir, &setup.proxy_bin);
    let started_at = provenance::rfc3339(started);
    // Marked incomplete from the start: a run that dies at any point says so.
    rundir::update_run_json(&run_json, &setup.profile.name, |run| {
        run.complete = Some(false);
        run.provenance = Some(prov.clone());
        run.started_at = Some(started_at.clone());
    })?;
    if !args.quiet {
        eprintln!(
            "run {}: {:.0} s, steady window {:.0}-{:.0} s -> {}",
            setup.profile.name,
            setup.profile.duration_s,
            setup.window.start_s,
            setup.window.end_s,
            setup.run_dir.display()
        );
    }

    let mut record = Record::default();
    let mut placement = None;
    let result = until_shutdown(orchestrate(&setup, &args, &mut record, &mut placement)).await;
    let times = RunTimes {
        started_at,
        ended_at: provenance::rfc3339(SystemTime::now()),
    };
    let (complete, error) = match &result {
        Some(Ok(())) => (true, None),
        None => (false, Some("interrupted".to_owned())),
        Some(Err(e)) => (false, Some(e.to_string())),
    };
    finish(
        &setup,
        &record,
        &prov,
        &times,
        placement.as_ref(),
        complete,
        error.as_deref(),
    )?;
    match ::rundir::run::RunJson::load(&run_json) {
        Ok(run) => println!("{}", summary::render(&run, &setup.run_dir)),
        Err(e) => eprintln!("no summary: {e}"),
    }
    match result {
        Some(Err(e)) => Err(e),
        _ => Ok(RunOutcome {
            run_dir: setup.run_dir,
            complete,
        }),
    }
}

/// The placement for this run, with the harness itself pinned to the load generator's
/// CPUs; `None` when pinning is off, impossible (one CPU) or fails.
fn place(args: &RunArgs, record: &mut Record) -> Option<Placement> {
    if args.no_pin {
        return None;
    }
    let placement = pin::plan(&pin::allowed_cpus())?;
    if !pin::taskset_available() {
        record
            .notes
            .push("taskset (util-linux) not found: processes not pinned".into());
        return None;
    }
    match pin::pin_process(std::process::id(), &placement.loadgen_cpus) {
        Ok(()) => Some(placement),
        Err(e) => {
            record
                .notes
                .push(format!("pinning failed, not pinned: {e}"));
            None
        }
    }
}

/// The `loadgen attack` command: against the proxy when `proxy` is given, else straight
/// to the origin; `users` overrides the profile's.
fn attack_command(
    setup: &Setup,
    users: Option<u64>,
    cpus: Option<&[usize]>,
    origin: &Origin,
    proxy: Option<SocketAddr>,
    out: &Path,
    duration_s: u64,
) -> Command {
    let mut cmd = pin::command(setup.loadgen_bin.as_os_str(), cpus);
    cmd.arg("attack")
        .arg("--profile")
        .arg(&setup.profile_path)
        .arg("--out")
        .arg(out)
        .arg("--duration")
        .arg(duration_s.to_string());
    cmd.args(origin.attack_args());
    if let Some(proxy) = proxy {
        cmd.arg("--proxy").arg(proxy.to_string());
    }
    if let Some(users) = users {
        cmd.arg("--users").arg(users.to_string());
    }
    cmd
}

/// Users of the two light passes that measure the latency the proxy adds.
pub const LIGHT_PASS_USERS: u64 = 10;

/// The two light passes (same mix, same few users, same length): straight to the
/// origin into `direct/`, then through the proxy into `proxied-light/`. Their
/// difference is the latency the proxy adds; comparing with the main attack instead
/// would mix in the load generator's and the origin's own queueing at full load.
async fn light_passes(
    setup: &Setup,
    cpus: Option<&[usize]>,
    origin: &Origin,
    proxy: SocketAddr,
    record: &mut Record,
) {
    let users = Some(LIGHT_PASS_USERS.min(setup.profile.users));
    let limit = Duration::from_secs(setup.direct_pass_s + 60);
    for (name, via) in [("direct", None), ("proxied-light", Some(proxy))] {
        let out = setup.run_dir.join(name);
        let cmd = attack_command(setup, users, cpus, origin, via, &out, setup.direct_pass_s);
        let log = setup.run_dir.join(format!("{name}.log"));
        if let Err(e) = children::run_to_end(name, cmd, log, limit).await {
            record.notes.push(format!("{name} pass failed: {e}"));
            return;
        }
    }
}

/// Starts everything, runs the optional direct pass and the attack, and collects the
/// samples into `record`. Every child dies when this returns or is dropped.
async fn orchestrate(
    setup: &Setup,
    args: &RunArgs,
    record: &mut Record,
    placement_out: &mut Option<Placement>,
) -> Result<(), RigError> {
    let placement = place(args, record);
    *placement_out = placement.clone();
    let lg_cpus = placement.as_ref().map(|p| p.loadgen_cpus.as_slice());
    let proxy_cpus = placement.as_ref().map(|p| p.proxy_cpus.as_slice());

    let mut rig = Rig::start(&RigSpec {
        run_dir: setup.run_dir.clone(),
        proxy_bin: setup.proxy_bin.clone(),
        base_config: setup.demo_config.clone(),
        redis_bin: setup.redis.then(|| args.redis_bin.clone()),
        overrides: toml::Table::new(),
        proxy_cpus: proxy_cpus.map(<[usize]>::to_vec),
        loadgen_cpus: lg_cpus.map(<[usize]>::to_vec),
        origin_threads: lg_cpus.map_or(2, <[usize]>::len),
        seed_redis: true,
        ready_timeout: Duration::from_secs(args.ready_timeout),
    })
    .await?;
    let listen = rig.listen;
    let redis_url = rig.redis_url();

    if setup.direct_pass_s > 0 {
        light_passes(setup, lg_cpus, &rig.origin, listen, record).await;
    }

    let duration_s = setup.profile.duration_s.ceil() as u64;
    let cmd = attack_command(
        setup,
        args.users,
        lg_cpus,
        &rig.origin,
        Some(listen),
        &setup.run_dir,
        duration_s,
    );
    let mut attack = ChildGuard::spawn(
        "loadgen attack",
        cmd,
        Some(setup.run_dir.join("loadgen.log")),
    )?;
    let (window, profile_window) = setup.windows();
    let settings = SamplerSettings {
        window,
        profile_window,
        planned_s: setup.profile.duration_s,
        progress: !args.quiet,
        ticks_per_second: crate::rig::sample::clock_ticks_per_second(),
        profile_dir: setup.run_dir.clone(),
        keep_perf_data: args.keep_perf_data,
    };
    let limit = Duration::from_secs(duration_s + 120);
    let status = sampler::sample_attack(
        &mut attack,
        rig.proxy_pid(),
        &rig.admin,
        &settings,
        limit,
        record,
    )
    .await?;
    match rig.admin.metrics().await {
        Ok(text) => record.metrics_end = Some(text),
        Err(e) => record.notes.push(format!("final metrics scrape: {e}")),
    }
    if let Some(status) = rig.proxy.try_exit_status() {
        return Err(RigError::ChildFailed {
            name: "filter-proxy".into(),
            status: format!("{status} during the run"),
            stderr: rig.proxy.stderr_tail(4000),
        });
    }
    if !status.success() {
        return Err(RigError::ChildFailed {
            name: "loadgen attack".into(),
            status: status.to_string(),
            stderr: attack.stderr_tail(4000),
        });
    }
    if setup.instructions > 0 {
        // The load's proxy is done; the counted copy gets its core.
        rig.proxy.stop();
        instruction_pass(setup, &rig.origin, redis_url.as_deref(), proxy_cpus).await?;
    }
    drop(rig);
    Ok(())
}

/// Counts the proxy's instructions per request (see `crate::instructions`) with a copy
/// of the run's proxy config on fresh ports, and records them in `run.json`.
async fn instruction_pass(
    setup: &Setup,
    origin: &Origin,
    redis_url: Option<&str>,
    proxy_cpus: Option<&[usize]>,
) -> Result<(), RigError> {
    let dir = crate::instructions::pass_dir(&setup.run_dir);
    let slow = crate::instructions::callgrind_timeouts();
    let config = launch::write_config(&ConfigSpec {
        base_config: &setup.demo_config,
        dir: &dir,
        origin: origin.addr(),
        redis_url,
        overrides: Some(&slow),
    })?;
    let count = crate::instructions::measure(&crate::instructions::PassSpec {
        requests: setup.instructions,
        warmup: (setup.instructions / 5).max(50),
        proxy_bin: setup.proxy_bin.clone(),
        config: config.path,
        listen: config.listen,
        admin: config.admin,
        profile: setup.profile_path.clone(),
        origin_ca: origin.ca_path().to_path_buf(),
        dir,
        cpus: proxy_cpus.map(<[usize]>::to_vec),
        ready_timeout: Duration::from_secs(180),
    })
    .await?;
    rundir::update_run_json(
        &setup.run_dir.join("run.json"),
        &setup.profile.name,
        |run| run.instructions = Some(Instructions::from(&count)),
    )
}

/// The harness's own start and end: the document's times when the attack wrote none.
struct RunTimes {
    started_at: String,
    ended_at: String,
}

/// Writes the artifacts and merges the harness's keys into `run.json` and its columns
/// into `timeseries.csv`.
fn finish(
    setup: &Setup,
    record: &Record,
    prov: &Provenance,
    times: &RunTimes,
    placement: Option<&Placement>,
    complete: bool,
    error: Option<&str>,
) -> Result<(), RigError> {
    let dir = &setup.run_dir;
    let write = |name: &str, text: &Option<String>| -> Result<(), RigError> {
        match text {
            Some(t) => rundir::write_atomic(&dir.join(name), t.as_bytes()),
            None => Ok(()),
        }
    };
    if let (Some(folded), Some(meta)) = (&record.cpu_folded, &record.cpu_profile_meta) {
        let profile = crate::rig::perf::CpuProfile {
            folded: folded.clone(),
            meta: meta.clone(),
        };
        crate::rig::perf::write_profile(dir, &profile)?;
        let title = format!("filter-proxy CPU, {} profile", setup.profile.name);
        let svg = flame::render_svg(folded, &title)?;
        rundir::write_atomic(&dir.join("flamegraph.svg"), &svg)?;
    }
    write("metrics-end.txt", &record.metrics_end)?;
    if !record.jemalloc_docs.is_empty() {
        let doc: Map<String, Value> = record.jemalloc_docs.iter().cloned().collect();
        let text = serde_json::to_vec_pretty(&doc).expect("JSON values always serialise");
        rundir::write_atomic(&dir.join("jemalloc.json"), &text)?;
    }
    if !record.ticks.is_empty() {
        rundir::merge_timeseries(&dir.join("timeseries.csv"), &record.ticks)?;
    }
    let (window, profile_window) = setup.windows();
    let peak_until = profile_window.map_or(f64::INFINITY, |p| p.start_s);
    let res = resources::summarise(
        &record.ticks,
        window,
        peak_until,
        record.alloc_before,
        record.alloc_after,
    );
    let cores = resources::loadgen_cores_busy(&record.ticks, window);
    let achieved = resources::rate_in_window(&record.ticks, window);
    let run_json = dir.join("run.json");
    let added = latency::proxy_added(&dir.join("proxied-light"), &dir.join("direct"));
    let report = HarnessReport {
        error: error.map(str::to_owned),
        notes: record.notes.clone(),
        loadgen_cores_busy: cores,
        proxy_achieved_rps: achieved,
        target_rps: setup.profile.target_rps,
        offered_in_window: None,
        redis_store: Some(setup.redis),
        direct_pass_s: Some(setup.direct_pass_s),
        profiled_window: Some(setup.window.into()),
        cpu_profile_window: profile_window.map(Into::into),
        top_self_frames: record
            .cpu_folded
            .as_deref()
            .map(|f| flame::top_self_frames(f, 15)),
        top_proxy_frames: record
            .cpu_folded
            .as_deref()
            .map(|f| flame::top_inclusive_frames(f, "filter_proxy::", 15)),
    };
    rundir::update_run_json(&run_json, &setup.profile.name, |run| {
        // Whether the load generator kept to its target is judged on its own count: the
        // proxy counts a CONNECT tunnel once however many requests the client sends
        // inside it, so the proxy's rate sits below the target by design.
        let sent = run.totals.as_ref().and_then(|t| t.rps).or(achieved);
        let saturated = resources::load_generator_saturated(cores, sent, setup.profile.target_rps);
        run.complete = Some(complete);
        run.provenance = Some(prov.clone());
        run.started_at
            .get_or_insert_with(|| times.started_at.clone());
        run.ended_at.get_or_insert_with(|| times.ended_at.clone());
        run.resources = Some(res);
        run.proxy_added_latency_us = added;
        run.load_generator_saturated = Some(saturated);
        run.placement = placement.cloned();
        run.steady_window = Some(window.into());
        run.stage_spans = Some(setup.profile.stages.clone());
        run.harness = Some(report);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_dir_is_the_ancestor_with_scenarios() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
        std::fs::create_dir_all(dir.path().join("profiles")).unwrap();
        let profile = dir.path().join("profiles/ci.toml");
        assert_eq!(repo_dir_of(&profile), dir.path());
    }
}
