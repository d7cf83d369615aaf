//! Connection-storm runs: the school-start storm, thousands of Chromebooks connecting to
//! the proxy within seconds, measured for what a fleet is sized by: how fast the proxy
//! accepts them, what the pupils already browsing see meanwhile, what the connection cap
//! refuses, and what each idle connection costs (live heap, RSS, fds).
//!
//! `loadgen run --profile profiles/connections.toml` lands here when the profile has a
//! `[connections]` table (see `main.rs`), so `make baseline PROFILE=connections` needs
//! nothing new. The rig starts the test origin and the release proxy (pinned to its own
//! core where there are two), with its connection cap set to exactly the storm's
//! connections plus the active users, and the run:
//! 1. raises the fd limit of this process, which the proxy inherits (a storm of 8,000
//!    connections needs about 10,000 fds on each side; the default soft limit is 1,024);
//! 2. starts the active users ([`active`]) and the sampler ([`samples`]);
//! 3. opens the idle keep-alive connections over the ramp, then the idle tunnels
//!    ([`open`]), each from a 127.0.0.0/8 source address so ephemeral ports never run
//!    out; holds them; then tries connections beyond the cap, which must be refused;
//! 4. fits each cost as a least-squares slope over (open connections, value) samples of
//!    the phase that opened that kind ([`slope`]), with its 95% interval, and writes
//!    `run.json` → `connections` and `connection-samples.csv`.
//!
//! Why slopes over the ramp rather than one before/after difference: the proxy's heap
//! moves with what is in flight (requests, the sampler's own scrapes); dozens of samples
//! along a ramp of thousands of connections average that out, and the interval says how
//! well.
//!
//! `loadgen storm` ([`storm`]) makes the same storm against a proxy already running
//! (Squid, for comparison) and fits RSS and fds over the connections the client holds, the
//! one method every proxy allows.
//!
//! Why the proxy's `server.header_read_timeout` is raised for the run: hyper starts its
//! head timer as soon as a keep-alive connection waits for its next request, so the
//! shipped 10 s closes an idle keep-alive connection after 10 s. The storm holds them
//! longer to measure what they cost while open; the run's notes say so.

pub mod active;
pub mod fd_limit;
pub mod fit;
pub mod open;
pub mod samples;
pub mod slope;
pub mod storm;
pub mod storm_error;
pub mod storm_report;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ::rundir::run::connections::{ActiveUsers, ConnectionKind, ConnectionResults, Refusals};
use ::rundir::run::{HarnessReport, Percentiles, ProfileInfo, Resources, RunJson, Totals};
use tokio::sync::watch;

use crate::harness::{provenance, rundir, scrape, RunArgs, RunOutcome};
use crate::profile::connections::ConnectionSettings;
use crate::profile::Profile;
use crate::rig::pin;
use crate::rig::signal::until_shutdown;
use crate::rig::{paths, Rig, RigError, RigSpec};

use self::fit::{costs, kind_of};
use self::open::Kind;
use self::samples::{Phase, Sample};

/// The samples file in the run directory.
pub const SAMPLES_FILE: &str = "connection-samples.csv";

/// Whether `profile` asks for a connection storm (it has a `[connections]` table). A
/// profile that does not load is left to the harness, which reports why.
pub fn wants(profile: &Path) -> bool {
    Profile::load(profile).is_ok_and(|p| p.connections.is_some())
}

fn config_err(detail: impl std::fmt::Display) -> RigError {
    RigError::Config {
        detail: detail.to_string(),
    }
}

