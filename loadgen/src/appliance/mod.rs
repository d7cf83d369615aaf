//! Appliance runs: school traffic through the on-premise appliance (client -> appliance
//! -> proxy -> origin) while a RADIUS accounting stream tells the appliance who is
//! behind each address, measured against the same traffic sent straight to the proxy in
//! the same run.
//!
//! `loadgen run --profile profiles/appliance.toml` lands here when the profile has an
//! `[appliance]` table (see `main.rs`), so `make baseline PROFILE=appliance` needs nothing
//! new. The run starts the test origin (in-process, echoing the identity headers it
//! receives into every answer), the release `filter-proxy` with signed PROXY v2 ingress
//! trusted from 127.0.0.1, and `filter-proxy appliance` in explicit mode towards it;
//! registers every simulated user over RADIUS; then sends the open-loop traffic
//! ([`traffic`]) while Interim-Updates and churn sessions keep flowing ([`radius`]).
//! The result ([`results`]) is a run directory the reports read, with the latency the
//! appliance hop adds, identity correctness and the appliance's counters; the run fails
//! (non-zero exit, reasons in `run.json` and on stderr) when any request failed or any
//! answer through the appliance carried the wrong user or none.
//!
//! Modules: [`crate::profile::appliance`] (the profile's `[appliance]` table), [`users`] (names, groups,
//! addresses), [`configs`] (proxy and appliance configs), [`radius`], [`traffic`],
//! [`results`].

pub mod configs;
pub mod radius;
pub mod results;
pub mod traffic;
pub mod users;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use ::rundir::run::appliance::{RadiusCounts as RunRadius, Verdict};
use ::rundir::run::{
    ApplianceResults, HarnessReport, ProfileInfo, Resources, RunJson, SteadyWindow, Totals,
};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::corpus::{Addressing, Corpus};
use crate::harness::provenance;
use crate::harness::resources::AllocCounters;
use crate::harness::scrape;
use crate::harness::{rundir, RunArgs, RunOutcome};
use crate::mix::Mix;
use crate::origin::{self, OriginState};
use crate::output::{self, RunFacts};
use crate::profile::appliance::ApplianceSettings;
use crate::profile::Profile;
use crate::record::aggregate::Aggregator;
use crate::rig::admin::{alloc_counters, wait_ready, AdminClient};
use crate::rig::children::ChildGuard;
use crate::rig::config_gen::ProxyConfigSpec;
use crate::rig::launch::{self, ProxyConfig};
use crate::rig::redis::free_local_addr;
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, sample, RigError};

/// Whether `profile` asks for an appliance run (it has an `[appliance]` table). A
/// profile that does not load is left to the harness, which reports why.
pub fn wants(profile: &Path) -> bool {
    Profile::load(profile).is_ok_and(|p| p.appliance.is_some())
}

fn config_err(detail: impl std::fmt::Display) -> RigError {
    RigError::Config {
        detail: detail.to_string(),
    }
}

/// A free UDP port on 127.0.0.1 (for the RADIUS listener).
fn free_udp_addr() -> Result<SocketAddr, RigError> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map_err(|source| RigError::Io {
            what: "find a free UDP port".into(),
            cause: source,
        })
}

/// A fresh random key, hex (64 characters).
fn random_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write(path: &Path, text: &str) -> Result<(), RigError> {
    rundir::write_atomic(path, text.as_bytes())
}

