//! `loadgen attack`: one run of a profile against the proxy (or straight at
//! the origin), written to a run directory.
//!
//! Loads and validates the profile and its scenario mix, starts an
//! in-process origin unless one is given, builds the corpus and roster,
//! configures Goose programmatically (no CLI parsing, no controllers), runs
//! it, then merges the users' recordings and writes the run directory.
//!
//! # Layout
//! - this file: the entry point ([`attack`]), the origin in use, and the Goose driver.
//! - [`plan`]: what an attack is asked to do and what it returns (options, report, errors),
//!   shared with the drivers.
//! - [`open_loop`]: the open-loop driver, which this file calls.
//! - [`worker`]: a worker's slice of a distributed run (`--segment`) and the shared
//!   start (`--start-at`) both drivers wait for.

pub mod open_loop;
pub mod plan;
pub mod worker;

pub use plan::{AttackError, AttackOptions, AttackReport, Driver, OriginAddrs};
pub use worker::{StartAt, Worker};

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use rundir::run::{DriverFacts, GooseTotals};

use crate::corpus::{Addressing, Corpus};
use crate::mix::Mix;
use crate::origin::RunningOrigin;
use crate::output::{self, files, RunFacts};
use crate::profile::Profile;
use crate::record::Aggregator;
use crate::roster::Roster;
use crate::scenarios::{self, Route, RunContext};

/// The origin a run uses: given, or started here (stopped at the end).
struct OriginInUse {
    addrs: OriginAddrs,
    own: Option<RunningOrigin>,
}

async fn origin_in_use(opts: &AttackOptions) -> Result<OriginInUse, AttackError> {
    if let Some(given) = &opts.origin {
        return Ok(OriginInUse {
            addrs: given.clone(),
            own: None,
        });
    }
    let own = RunningOrigin::start().await?;
    let ca = own.write_ca(&opts.out)?;
    Ok(OriginInUse {
        addrs: OriginAddrs {
            http: own.addr,
            https: Some(own.tls_addr),
            ca,
        },
        own: Some(own),
    })
}

/// Runs one attack (the whole load, starting when ready) and writes its run directory.
pub async fn attack(opts: &AttackOptions) -> Result<AttackReport, AttackError> {
    attack_as(opts, &Worker::whole()).await
}

/// Runs `worker`'s slice of an attack and writes its run directory. The overrides
/// (`--users`, `--rate`) describe the whole run; the worker takes its segment of them.
pub async fn attack_as(opts: &AttackOptions, worker: &Worker) -> Result<AttackReport, AttackError> {
    let profile = Profile::load(&opts.profile)?
        .with_overrides(opts.duration, opts.users)
        .segment(worker.segment)?;
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| AttackError::Setup(format!("creating {}: {e}", opts.out.display())))?;
    let origin = origin_in_use(opts).await?;
    let result = match opts.driver {
        Driver::Goose => run_goose(opts, worker, &profile, &origin.addrs).await,
        Driver::OpenLoop => open_loop::attack(opts, worker, &profile, &origin.addrs).await,
    };
    if let Some(own) = origin.own {
        own.stop().await?;
    }
    result
}

