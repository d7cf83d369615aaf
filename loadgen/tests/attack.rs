//! Whole attacks, bounded to a few seconds: straight at the origin, through
//! the real proxy (in-process), and through a broken "proxy" whose wrong
//! answers must be counted as failures. Also checks run.json against its schema.

mod util;

use std::path::Path;
use std::time::Duration;

use loadgen::attack::{attack, AttackOptions, Driver};
use loadgen::origin::RunningOrigin;
use loadgen::record::Class;
use util::{start_yes_man, write_run_files, Proxy, ONE_ATTACK};

const ALL_SIX: &str = "browse_allowed = 1\nbrowse_blocked = 1\nhttps_tunnel = 1\ncors_xhr = 1\nidentity_check = 1\nlarge_download = 1";

fn options(profile: &Path, out: &Path, proxy: Option<std::net::SocketAddr>) -> AttackOptions {
    AttackOptions {
        profile: profile.to_path_buf(),
        proxy,
        origin: None,
        out: out.to_path_buf(),
        duration: None,
        users: None,
        driver: Driver::Goose,
        rate: None,
        quiet: true,
    }
}

fn check_schema(run_json: &serde_json::Value) {
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../rundir/schemas/run.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(run_json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "run.json does not match its schema: {errors:#?}"
    );
    let typed =
        rundir::run::RunJson::from_json(run_json.clone()).expect("the reports can read run.json");
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        run_json,
        "run.json is written in the layout it is read in: read and written again, it is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_real_proxy_every_class_is_answered_correctly() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(dir.path(), ALL_SIX, 12, 4, None);
    let origin = RunningOrigin::start().await.unwrap();
    let proxy = Proxy::start(origin.addr).await;
    let out = dir.path().join("run");
    let mut opts = options(&profile, &out, Some(proxy.addr));
    let ca = origin.write_ca(dir.path()).unwrap();
    opts.origin = Some(loadgen::attack::OriginAddrs {
        http: origin.addr,
        https: None,
        ca,
    });
    let report = attack(&opts).await.unwrap();
    proxy.stop().await;

    let s = &report.summary;
    for class in Class::ALL {
        let c = s.class(class);
        assert!(c.requests > 0, "{class:?}: no requests");
        assert_eq!(c.errors, 0, "{class:?}: {:?}", c.outcomes);
    }
    let doc = &report.run_json;
    assert_eq!(doc["route"], "proxy");
    assert_eq!(doc["totals"]["failures"], 0);
    check_schema(doc);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straight_at_the_origin_the_proxy_only_scenarios_are_skipped() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(dir.path(), ALL_SIX, 8, 3, Some(200.0));
    let out = dir.path().join("run");
    let report = attack(&options(&profile, &out, None)).await.unwrap();
    let s = &report.summary;
    for class in [Class::Allowed, Class::Tunnel, Class::Cors, Class::Download] {
        assert!(s.class(class).requests > 0, "{class:?}");
        assert_eq!(
            s.class(class).errors,
            0,
            "{class:?}: {:?}",
            s.class(class).outcomes
        );
    }
    assert_eq!(s.class(Class::Blocked).requests, 0);
    assert_eq!(s.class(Class::Identity).requests, 0);
    // Paced: every class has a coordinated-omission corrected histogram.
    assert!(s.class(Class::Allowed).corrected.is_some());

    let doc = &report.run_json;
    assert_eq!(doc["schema_version"], rundir::run::RUN_SCHEMA_VERSION);
    assert_eq!(doc["route"], "direct");
    assert_eq!(doc["totals"]["offered_rps"], 200.0);
    check_schema(doc);
    // Files: histograms round-trip and agree with run.json, the timeseries and Goose's report exist.
    let h = rundir::hdr::read(&out.join("hist/allowed.hdr")).unwrap();
    assert_eq!(
        h.len(),
        doc["classes"]["allowed"]["count"].as_u64().unwrap()
    );
    assert_eq!(
        h.value_at_quantile(0.99) as f64,
        doc["classes"]["allowed"]["ttlb_us"]["p99"]
            .as_f64()
            .unwrap()
    );
    assert!(out.join("hist/ttfb/allowed.hdr").is_file());
    assert!(out.join("hist/corrected/allowed.hdr").is_file());
    let ts = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().count() >= 3, "{ts}");
    assert!(out.join("goose-report.html").is_file());
    assert!(out.join("goose-report.json").is_file());
    assert!(out.join("origin-ca.pem").is_file());
    check_interval_log(&out, s);
}