/// Runs an appliance profile end to end; see the module documentation.
pub async fn run(args: RunArgs) -> Result<RunOutcome, RigError> {
    let started = SystemTime::now();
    let profile_path = paths::canonical_profile(&args.profile)?;
    let profile = Profile::load(&profile_path)
        .map_err(config_err)?
        .with_overrides(args.duration.map(Duration::from_secs), args.users);
    let settings = profile
        .appliance
        .clone()
        .ok_or_else(|| config_err("the profile has no [appliance] table"))?;
    let Some(rate) = profile.target_rate else {
        return Err(config_err(
            "an appliance profile needs target_rate (requests per second over both routes)",
        ));
    };
    let repo_dir = paths::repo_dir_of(&profile_path);
    let proxy_bin = paths::proxy_bin(args.proxy_bin.as_deref())?;
    let run_dir = paths::fresh_run_dir(
        args.out.as_deref(),
        &repo_dir,
        &profile.name,
        &provenance::compact_timestamp(started),
    )?;
    // Absolute: the generated configs name files in it and are read from elsewhere.
    let run_dir = std::fs::canonicalize(&run_dir).map_err(|source| RigError::Io {
        what: format!("resolve run directory {}", run_dir.display()),
        cause: source,
    })?;
    let run_json = run_dir.join("run.json");
    let prov = provenance::collect(&repo_dir, &proxy_bin);
    let started_at = provenance::rfc3339(started);
    rundir::update_run_json(&run_json, &profile.name, |run| {
        run.complete = Some(false);
        run.provenance = Some(prov.clone());
        run.started_at = Some(started_at.clone());
    })?;
    let name = profile.name.clone();

    let demo_config = paths::base_config(args.proxy_config.as_deref(), &repo_dir);
    let ctx = Ctx {
        repo_dir: std::fs::canonicalize(&repo_dir).unwrap_or(repo_dir),
        profile,
        settings,
        rate,
        run_dir: run_dir.clone(),
        proxy_bin,
        demo_config,
        ready_timeout: Duration::from_secs(args.ready_timeout),
        quiet: args.quiet,
    };
    let outcome = until_shutdown(orchestrate(&ctx)).await;
    let ended_at = provenance::rfc3339(SystemTime::now());
    // The harness's own times: the attack's view wrote the traffic's, and the run is
    // the whole of it.
    let tail = |run: &mut RunJson, error: Option<String>| {
        run.provenance = Some(prov.clone());
        run.started_at = Some(started_at.clone());
        run.ended_at = Some(ended_at.clone());
        if let Some(error) = error {
            run.complete = Some(false);
            run.harness = Some(HarnessReport {
                error: Some(error),
                ..HarnessReport::default()
            });
        }
    };
    let result = match outcome {
        None => {
            rundir::update_run_json(&run_json, &name, |run| {
                tail(run, Some("interrupted".into()));
            })?;
            return Ok(RunOutcome {
                run_dir,
                complete: false,
            });
        }
        Some(Err(e)) => {
            rundir::update_run_json(&run_json, &name, |run| tail(run, Some(e.to_string())))?;
            return Err(e);
        }
        Some(Ok(measured)) => measured,
    };
    let verdict = result.verdict.clone();
    let mut written = None;
    rundir::update_run_json(&run_json, &name, |run| {
        result.apply(run);
        tail(run, None);
        run.complete = Some(true);
        written = Some(run.clone());
    })?;
    if let Some(run) = &written {
        println!("{}", summary_line(run, &run_dir));
    }
    if !verdict.pass {
        return Err(config_err(format!(
            "appliance run {} failed its checks:\n  {}",
            run_dir.display(),
            verdict.reasons.join("\n  ")
        )));
    }
    Ok(RunOutcome {
        run_dir,
        complete: true,
    })
}

/// The run's resolved inputs.
struct Ctx {
    repo_dir: PathBuf,
    profile: Profile,
    settings: ApplianceSettings,
    rate: f64,
    run_dir: PathBuf,
    proxy_bin: PathBuf,
    demo_config: PathBuf,
    ready_timeout: Duration,
    quiet: bool,
}

/// What [`orchestrate`] hands back: the `run.json` sections it measured and the verdict.
struct Measured {
    profile: ProfileInfo,
    totals: Totals,
    resources: Resources,
    load_generator_saturated: bool,
    steady_window: SteadyWindow,
    harness: HarnessReport,
    appliance: ApplianceResults,
    verdict: Verdict,
}

impl Measured {
    /// Sets the measured sections over the attack's view of the run.
    fn apply(&self, run: &mut RunJson) {
        run.profile = self.profile.clone();
        run.totals = Some(self.totals.clone());
        run.resources = Some(self.resources);
        run.load_generator_saturated = Some(self.load_generator_saturated);
        run.steady_window = Some(self.steady_window);
        run.harness = Some(self.harness.clone());
        run.appliance = Some(self.appliance.clone());
    }
}