/// Runs a connections profile end to end; see the module documentation.
pub async fn run(args: RunArgs) -> Result<RunOutcome, RigError> {
    let started = SystemTime::now();
    let profile_path = paths::canonical_profile(&args.profile)?;
    let profile = Profile::load(&profile_path)
        .map_err(config_err)?
        .with_overrides(args.duration.map(Duration::from_secs), args.users);
    let settings = profile
        .connections
        .clone()
        .ok_or_else(|| config_err("the profile has no [connections] table"))?;
    let repo_dir = paths::repo_dir_of(&profile_path);
    let proxy_bin = paths::proxy_bin(args.proxy_bin.as_deref())?;
    let run_dir = paths::fresh_run_dir(
        args.out.as_deref(),
        &repo_dir,
        &profile.name,
        &provenance::compact_timestamp(started),
    )?;
    let run_json = run_dir.join("run.json");
    let prov = provenance::collect(&repo_dir, &proxy_bin);
    let started_at = provenance::rfc3339(started);
    rundir::update_run_json(&run_json, &profile.name, |run| {
        run.complete = Some(false);
        run.provenance = Some(prov.clone());
        run.started_at = Some(started_at.clone());
    })?;
    let spec = RigSpec {
        run_dir: run_dir.clone(),
        proxy_bin,
        base_config: paths::base_config(args.proxy_config.as_deref(), &repo_dir),
        redis_bin: None,
        overrides: overrides(&settings, profile.users),
        proxy_cpus: None,
        loadgen_cpus: None,
        origin_threads: 1,
        seed_redis: false,
        ready_timeout: Duration::from_secs(args.ready_timeout),
    };
    let outcome = until_shutdown(orchestrate(&profile, &settings, spec, args.no_pin)).await;
    let ended_at = provenance::rfc3339(SystemTime::now());
    let (measured, error) = match outcome {
        None => (None, Some("interrupted".to_owned())),
        Some(Err(e)) => (None, Some(e.to_string())),
        Some(Ok(m)) => (Some(m), None),
    };
    let complete = measured.is_some();
    rundir::update_run_json(&run_json, &profile.name, |run| {
        run.provenance = Some(prov.clone());
        run.started_at = Some(started_at.clone());
        run.ended_at = Some(ended_at.clone());
        run.complete = Some(complete);
        run.driver = Some("connections".into());
        run.route = Some("proxy".into());
        run.profile = ProfileInfo {
            name: profile.name.clone(),
            settings: serde_json::to_value(&profile).unwrap_or_default(),
        };
        match &measured {
            Some(m) => m.apply(run),
            None => {
                run.harness = Some(HarnessReport {
                    error: error.clone(),
                    ..HarnessReport::default()
                });
            }
        }
    })?;
    if let Some(m) = &measured {
        samples::write_csv(&run_dir.join(SAMPLES_FILE), &m.samples)?;
        println!("{}", summary(&m.results, &run_dir));
    }
    match error {
        Some(e) if e != "interrupted" => Err(config_err(format!(
            "connections run {} failed: {e}",
            run_dir.display()
        ))),
        _ => Ok(RunOutcome { run_dir, complete }),
    }
}

/// The proxy settings the storm changes: the cap set to exactly what the storm holds, and
/// the head timer long enough to keep idle keep-alive connections for the whole storm.
fn overrides(settings: &ConnectionSettings, users: u64) -> toml::Table {
    let cap = settings.keep_alive + settings.tunnels + users;
    let timeout = settings.storm_time() + Duration::from_secs(30);
    let mut server = toml::Table::new();
    server.insert("max_connections".into(), toml::Value::Integer(cap as i64));
    server.insert(
        "header_read_timeout".into(),
        toml::Value::String(format!("{}s", timeout.as_secs())),
    );
    let mut table = toml::Table::new();
    table.insert("server".into(), toml::Value::Table(server));
    table
}

/// What a storm measured.
struct Measured {
    results: ConnectionResults,
    samples: Vec<Sample>,
    notes: Vec<String>,
    totals: Totals,
    peak_rss: Option<f64>,
}

impl Measured {
    fn apply(&self, run: &mut RunJson) {
        run.connections = Some(self.results.clone());
        run.totals = Some(self.totals.clone());
        run.resources = Some(Resources {
            peak_rss_bytes: self.peak_rss,
            ..Resources::default()
        });
        run.harness = Some(HarnessReport {
            notes: self.notes.clone(),
            ..HarnessReport::default()
        });
    }
}

/// The one-line summary printed at the end.
fn summary(r: &ConnectionResults, dir: &Path) -> String {
    let kind = |name: &str, k: &Option<ConnectionKind>| -> String {
        let Some(k) = k else {
            return format!("{name}: not measured");
        };
        let heap = k.heap_bytes.map_or_else(
            || "-".to_owned(),
            |s| format!("{:.0} B [{:.0}, {:.0}]", s.per_connection, s.lower, s.upper),
        );
        format!(
            "{name}: {} of {} opened at {:.0}/s, heap {heap} per connection",
            k.opened, k.planned, k.accept_rate_per_s
        )
    };
    let p99 = r
        .active
        .as_ref()
        .and_then(|a| a.latency_us)
        .and_then(|l| l.p99)
        .map_or_else(|| "-".to_owned(), |v| format!("{:.1} ms", v / 1000.0));
    let refused = r.refusals.as_ref().map_or_else(
        || "-".to_owned(),
        |x| format!("{} of {}", x.refused, x.attempted),
    );
    format!(
        "connections run -> {}\n  {}\n  {}\n  active users p99 {p99}; refused beyond the cap {refused}",
        dir.display(),
        kind("keep-alive", &r.keep_alive),
        kind("tunnels", &r.tunnel)
    )
}