/// The interval log, read back with the hdrhistogram crate's reader, holds each class's
/// requests of each second, as many as the per-second rows count.
fn check_interval_log(out: &Path, s: &loadgen::record::Summary) {
    let log = rundir::hlog::read(&out.join("hist/latency.hlog")).unwrap();
    assert!(log.start_time.is_some() && log.base_time.is_some());
    let mut counted = 0;
    for i in &log.intervals {
        let second = i.start.as_secs() as usize;
        let class = Class::ALL.iter().position(|c| c.as_str() == i.tag).unwrap();
        let row = s.rows.iter().find(|r| r.second as usize == second).unwrap();
        assert_eq!(
            i.histogram.len(),
            row.classes[class].requests,
            "{} second {second}",
            i.tag
        );
        counted += i.histogram.len();
    }
    let rows: u64 = s
        .rows
        .iter()
        .flat_map(|r| r.classes.iter().map(|c| c.requests))
        .sum();
    assert!(counted > 0);
    assert_eq!(counted, rows, "every second's requests are in the log");
}

/// Two workers of one open-loop run, started together in-process with a shared start:
/// each sends its half of the rate, browses as its own slice of the roster, says which
/// segment it was and that it was on time, and writes a schema-valid run.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_with_a_shared_start_split_the_rate_and_the_roster() {
    use loadgen::attack::{attack_as, StartAt, Worker};
    use loadgen::segment::Segment;
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(dir.path(), "browse_allowed = 1", 4, 3, Some(200.0));
    let start = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let start_at = StartAt::parse(&rundir::time::rfc3339(start)).unwrap();
    let run = |i: u64| {
        let out = dir.path().join(format!("w{i}"));
        let mut opts = options(&profile, &out, None);
        opts.driver = Driver::OpenLoop;
        let worker = Worker {
            segment: Segment::new(i, 2).unwrap(),
            start_at: Some(start_at.clone()),
        };
        async move { attack_as(&opts, &worker).await.unwrap() }
    };
    let (a, b) = tokio::join!(run(1), run(2));
    let mut ranges = Vec::new();
    for (i, r) in [(1, &a), (2, &b)] {
        check_schema(&r.run_json);
        let w = &r.run_json["worker"];
        assert_eq!(
            (w["index"].as_u64(), w["count"].as_u64()),
            (Some(i), Some(2))
        );
        assert_eq!(w["rate"], 100.0, "half the rate each");
        assert_eq!(w["users"], 2, "half the connections each");
        assert_eq!(w["late"], false, "{w}");
        assert_eq!(r.run_json["totals"]["offered_rps"], 100.0);
        let range = w["roster_range"].as_array().unwrap().clone();
        ranges.push((range[0].as_u64().unwrap(), range[1].as_u64().unwrap()));
        check_interval_log(&r.dir, &r.summary);
    }
    assert_eq!(
        ranges[0].1, ranges[1].0,
        "the roster slices meet and do not overlap"
    );
    assert!(ranges[0].0 < ranges[0].1 && ranges[1].0 < ranges[1].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_answering_200_where_403_is_expected_is_counted_as_failure() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(
        dir.path(),
        "browse_blocked = 1\nbrowse_allowed = 1",
        4,
        3,
        None,
    );
    let (fake, task) = start_yes_man().await;
    let out = dir.path().join("run");
    let report = attack(&options(&profile, &out, Some(fake))).await.unwrap();
    task.abort();
    let s = &report.summary;
    let blocked = s.class(Class::Blocked);
    assert!(blocked.requests > 0);
    assert_eq!(
        blocked.errors, blocked.requests,
        "every 200 for a blocked page is a failure"
    );
    let allowed = s.class(Class::Allowed);
    assert!(allowed.requests > 0);
    assert_eq!(
        allowed.errors, allowed.requests,
        "a 2-byte body for a sized page is a failure"
    );
    let kinds = &report.run_json["errors_by_kind"];
    assert_eq!(kinds["status"].as_u64(), Some(blocked.requests));
    assert_eq!(kinds["body"].as_u64(), Some(allowed.requests));
}

#[tokio::test]
async fn a_bad_profile_is_rejected_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(dir.path(), "browse_allowed = 1", 2, 2, None);
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("users = 2", "users = 2\nramp_up = 3");
    std::fs::write(&profile, text).unwrap();
    let err = attack(&options(&profile, &dir.path().join("run"), None))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ramp_up"), "{err}");
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_driver_keeps_to_its_schedule_and_records_corrected_latency() {
    let _one = ONE_ATTACK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = write_run_files(dir.path(), "browse_allowed = 1", 16, 3, Some(200.0));
    let out = dir.path().join("run");
    let mut opts = options(&profile, &out, None);
    opts.driver = Driver::OpenLoop;
    let report = attack(&opts).await.unwrap();
    let s = &report.summary;
    let allowed = s.class(Class::Allowed);
    assert!(allowed.requests > 0);
    assert_eq!(allowed.errors, 0, "{:?}", allowed.outcomes);
    // Requests are scheduled, never more than rate x duration of them.
    assert!(
        allowed.requests + s.warmup_samples <= 600,
        "{}",
        allowed.requests
    );
    assert_eq!(
        allowed.corrected.as_ref().map(|h| h.len()),
        Some(allowed.requests)
    );
    assert_eq!(report.run_json["driver"], "open-loop");
    check_schema(&report.run_json);
}
