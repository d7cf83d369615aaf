//! `perf-report canary` through the Prometheus HTTP API: Debian's `prometheus` scrapes three
//! real proxies on loopback every second (a control, an identical twin, and a canary
//! slowed by the self-test CPU burn) while they serve the same paced load; the judge then
//! reads the same window twice. The twin must not be rolled back nor fail a critical metric;
//! the slowed canary must be a rollback.
//! Skipped, with a message, where `prometheus` is not installed (`scripts/deps.sh`).

mod canary_rig;

use std::process::Command;
use std::time::Duration;

use canary_rig::{machine_gates, mix, Load, Origin, Prometheus, Proxy};
use reports::canary::classify::Class;
use reports::canary::CanaryReport;

/// Seconds judged, in 2-second intervals: an interval as long as the scrape interval
/// aliases (two steps read the same scrape, and the interval between them is empty).
const WINDOW_S: u64 = 20;

fn judge(prom: &Prometheus, canary_job: &str, dir: &std::path::Path) -> (i32, CanaryReport) {
    let out = dir.join(canary_job);
    let output = Command::new(env!("CARGO_BIN_EXE_perf-report"))
        .arg("canary")
        .arg("--gates")
        .arg(machine_gates(dir))
        .args(["--prometheus", &format!("http://{}", prom.addr)])
        .args(["--control", r#"job="control""#])
        .args(["--canary", &format!(r#"job="{canary_job}""#)])
        .args(["--interval", "2", "--window", &WINDOW_S.to_string()])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run perf-report");
    let code = output.status.code().expect("perf-report exited");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("exit {code}\n{stdout}\n{stderr}");
    let text = std::fs::read_to_string(out.join("canary.json"))
        .unwrap_or_else(|e| panic!("no canary.json ({e}); exit {code}\n{stderr}"));
    (
        code,
        serde_json::from_str(&text).expect("canary.json parses"),
    )
}

#[test]
fn through_prometheus_a_twin_passes_and_a_slowed_canary_is_a_rollback() {
    let origin = Origin::start(Duration::ZERO);
    let control = Proxy::start(origin.addr, &[]);
    let twin = Proxy::start(origin.addr, &[]);
    let slowed = Proxy::start(origin.addr, &[("FILTER_PROXY_SELFTEST_BURN_US", "2000")]);
    let jobs = [
        ("control", control.admin),
        ("twin", twin.admin),
        ("slowed", slowed.admin),
    ];
    let Some(prom) = Prometheus::start(&jobs) else {
        eprintln!("prometheus is not installed: skipped");
        return;
    };
    let streams = [
        mix(&control, 60.0, 20.0),
        mix(&twin, 60.0, 20.0),
        mix(&slowed, 60.0, 20.0),
    ]
    .concat();
    let load = Load::start(&streams, Duration::from_secs(WINDOW_S + 30));
    // The window plus the scrape before its first step and one after its last.
    std::thread::sleep(Duration::from_secs(WINDOW_S + 3));
    let dir = tempfile::tempdir().expect("temp dir");
    let (code, report) = judge(&prom, "twin", dir.path());
    let (slowed_code, slowed_report) = judge(&prom, "slowed", dir.path());
    drop(load);
    // The twin must never be rolled back, and no critical metric (CPU per request, errors,
    // fail-open, pool 503s, the whole p99) may fail it. A non-critical median may still
    // cross its widened line: three debug proxies, the origin, the load and Prometheus
    // share two cores, and in one CI run an identical twin's allowed median read +88%
    // (hotfix, score 84.6) while every critical metric passed. The target the judge is
    // held to is no false rollback; its calibration on release builds
    // (reports/canary-calibration.md) is where a false hotfix would show.
    assert_ne!(code, 1, "the twin is not rolled back: {report:#?}");
    assert!(matches!(code, 0 | 3), "the twin is judged: {report:#?}");
    for j in report.judgements.iter().filter(|j| j.rule.critical) {
        assert!(
            matches!(j.class, Class::Pass),
            "the twin fails a critical metric, {}: {report:#?}",
            j.metric
        );
    }
    assert!(report.traffic[0].intervals >= 8, "{:?}", report.traffic);
    assert_eq!(
        slowed_code, 1,
        "the slowed canary is a rollback: {slowed_report:#?}"
    );
}