async fn run_goose(
    opts: &AttackOptions,
    worker: &Worker,
    profile: &Profile,
    origin: &OriginAddrs,
) -> Result<AttackReport, AttackError> {
    let mix = Mix::load(&profile.scenario_mix)?;
    let addressing = match opts.proxy {
        Some(_) => Addressing::Proxy,
        None => Addressing::Direct {
            http: origin.http,
            https: origin.https.unwrap_or(origin.http),
        },
    };
    let corpus = Corpus::build(&mix, addressing)?;
    let (roster, roster_range) =
        Roster::load(&mix.roster, mix.roster_seed)?.segment(worker.segment)?;
    let ca_pem = std::fs::read(&origin.ca).map_err(|e| {
        AttackError::Setup(format!(
            "reading the origin CA {}: {e}",
            origin.ca.display()
        ))
    })?;
    let pace_interval = profile
        .target_rate
        .map(|rate| Duration::from_secs_f64(profile.users as f64 / rate));
    let (aggregator, samples) = Aggregator::spawn(profile.warmup);
    let groups = roster.group_counts();
    let started = worker.start().await?;
    let ctx = Arc::new(RunContext {
        route: opts.proxy.map_or(Route::Direct, Route::Proxy),
        corpus,
        roster,
        ca_pem,
        request_timeout: mix.request_timeout,
        cors_origin: http::HeaderValue::from_str(&mix.cors_origin)
            .map_err(|e| AttackError::Setup(format!("cors.page_origin: {e}")))?,
        pace_interval,
        clock: started.clock,
        samples,
        next_identity: AtomicUsize::new(0),
    });

    let mut config = GooseConfiguration::default();
    config.host = Some(format!("http://{}", origin.http));
    config.no_telnet = true;
    config.no_print_metrics = opts.quiet;
    config.no_error_summary = opts.quiet;
    config.quiet = u8::from(opts.quiet);
    config.report_file = output::goose_report_paths(&opts.out)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    config.timeout = Some(format!("{}", mix.request_timeout.as_secs_f64()));
    let plan = profile.goose_test_plan();
    let mut goose = *GooseAttack::initialize_with_config(config)?
        .set_default(GooseDefault::TestPlan, plan.as_str())?;
    let (built, users_per_scenario) = scenarios::build(&ctx, &mix, profile.users)?;
    for scenario in built {
        goose = goose.register_scenario(scenario);
    }
    let skipped: Vec<&String> = mix
        .weights
        .iter()
        .filter(|(n, w)| **w > 0 && !scenarios::runnable(n, ctx.proxied()))
        .map(|(n, _)| n)
        .collect();
    if !skipped.is_empty() {
        tracing::warn!(
            ?skipped,
            "direct run: scenarios that need the proxy are skipped"
        );
    }

    let goose_result = goose.execute().await;
    let elapsed = started.clock.start.elapsed();
    let ended_wall = SystemTime::now();
    drop(ctx);
    let summary = tokio::task::spawn_blocking(move || aggregator.finish(Duration::from_secs(3)))
        .await
        .map_err(|e| AttackError::Setup(format!("collecting samples: {e}")))?;

    let mut extra = DriverFacts {
        roster_groups: groups.into_iter().map(|(g, n)| (g, n as u64)).collect(),
        skipped_scenarios: skipped.into_iter().cloned().collect(),
        users_per_scenario: users_per_scenario.iter().cloned().collect(),
        ..DriverFacts::default()
    };
    let complete = match &goose_result {
        Ok(metrics) => {
            let (ok, failed) = metrics
                .requests
                .values()
                .fold((0, 0), |(s, f), r| (s + r.success_count, f + r.fail_count));
            extra.goose = Some(GooseTotals {
                requests: (ok + failed) as u64,
                failures: failed as u64,
                duration_s: metrics.duration as u64,
            });
            true
        }
        Err(e) => {
            extra.goose_error = Some(e.to_string());
            false
        }
    };
    let facts = RunFacts {
        driver: "goose",
        profile,
        mix: Some(&mix),
        proxy: opts.proxy.map(|p| p.to_string()),
        origin: origin.http.to_string(),
        started: started.wall,
        ended: ended_wall,
        elapsed,
        complete,
        offered_rps: profile.target_rate,
        extra,
        worker: worker.facts(
            &started,
            profile.users,
            profile.target_rate,
            Some(roster_range),
        ),
    };
    let run_json = output::write_run_dir(&opts.out, &facts, &summary)?;
    if let Err(e) = goose_result {
        return Err(AttackError::Goose(format!(
            "{e} (partial run directory written to {})",
            opts.out.join(files::RUN_JSON).display()
        )));
    }
    Ok(AttackReport {
        dir: opts.out.clone(),
        run_json,
        summary,
    })
}
