//! A short capacity staircase against a deliberately slow origin: with 4 connections
//! and 50 ms per answer the open-loop driver cannot get past ~80 req/s whatever the
//! machine, so the knee is known in advance.

mod built;
mod faults_support;

use faults_support::{profile_variant, proxy_bin, repo_root, ONE_RUN};
use loadgen::capacity::{self, CapacityArgs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_origin_puts_the_knee_below_its_limit() {
    let _one = ONE_RUN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(
        dir.path(),
        "capacity.toml",
        &[
            ("connections = 256", "connections = 4\norigin_delay_ms = 50"),
            ("step_duration = \"8s\"", "step_duration = \"3s\""),
            (
                "rates = [250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 6000, 8000]",
                "rates = [20, 40, 160, 320]",
            ),
            ("p99 = \"50ms\"", "p99 = \"300ms\""),
        ],
    );
    let out = dir.path().join("run");
    let outcome = capacity::execute(&CapacityArgs {
        profile,
        out: Some(out.clone()),
        step_seconds: None,
        proxy_bin: Some(proxy_bin()),
        proxy_config: Some(repo_root().join("scenarios/demo/proxy.toml")),
        no_pin: true,
        proxy_cores: None,
    })
    .await
    .expect("the capacity run is made");
    let summary: Vec<_> = outcome
        .steps
        .iter()
        .map(|s| (s.offered_rps, s.achieved_rps, s.p99_ms, s.broken.clone()))
        .collect();
    assert_eq!(outcome.knee, Some(40.0), "{summary:#?}");
    assert!(outcome.held);
    assert_eq!(
        outcome.steps.len(),
        3,
        "the climb stops at the first broken step"
    );
    let broken = &outcome.steps[2];
    assert!(!broken.held());
    for s in &outcome.steps {
        assert_eq!(s.driver, "open-loop");
        assert!(s.cpu_us_per_request.is_some(), "CPU read from /proc: {s:?}");
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("capacity.json")).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["knee_rps"], 40.0);
    assert_eq!(doc["knee_reached"], true);
    // A slow origin, not the proxy's CPU, ends this climb, and the reading says so.
    let reading = &outcome.reading;
    assert!(
        matches!(
            reading.bottleneck,
            Some(capacity::step::Bottleneck::NotSaturated { .. })
        ),
        "{reading:?}"
    );
    assert!(reading
        .per_core_basis
        .as_deref()
        .unwrap_or("")
        .contains("an estimate"));
    assert_eq!(doc["knee"]["bottleneck"]["kind"], "not-saturated");
    let svg = std::fs::read_to_string(out.join("capacity.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    assert!(std::fs::read_to_string(out.join("capacity.md"))
        .unwrap()
        .contains("Knee: 40 req/s"));
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(
        dir.path(),
        "capacity.toml",
        &[("rates = [250, 500,", "rates = [500, 250,")],
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("capacity")
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rates: must be ascending"));
}
