//! `perf-report canary` on real proxies: two filter-proxy processes on loopback serving
//! the same paced load, judged by direct scrapes of their `/metrics`.
//!
//! Identical builds (A/A) must pass; a canary slowed by the self-test knob (2 ms of CPU
//! and 5 ms of added delay per request, as `make gate-selftest` applies them) must not;
//! a canary whose requests take 5 ms longer must not; a canary offered only block pages
//! must not be judged at all. The sessions run one after the other in one test so that
//! no session's load disturbs another's.
//!
//! The knob runs inside the proxy's timed span, as a slower request path would, so the
//! slowed canary is caught both by CPU per request and by its own latency histogram. A
//! canary whose origin answers 5 ms late proves latency alone (no extra CPU).

mod canary_rig;

use std::process::Command;
use std::time::Duration;

use canary_rig::{machine_gates, mix, Load, Origin, Proxy, Stream};
use reports::canary::classify::Class;
use reports::canary::CanaryReport;

/// Intervals judged per session (the committed `min_intervals` is 8).
const INTERVALS: u32 = 12;
/// Seconds per interval.
const INTERVAL_S: u32 = 1;

/// Runs `perf-report canary` on the two proxies' endpoints while `streams` load them;
/// returns the exit code and the JSON report.
fn judge(control: &Proxy, canary: &Proxy, streams: &[Stream]) -> (i32, CanaryReport) {
    let out = tempfile::tempdir().expect("temp dir");
    // Bounded: the load stops when the judge returns, or after the window and a margin.
    let load = Load::start(
        streams,
        Duration::from_secs(u64::from(INTERVALS * INTERVAL_S) + 20),
    );
    // A second of load before the first scrape, so the first interval is a full one.
    std::thread::sleep(Duration::from_secs(1));
    let gates = machine_gates(out.path());
    let output = Command::new(env!("CARGO_BIN_EXE_perf-report"))
        .arg("canary")
        .arg("--gates")
        .arg(&gates)
        .args(["--interval", &INTERVAL_S.to_string()])
        .args(["--window", &(INTERVALS * INTERVAL_S).to_string()])
        .args(["--control", &control.metrics_url()])
        .args(["--canary", &canary.metrics_url()])
        .arg("--out")
        .arg(out.path())
        .output()
        .expect("run perf-report");
    drop(load);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().expect("perf-report exited");
    let text = std::fs::read_to_string(out.path().join("canary.json"))
        .unwrap_or_else(|e| panic!("no canary.json ({e}); exit {code}\n{stdout}\n{stderr}"));
    let report: CanaryReport = serde_json::from_str(&text).expect("canary.json parses");
    assert!(out.path().join("canary.md").exists());
    eprintln!("exit {code}\n{stdout}");
    (code, report)
}

fn class_of(report: &CanaryReport, metric: &str) -> Class {
    report
        .judgements
        .iter()
        .find(|j| j.metric == metric)
        .unwrap_or_else(|| panic!("{metric} not judged: {report:#?}"))
        .class
}

#[test]
fn a_a_passes_a_slowed_canary_does_not_and_easy_traffic_is_refused() {
    let origin = Origin::start(Duration::ZERO);
    let control = Proxy::start(origin.addr, &[]);

    // A/A: identical builds, identical load.
    let twin = Proxy::start(origin.addr, &[]);
    let streams = [mix(&control, 60.0, 20.0), mix(&twin, 60.0, 20.0)].concat();
    let (code, report) = judge(&control, &twin, &streams);
    assert_eq!(code, 0, "A/A must pass: {report:#?}");
    let decision = report.decision.as_ref().expect("judged");
    assert!(decision.score >= 95.0, "{decision:?}");
    assert_eq!(class_of(&report, "latency_p99_ms.all"), Class::Pass);
    assert_eq!(class_of(&report, "fail_open_ratio"), Class::Pass);
    drop(twin);

    // The gate's self-test slowdown on the canary: added latency and CPU per request.
    let slowed = Proxy::start(
        origin.addr,
        &[
            ("FILTER_PROXY_SELFTEST_DELAY_US", "5000"),
            ("FILTER_PROXY_SELFTEST_BURN_US", "2000"),
        ],
    );
    let streams = [mix(&control, 60.0, 20.0), mix(&slowed, 60.0, 20.0)].concat();
    let (code, report) = judge(&control, &slowed, &streams);
    assert_eq!(code, 1, "a slowed canary is a rollback: {report:#?}");
    assert_eq!(class_of(&report, "cpu_s_per_request"), Class::Rollback);
    assert_eq!(
        class_of(&report, "latency_p50_ms.allowed"),
        Class::Rollback,
        "the knob's delay is inside the proxy's timed span"
    );
    drop(slowed);

    // Requests 5 ms slower inside the timed span (its origin answers late).
    let late_origin = Origin::start(Duration::from_millis(5));
    let late = Proxy::start(late_origin.addr, &[]);
    let streams = [mix(&control, 60.0, 20.0), mix(&late, 60.0, 20.0)].concat();
    let (code, report) = judge(&control, &late, &streams);
    // Rollback or hotfix by the score: the tail metrics follow the median on some runs
    // and not on others on this machine; the median itself must be a rollback.
    assert!(
        matches!(code, 1 | 3),
        "a slower canary does not pass: {report:#?}"
    );
    assert_eq!(class_of(&report, "latency_p50_ms.allowed"), Class::Rollback);
    assert_eq!(class_of(&report, "latency_p50_ms.blocked"), Class::Pass);
    drop(late);

    // A canary offered only block pages (cheap, no origin) is not judged.
    let easy = Proxy::start(origin.addr, &[]);
    let streams = [mix(&control, 60.0, 20.0), mix(&easy, 0.0, 80.0)].concat();
    let (code, report) = judge(&control, &easy, &streams);
    assert_eq!(code, 2, "{report:#?}");
    assert!(report.decision.is_none());
    let why = report.not_comparable.as_deref().expect("a reason");
    assert!(why.contains("share of"), "{why}");
}