/// One-line summary printed at the end.
fn summary_line(run: &RunJson, dir: &Path) -> String {
    let a = run.appliance.clone().unwrap_or_default();
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    let count = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let added = a.added_latency_us.clone().unwrap_or_default();
    let id = a.identity.clone().unwrap_or_default();
    let radius = a.radius.clone().unwrap_or_default();
    let pass = a.verdict.as_ref().is_some_and(|v| v.pass);
    format!(
        "appliance run -> {}\n  added latency p50 {} µs, p99 {} µs; identity {} matched, {} mismatched, {} missing; RADIUS {} sent, {} acked; verdict {}",
        dir.display(),
        num(added.p50),
        num(added.p99),
        id.matched,
        id.mismatched,
        id.missing,
        count(radius.sent_total),
        count(radius.acked_total),
        if pass { "pass" } else { "FAIL" },
    )
}

fn cpu_ms(pid: u32, ticks: u64) -> Option<u64> {
    sample::cpu_ms(pid, ticks).ok()
}

/// The proxy's and the appliance's counters at one edge of the measured window.
struct Edge {
    proxy_cpu_ms: Option<u64>,
    appliance_cpu_ms: Option<u64>,
    /// The proxy's allocator counters and completed requests.
    alloc: AllocCounters,
    /// The proxy's open fds and threads.
    fds_threads: Option<(u64, u64)>,
}

async fn edge(admin: &AdminClient, proxy: u32, appliance: u32, ticks: u64) -> Edge {
    let mut alloc = admin
        .jemalloc()
        .await
        .map(|doc| alloc_counters(&doc))
        .unwrap_or_default();
    alloc.requests = admin
        .metrics()
        .await
        .ok()
        .and_then(|m| scrape::proxy_gauges(&m).requests_total);
    Edge {
        fds_threads: sample::sample_pid(proxy, ticks)
            .ok()
            .map(|s| (s.fds, s.threads)),
        proxy_cpu_ms: cpu_ms(proxy, ticks),
        appliance_cpu_ms: cpu_ms(appliance, ticks),
        alloc,
    }
}

fn peak_rss(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| sample::parse_status(&t).ok())
        .map(|s| s.hwm_bytes)
}

async fn orchestrate(ctx: &Ctx) -> Result<Measured, RigError> {
    let mix = Mix::load(&ctx.profile.scenario_mix).map_err(config_err)?;
    let corpus = Corpus::build(&mix, Addressing::Proxy).map_err(config_err)?;
    if !traffic::usable(&mix, &corpus) {
        return Err(config_err(
            "the scenario mix has none of browse_allowed, browse_blocked, cors_xhr, identity_check",
        ));
    }
    let users = users::make(ctx.profile.users, 0, "lg");
    let churn = users::make(ctx.settings.churn_users, ctx.profile.users, "churn");
    let mut parts = start_parts(ctx).await?;
    let stream = register(ctx, &parts, &users, &churn).await?;
    let driven = drive(ctx, &mut parts, &mix, corpus, &users, &churn, stream).await?;
    measured(ctx, &mix, &parts, &driven, &users, &churn)
}

/// Everything an appliance run starts: the in-process origin (stopped when this is
/// dropped), the proxy and the appliance (killed by their guards).
struct Parts {
    proxy: ChildGuard,
    proxy_admin: AdminClient,
    appliance: ChildGuard,
    appliance_admin: AdminClient,
    addrs: configs::ApplianceAddrs,
    /// The proxy's client-facing address.
    listen: SocketAddr,
    origin_addr: SocketAddr,
    /// The request header naming the user the proxy identified.
    user_header: String,
    origin_task: tokio::task::JoinHandle<Result<(), crate::origin::OriginError>>,
    origin_guard: OnDrop,
}