async fn orchestrate(
    profile: &Profile,
    settings: &ConnectionSettings,
    mut spec: RigSpec,
    no_pin: bool,
) -> Result<Measured, RigError> {
    let mut notes = Vec::new();
    // Each side holds a socket per connection, the origin one per tunnel, plus slack.
    let want =
        (settings.keep_alive + settings.tunnels) * 2 + settings.beyond_cap + profile.users + 4_096;
    let limit = fd_limit::raise(want);
    if limit < want {
        notes.push(format!(
            "fd limit {limit}, below the {want} the storm needs: connections beyond it fail"
        ));
    }
    notes.push(format!(
        "proxy run with server.max_connections = {} (the storm exactly) and a header_read_timeout over the storm: the shipped 10 s closes idle keep-alive connections after 10 s",
        settings.keep_alive + settings.tunnels + profile.users
    ));
    if !no_pin {
        if let Some(placement) =
            pin::plan(&pin::allowed_cpus()).filter(|_| pin::taskset_available())
        {
            if pin::pin_process(std::process::id(), &placement.loadgen_cpus).is_ok() {
                spec.proxy_cpus = Some(placement.proxy_cpus.clone());
                spec.loadgen_cpus = Some(placement.loadgen_cpus.clone());
            }
        }
    }
    let rig = Rig::start(&spec).await?;
    let tls = crate::rig::origin::client_tls(rig.origin.ca_path())?;
    let proxy = rig.listen;
    let budget = profile.duration + Duration::from_secs(60);
    let deadline = Instant::now() + budget;

    let (phase_tx, phase_rx) = watch::channel(Phase::Idle);
    let (stop_tx, stop_rx) = watch::channel(false);
    let probe = samples::Probe {
        pid: rig.proxy_pid(),
        count: samples::Count::ProxyGauge(rig.admin.clone()),
        heap: Some(rig.admin.clone()),
    };
    let sampler = tokio::spawn(samples::run(
        probe,
        settings.sample_interval,
        phase_rx,
        stop_rx.clone(),
        deadline,
    ));
    let active = tokio::spawn(active::run(
        profile.users,
        settings.active_interval,
        proxy,
        stop_rx,
        deadline,
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let settle = Duration::from_secs(1);
    // The client-side count; this run's x-axis is the proxy's own gauge.
    let held = Arc::new(AtomicU64::new(0));
    let _ = phase_tx.send(Phase::KeepAlive);
    let keep_alive = open::ramp(
        Kind::KeepAlive,
        settings.keep_alive,
        0,
        settings.ramp,
        proxy,
        &tls,
        &held,
    )
    .await;
    tokio::time::sleep(settle).await;
    let _ = phase_tx.send(Phase::Tunnel);
    let tunnels = open::ramp(
        Kind::Tunnel {
            port: open::TUNNEL_PORT,
        },
        settings.tunnels,
        settings.keep_alive,
        settings.ramp,
        proxy,
        &tls,
        &held,
    )
    .await;
    tokio::time::sleep(settle).await;
    let _ = phase_tx.send(Phase::Hold);
    tokio::time::sleep(settings.hold).await;
    let _ = phase_tx.send(Phase::BeyondCap);
    let beyond = open::beyond_cap(settings.beyond_cap, proxy).await;
    let _ = stop_tx.send(true);
    let samples = sampler.await.unwrap_or_default();
    let measured_active = active
        .await
        .map_err(|e| config_err(format!("active users: {e}")))?;

    let metrics = rig.admin.metrics().await.unwrap_or_default();
    let parsed = scrape::parse(&metrics);
    let proxy_refused = scrape::sum_first(
        &parsed,
        &[
            "filter_proxy_client_connections_refused_total",
            "filter_proxy_client_connections_refused",
        ],
    );
    let peak_rss = std::fs::read_to_string(format!("/proc/{}/status", rig.proxy_pid()))
        .ok()
        .and_then(|t| crate::rig::sample::parse_status(&t).ok())
        .map(|s| s.hwm_bytes as f64);
    for (name, ramp) in [("keep-alive", &keep_alive), ("tunnel", &tunnels)] {
        if ramp.failed > 0 {
            notes.push(format!(
                "{name}: {} connections failed: {}",
                ramp.failed,
                ramp.reasons.join("; ")
            ));
        }
    }
    let mut ka = kind_of(settings.keep_alive, &keep_alive);
    costs(&samples, Phase::KeepAlive, &mut ka);
    let mut tu = kind_of(settings.tunnels, &tunnels);
    costs(&samples, Phase::Tunnel, &mut tu);
    drop(keep_alive);
    drop(tunnels);

    let results = ConnectionResults {
        keep_alive: Some(ka),
        tunnel: Some(tu),
        active: Some(ActiveUsers {
            users: profile.users,
            requests: measured_active.requests,
            failures: measured_active.failures,
            latency_us: Percentiles::of(&measured_active.latency_us),
        }),
        refusals: Some(Refusals {
            attempted: beyond.attempted,
            refused: beyond.refused,
            served: beyond.served,
            failed: beyond.failed,
            proxy_counted: proxy_refused.map(|v| v as u64),
        }),
        peak_connections: samples.iter().map(|s| s.connections as u64).max(),
        connection_cap: Some(settings.keep_alive + settings.tunnels + profile.users),
        samples_file: Some(SAMPLES_FILE.into()),
    };
    let totals = Totals {
        requests: measured_active.requests,
        failures: measured_active.failures,
        ..Totals::default()
    };
    drop(rig);
    Ok(Measured {
        results,
        samples,
        notes,
        totals,
        peak_rss,
    })
}
