//! A short capacity run against a deliberately slow origin: with 4 connections (or 4
//! users) and 50 ms per answer no driver can get past ~80 req/s whatever the machine, so
//! the knee of both paths is known in advance, and so are the cross-check's figures
//! (4 connections over 50 ms on both sides).

mod built;
mod faults_support;

use std::path::Path;

use faults_support::{profile_variant, proxy_bin, repo_root, ONE_RUN};
use loadgen::capacity::{self, CapacityArgs};

/// A capacity profile of two paths, 3 s steps, against an origin 50 ms slow.
fn slow_profile(dir: &Path) -> std::path::PathBuf {
    let root = repo_root();
    let text = format!(
        r#"name = "capacity-slow"
step_duration = "3s"
origin_delay_ms = 50

[slo]
p99 = "300ms"
error_budget = 0.01
min_achieved = 0.95

[[paths]]
name = "one-kib"
load_profile = "{ci}"
scenario_mix = "{one_kib}"
driver = "open-loop"
connections = 4
rates = [20, 40, 160, 320]

[[paths]]
name = "school-day"
load_profile = "{ci}"
driver = "goose"
connections = 4
rates = [20, 40, 160]
slo_classes = ["allowed", "blocked", "tunnel", "cors", "identity"]

[wrk]
path = "one-kib"
connections = 4
duration = "3s"
"#,
        ci = root.join("profiles/ci.toml").display(),
        one_kib = root.join("scenarios/one-kib.toml").display(),
    );
    let path = dir.join("capacity.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_origin_puts_both_knees_below_its_limit_and_wrk_agrees() {
    let _one = ONE_RUN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = capacity::execute(&CapacityArgs {
        profile: slow_profile(dir.path()),
        out: Some(out.clone()),
        step_seconds: None,
        proxy_bin: Some(proxy_bin()),
        proxy_config: Some(repo_root().join("scenarios/demo/proxy.toml")),
        no_pin: true,
        proxy_cores: None,
        no_wrk: false,
    })
    .await
    .expect("the capacity run is made");
    assert!(outcome.held);
    assert_eq!(outcome.paths.len(), 2);
    for (p, driver) in outcome.paths.iter().zip(["open-loop", "goose"]) {
        let summary: Vec<_> = p
            .steps
            .iter()
            .map(|s| (s.offered_rps, s.achieved_rps, s.p99_ms, s.broken.clone()))
            .collect();
        assert_eq!(p.knee(), Some(40.0), "{}: {summary:#?}", p.path.name);
        assert_eq!(p.steps.len(), 3, "the climb stops at the first broken step");
        assert!(!p.steps[2].held());
        for s in &p.steps {
            assert_eq!(s.driver, driver);
            assert!(s.cpu_us_per_request.is_some(), "CPU read from /proc: {s:?}");
            assert!(
                s.origin_cores_busy.is_some(),
                "the origin's threads are found"
            );
            assert!(s.proxy_fds.is_some() && s.proxy_rss_bytes.is_some());
        }
        // A slow origin, not the proxy's CPU, ends this climb, and the reading says so.
        let reading = &p.reading;
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
    }
    // The mix's SLO leaves the download class out of the p99.
    let mix = &outcome.paths[1];
    assert!(mix
        .steps
        .iter()
        .all(|s| s.p99_class.as_deref() != Some("download")));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("capacity.json")).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 2);
    assert_eq!(doc["paths"][0]["knee_rps"], 40.0);
    assert_eq!(doc["paths"][1]["driver"], "goose");
    assert_eq!(
        doc["paths"][0]["knee"]["bottleneck"]["kind"],
        "not-saturated"
    );
    let svg = std::fs::read_to_string(out.join("one-kib/capacity.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
    let md = std::fs::read_to_string(out.join("capacity.md")).unwrap();
    assert!(md.contains("## Path one-kib") && md.contains("Knee: 40 req/s"));
    // Both sides are held to 4 connections over 50 ms answers: they must agree.
    let check = outcome
        .cross_check
        .as_ref()
        .expect("the profile asks for it");
    if capacity::wrk::available() {
        let (w, d) = (check.wrk.unwrap(), check.driver.unwrap());
        assert_eq!(check.agree, Some(true), "{}: {check:?}", check.verdict());
        assert!(w.p50_ms >= 50.0 && d.p50_ms >= 50.0, "{check:?}");
        // Each side's CPU is recorded, and the reading is computed from it.
        for cpu in [check.wrk_cpu, check.driver_cpu] {
            let cpu = cpu.expect("each side's CPU is read");
            assert!(
                cpu.proxy_cores.is_some() && cpu.tool_cores.is_some(),
                "{cpu:?}"
            );
            assert!(cpu.origin_cores.is_some(), "{cpu:?}");
        }
        assert!(check.reading.iter().any(|l| l.starts_with("wrk: proxy")));
        assert!(md.contains("## Cross-check with wrk"));
        assert_eq!(doc["cross_check"]["agree"], true);
    } else {
        assert!(check
            .note
            .as_deref()
            .unwrap_or("")
            .contains("not installed"));
    }
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_variant(
        dir.path(),
        "capacity.toml",
        &[("rates = [500, 750,", "rates = [750, 500,")],
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