/// Writes the keys and configs, starts the echoing origin, the proxy and the appliance,
/// and waits until both answer `/readyz`.
async fn start_parts(ctx: &Ctx) -> Result<Parts, RigError> {
    let dir = &ctx.run_dir;
    // Keys: the proxy's, and the appliance's (a different one when the profile says so).
    let key = random_key();
    let proxy_key = dir.join("proxy.key");
    let appliance_key = dir.join("appliance.key");
    write(&proxy_key, &key)?;
    let appliance_key_text = if ctx.settings.wrong_hmac_key {
        random_key()
    } else {
        key
    };
    write(&appliance_key, &appliance_key_text)?;

    // Proxy config first: it names the identity headers the origin must echo.
    let listen = free_local_addr()?;
    let admin_addr = free_local_addr()?;
    let origin_listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|source| RigError::Io {
            what: "bind the test origin".into(),
            cause: source,
        })?;
    let origin_addr = origin_listener
        .local_addr()
        .map_err(|source| RigError::Io {
            what: "test origin address".into(),
            cause: source,
        })?;
    let demo_text = std::fs::read_to_string(&ctx.demo_config).map_err(|source| RigError::Io {
        what: format!("read the proxy config {}", ctx.demo_config.display()),
        cause: source,
    })?;
    let (proxy_text, [user_header, group_header]) = configs::proxy(
        &demo_text,
        ctx.demo_config.parent().unwrap_or(Path::new(".")),
        &ProxyConfigSpec {
            listen,
            admin_listen: admin_addr,
            origin: origin_addr,
            redis_url: None,
        },
        &proxy_key,
    )?;
    let proxy_config = dir.join("proxy.toml");
    write(&proxy_config, &proxy_text)?;

    let echo: Vec<http::HeaderName> = [&user_header, &group_header]
        .iter()
        .filter_map(|n| http::HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    let (origin_stop, origin_stopped) = oneshot::channel::<()>();
    let origin_task = tokio::spawn(origin::serve_with_state(
        origin_listener,
        None,
        OriginState::echoing(&echo),
        async {
            let _ = origin_stopped.await;
        },
    ));
    let origin_guard = OnDrop(Some(origin_stop));

    let (proxy, proxy_admin) = launch::start_proxy(
        &ctx.proxy_bin,
        &ProxyConfig {
            path: proxy_config,
            listen,
            admin: admin_addr,
        },
        None,
        dir.join("proxy.log"),
        ctx.ready_timeout,
    )
    .await?;

    let addrs = configs::ApplianceAddrs {
        listen: free_local_addr()?,
        radius: free_udp_addr()?,
        admin: free_local_addr()?,
    };
    let appliance_config = dir.join("appliance.toml");
    write(
        &appliance_config,
        &configs::appliance(&addrs, listen, &appliance_key, &ctx.settings),
    )?;
    let mut cmd = Command::new(&ctx.proxy_bin);
    cmd.arg("appliance").arg("--config").arg(&appliance_config);
    let mut appliance = ChildGuard::spawn(
        "filter-proxy appliance",
        cmd,
        Some(dir.join("appliance.log")),
    )?;
    let appliance_admin = AdminClient::new(addrs.admin)?;
    wait_ready(&appliance_admin, &mut appliance, ctx.ready_timeout).await?;

    Ok(Parts {
        proxy,
        proxy_admin,
        appliance,
        appliance_admin,
        addrs,
        listen,
        origin_addr,
        user_header,
        origin_task,
        origin_guard,
    })
}

/// Registers every user (traffic and churn) over RADIUS before the first request.
async fn register(
    ctx: &Ctx,
    parts: &Parts,
    users: &[users::SimUser],
    churn: &[users::SimUser],
) -> Result<radius::RadiusStream, RigError> {
    let all_users: Vec<users::SimUser> = users.iter().chain(churn).cloned().collect();
    let mut stream = radius::RadiusStream::connect(
        parts.addrs.radius,
        &ctx.settings.secret,
        ctx.settings.radius_rate,
        all_users.len(),
    )
    .await
    .map_err(|source| RigError::Io {
        what: "open the RADIUS socket".into(),
        cause: source,
    })?;
    let register_wait = Duration::from_secs(10);
    let t0 = Instant::now();
    stream.start_all(users, register_wait).await;
    if !ctx.quiet {
        let c = stream.counts();
        eprintln!(
            "appliance run: {} of {} users registered over RADIUS in {:.1} s",
            c.acked.get("start").copied().unwrap_or(0),
            users.len(),
            t0.elapsed().as_secs_f64()
        );
    }

    Ok(stream)
}

/// What the traffic and the RADIUS stream produced, with the counters at the edges of the
/// measured window.
struct Driven {
    tally: traffic::TrafficTally,
    cpu_start: (Edge, Instant),
    cpu_end: (Edge, Instant),
    traffic_started: SystemTime,
    traffic_ended: SystemTime,
    radius_counts: radius::RadiusCounts,
    proxy_metrics: String,
    appliance_metrics: String,
    peak_rss_bytes: Option<u64>,
}

/// Sends the traffic while Interim-Updates flow, reads the counters at the edges of the
/// measured window, then stops the stream and the origin and checks both children lived.
async fn drive(
    ctx: &Ctx,
    parts: &mut Parts,
    mix: &Mix,
    corpus: Corpus,
    users: &[users::SimUser],
    churn: &[users::SimUser],
    mut stream: radius::RadiusStream,
) -> Result<Driven, RigError> {
    let dir = &ctx.run_dir;
    let all_users: Vec<users::SimUser> = users.iter().chain(churn).cloned().collect();
    let ticks = sample::clock_ticks_per_second();
    let plan = traffic::TrafficPlan {
        appliance: parts.addrs.listen,
        proxy: parts.listen,
        rate: ctx.rate,
        duration: ctx.profile.duration,
        warmup: ctx.profile.warmup,
        timeout: mix.request_timeout.min(Duration::from_secs(10)),
        max_in_flight: 512,
        user_header: parts.user_header.clone(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let interval = ctx.settings.interim_interval;
    let traffic_users = users.len();
    let updates = async {
        stream
            .run_updates(&all_users, traffic_users, interval, stop_rx)
            .await;
        stream
    };
    let (proxy_pid, appliance_pid) = (parts.proxy.pid(), parts.appliance.pid());
    let proxy_admin = &parts.proxy_admin;
    let cpu_window = async {
        tokio::time::sleep(ctx.profile.warmup).await;
        (
            edge(proxy_admin, proxy_pid, appliance_pid, ticks).await,
            Instant::now(),
        )
    };
    let traffic_run = async {
        let t = traffic::run(&plan, mix, corpus, users).await;
        let _ = stop_tx.send(true);
        let end = (
            edge(proxy_admin, proxy_pid, appliance_pid, ticks).await,
            Instant::now(),
        );
        (t, end)
    };
    if !ctx.quiet {
        eprintln!(
            "appliance run: {:.0} req/s for {:.0} s (half through the appliance), {} RADIUS users + {} churn",
            ctx.rate,
            ctx.profile.duration.as_secs_f64(),
            users.len(),
            churn.len()
        );
    }
    let traffic_started = SystemTime::now();
    let ((tally, cpu_end), mut stream, cpu_start) = tokio::join!(traffic_run, updates, cpu_window);
    let traffic_ended = SystemTime::now();
    stream.stop_all(users, Duration::from_secs(5)).await;
    let radius_counts = stream.finish(Duration::from_secs(2)).await;

    let appliance_metrics = parts.appliance_admin.metrics().await.unwrap_or_default();
    let proxy_metrics = parts.proxy_admin.metrics().await.unwrap_or_default();
    write(&dir.join("appliance-metrics-end.txt"), &appliance_metrics)?;
    write(&dir.join("metrics-end.txt"), &proxy_metrics)?;
    for child in [&mut parts.proxy, &mut parts.appliance] {
        if let Some(status) = child.try_exit_status() {
            return Err(RigError::ChildFailed {
                name: child.name().to_owned(),
                status: format!("{status} during the run"),
                stderr: child.stderr_tail(4000),
            });
        }
    }
    let peak_rss_bytes = peak_rss(proxy_pid);
    parts.origin_guard.fire();
    let _ = (&mut parts.origin_task).await;

    Ok(Driven {
        tally,
        cpu_start,
        cpu_end,
        traffic_started,
        traffic_ended,
        radius_counts,
        proxy_metrics,
        appliance_metrics,
        peak_rss_bytes,
    })
}

/// Writes the attack's view of the run (the requests through the appliance, as every
/// attack writes its run directory).
fn write_attack_view(ctx: &Ctx, mix: &Mix, parts: &Parts, driven: &Driven) -> Result<(), RigError> {
    let dir = &ctx.run_dir;
    let (aggregator, samples) = Aggregator::spawn(ctx.profile.warmup);
    let _ = samples.send(driven.tally.through_samples.clone());
    drop(samples);
    let summary = aggregator.finish(Duration::from_secs(10));
    let facts = RunFacts {
        driver: "open-loop",
        profile: &ctx.profile,
        mix: Some(mix),
        proxy: Some(parts.addrs.listen.to_string()),
        origin: parts.origin_addr.to_string(),
        started: driven.traffic_started,
        ended: driven.traffic_ended,
        elapsed: Duration::from_secs_f64(driven.tally.elapsed_s),
        complete: true,
        offered_rps: Some(ctx.rate / 2.0),
        extra: ::rundir::run::DriverFacts {
            appliance_route: Some("classes, hist/ and timeseries.csv: requests through the appliance (half the offered rate); see appliance for the other half, straight to the proxy".into()),
            ..Default::default()
        },
        worker: None,
    };
    output::write_run_dir(dir, &facts, &summary).map_err(config_err)?;
    Ok(())
}

/// The `resources` object: the proxy's CPU and allocations per request over the measured
/// window, its peak RSS, fds and threads.
fn resources(driven: &Driven, measured_requests: u64) -> Resources {
    let (cpu_start, cpu_end) = (&driven.cpu_start, &driven.cpu_end);
    let (a0, a1) = (&cpu_start.0.alloc, &cpu_end.0.alloc);
    let delta = |f: fn(&AllocCounters) -> Option<f64>| Some(f(a1)? - f(a0)?);
    let proxy_requests = delta(|a| a.requests)
        .filter(|n| *n > 0.0)
        .unwrap_or(measured_requests as f64);
    let alloc_per = |f: fn(&AllocCounters) -> Option<f64>| delta(f).map(|d| d / proxy_requests);
    let proxy_cpu_per_request = match (cpu_start.0.proxy_cpu_ms, cpu_end.0.proxy_cpu_ms) {
        (Some(s), Some(e)) if e >= s && proxy_requests > 0.0 => {
            Some((e - s) as f64 * 1000.0 / proxy_requests)
        }
        _ => None,
    };
    let (start, end) = (cpu_start.0.fds_threads, cpu_end.0.fds_threads);
    Resources {
        proxy_cpu_us_per_request: proxy_cpu_per_request,
        allocs_per_request: alloc_per(|a| a.nmalloc),
        bytes_allocated_per_request: alloc_per(|a| a.bytes_allocated),
        peak_rss_bytes: driven.peak_rss_bytes.map(|b| b as f64),
        rss_slope_bytes_per_s: None,
        fds_start: start.map(|(f, _)| f as f64),
        fds: end.map(|(f, _)| f as f64),
        threads_max: start.zip(end).map(|(a, b)| a.1.max(b.1) as f64),
    }
}

/// CPU milliseconds between two readings per unit (µs per unit); `None` without both
/// readings or units.
fn per_unit(start: Option<u64>, end: Option<u64>, n: u64) -> Option<f64> {
    match (start, end) {
        (Some(s), Some(e)) if n > 0 && e >= s => Some((e - s) as f64 * 1000.0 / n as f64),
        _ => None,
    }
}

/// The run's `run.json` keys and its verdict, from what [`drive`] measured.
fn measured(
    ctx: &Ctx,
    mix: &Mix,
    parts: &Parts,
    driven: &Driven,
    users: &[users::SimUser],
    churn: &[users::SimUser],
) -> Result<Measured, RigError> {
    write_attack_view(ctx, mix, parts, driven)?;
    let dir = &ctx.run_dir;
    let Driven {
        tally,
        cpu_start,
        cpu_end,
        radius_counts,
        proxy_metrics,
        appliance_metrics,
        ..
    } = driven;
    let warmup_s = ctx.profile.warmup.as_secs_f64();
    let traffic = results::traffic_sections(dir, tally, ctx.rate, warmup_s)?;
    let measured_requests: u64 = tally
        .classes
        .values()
        .map(|c| c.latency.len() + c.failures)
        .sum();
    let (n_app, _) = tally.route_counts(traffic::Route::Appliance);
    let measured_app = tally
        .classes
        .iter()
        .filter(|((r, _), _)| *r == traffic::Route::Appliance)
        .map(|(_, c)| c.latency.len() + c.failures)
        .sum::<u64>();
    let window_s = cpu_end
        .1
        .saturating_duration_since(cpu_start.1)
        .as_secs_f64();
    let offered_in_window = ctx.rate * window_s;
    let achieved = measured_requests as f64 / window_s.max(0.001);
    // Saturated: the schedule itself fell behind (its lag, not the system's latency).
    let saturated = tally.late * 100 > tally.scheduled.max(1);
    let headers = results::proxy_protocol_counters(proxy_metrics);
    let verdict = results::verdict(tally, radius_counts, &headers, users.len() as u64);
    let counters = results::appliance_counters(appliance_metrics);
    let mut settings = serde_json::to_value(&ctx.profile).expect("a profile is plain data");
    // Repository-relative, so run.json (and a baseline made from it) names no machine path.
    if let Ok(mix) = std::fs::canonicalize(&ctx.profile.scenario_mix) {
        if let Ok(rel) = mix.strip_prefix(&ctx.repo_dir) {
            settings["scenario_mix"] = Value::from(rel.display().to_string());
        }
    }
    let appliance = ApplianceResults {
        radius: Some(RunRadius {
            users: users.len() as u64,
            churn_users: churn.len() as u64,
            sent: named(&radius_counts.sent),
            acked: named(&radius_counts.acked),
            sent_total: Some(radius_counts.sent_total()),
            acked_total: Some(radius_counts.acked_total()),
            unanswered: radius_counts.unanswered,
            bad_answers: Some(radius_counts.bad_answers),
            late: Some(radius_counts.late),
        }),
        appliance_metrics: Some(counters),
        proxy_protocol: Some(headers),
        appliance_cpu_us_per_connection: per_unit(
            cpu_start.0.appliance_cpu_ms,
            cpu_end.0.appliance_cpu_ms,
            measured_app,
        ),
        requests_through_appliance: Some(n_app),
        wrong_hmac_key: Some(ctx.settings.wrong_hmac_key),
        verdict: Some(verdict.clone()),
        ..traffic.appliance
    };
    Ok(Measured {
        profile: ProfileInfo {
            name: ctx.profile.name.clone(),
            settings,
        },
        totals: traffic.totals,
        resources: resources(driven, measured_requests),
        load_generator_saturated: saturated,
        steady_window: SteadyWindow {
            start: warmup_s,
            end: tally.elapsed_s.floor(),
        },
        harness: HarnessReport {
            error: None,
            notes: vec![
                "appliance run: plain-HTTP classes of the mix only (no CONNECT tunnels, no large downloads); a new connection per request".into(),
                "processes not pinned to CPUs".into(),
            ],
            target_rps: Some(ctx.rate),
            proxy_achieved_rps: Some(achieved),
            offered_in_window: Some(offered_in_window),
            ..HarnessReport::default()
        },
        appliance,
        verdict,
    })
}

/// Counts by name, as `run.json` keys them.
fn named(counts: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Stops the in-process origin when dropped (also when the run fails or is interrupted).
struct OnDrop(Option<oneshot::Sender<()>>);

impl OnDrop {
    /// Stops the origin now.
    fn fire(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.fire();
    }
}
