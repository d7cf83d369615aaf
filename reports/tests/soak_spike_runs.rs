//! End to end: shortened soak and spike runs made by `loadgen run` (the real proxy,
//! origin, Redis and load generator), rendered by this crate; the reports must hold the
//! soak and spike sections with their plots, and the gated figures must be measured.
//!
//! The binaries are built from the current sources (a no-op when up to date) and copied
//! into a directory of this test, so a concurrent build cannot swap them mid-run.

mod common;

use common::parse_xml;
use reports::metrics::extract;
use reports::rundir::RunDir;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "../../loadgen/tests/built/mod.rs"]
mod built;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

/// `(loadgen, filter-proxy)`, built from the current sources (see `built`).
fn binaries() -> (PathBuf, PathBuf) {
    (
        built::workspace_bin("loadgen"),
        built::workspace_bin("filter-proxy"),
    )
}

/// Runs `loadgen run` on `profile` into `out` with `extra` arguments; panics with its
/// output when it fails.
fn loadgen_run(profile: &Path, out: &Path, extra: &[&str]) {
    let (loadgen, proxy) = binaries();
    let output = Command::new(loadgen)
        .arg("run")
        .arg("--profile")
        .arg(profile)
        .arg("--out")
        .arg(out)
        .arg("--proxy-bin")
        .arg(proxy)
        .arg("--proxy-config")
        .arg(repo_root().join("scenarios/demo/proxy.toml"))
        .args(["--quiet", "--no-cpu-profile", "--direct-pass", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run loadgen run");
    assert!(
        output.status.success(),
        "loadgen run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

fn read_svg(run: &RunDir, name: &str) -> common::Xml {
    let path = run.path.join("plots").join(name);
    parse_xml(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn a_shortened_soak_run_has_the_soak_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    loadgen_run(
        &repo_root().join("profiles/soak.toml"),
        &out,
        &["--duration", "40", "--users", "20"],
    );
    let run = RunDir::load(&out).unwrap();
    assert_eq!(run.run.profile.name, "soak");
    let ts = run.timeseries.as_ref().expect("a time series");
    for column in [
        "proxy_rss_bytes",
        "jemalloc_resident_bytes",
        "jemalloc_retained_bytes",
        "proxy_fds",
        "proxy_threads",
    ] {
        let points = ts.points(column).unwrap_or_default();
        assert!(
            points.len() >= 20 && points.iter().all(|p| p.1 > 0.0),
            "{column}: {} samples",
            points.len()
        );
    }
    let soak = reports::soak::summarise(&run).expect("soak figures");
    assert_eq!(soak.memory.len(), 3);
    assert!(soak.memory.iter().all(|t| t.per_hour.is_some()));
    let metrics = extract(&run);
    for key in [
        "rss_slope_upper_mb_per_h",
        "alloc_resident_slope_upper_mb_per_h",
        "fd_growth",
        "thread_growth",
        "p99_drift_ratio.allowed",
    ] {
        assert!(
            metrics.contains_key(key),
            "{key} not measured: {metrics:#?}"
        );
    }

    let rendered = reports::render::render(&run).unwrap();
    let html = parse_xml(&std::fs::read_to_string(&rendered.html).unwrap());
    for heading in ["Soak", "Memory", "Descriptors and threads", "Latency drift"] {
        assert!(html.texts.iter().any(|t| t == heading), "no {heading}");
    }
    let memory = read_svg(&run, "soak_memory.svg");
    for label in ["RSS", "allocator resident", "allocator retained"] {
        assert!(memory.has_text(label), "memory plot lacks {label}");
    }
    assert!(memory.count("polyline") >= 3);
    let counts = read_svg(&run, "soak_fds_threads.svg");
    assert!(counts.has_text("open fds") && counts.has_text("threads"));
}

/// A tiny spike: 2 users, 10 users for 8 s, back to 2.
const TINY_SPIKE: &str = r#"
name = "spike"
description = "test: 2 users, a surge to 10 for 8 s, back to 2"
users = 10
duration = "30s"
warmup = "4s"
scenario_mix = "MIX"
policy_store = "memory"
profile_phases = ["spike"]

[ramp]
increase_rate = 10

[[stages]]
name = "calm"
users = 2
over = "12s"

[[stages]]
name = "surge"
users = 10
over = "2s"

[[stages]]
name = "spike"
users = 10
over = "6s"

[[stages]]
name = "recovery"
users = 2
over = "2s"

[[stages]]
name = "after"
users = 2
over = "8s"
"#;

#[test]
fn a_tiny_spike_run_has_the_spike_section() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("spike.toml");
    let mix = repo_root().join("scenarios/school-day.toml");
    std::fs::write(
        &profile,
        TINY_SPIKE.replace("MIX", &mix.display().to_string()),
    )
    .unwrap();
    let out = dir.path().join("run");
    loadgen_run(&profile, &out, &[]);
    let run = RunDir::load(&out).unwrap();
    let stages: Vec<(String, f64, f64)> = run
        .run
        .stages()
        .into_iter()
        .map(|s| (s.name, s.start_s, s.end_s))
        .collect();
    let names: Vec<&str> = stages.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["calm", "surge", "spike", "recovery", "after"]);
    assert_eq!((stages[1].1, stages[2].2), (12.0, 20.0));

    let spike = reports::spike::summarise(&run).expect("spike figures");
    assert_eq!(
        (spike.phases.surge.start, spike.phases.surge.end),
        (12.0, 20.0)
    );
    assert!(spike.surge.requests > 0.0 && spike.before.requests > 0.0);
    let recovery = spike.recovery.expect("a recovery figure");
    assert!(
        (0.0..=10.0).contains(&recovery.seconds),
        "recovery {} s outside the 10 s after the surge",
        recovery.seconds
    );
    let metrics = extract(&run);
    assert_eq!(
        metrics["spike_recovery_s"].point,
        Some(recovery.seconds),
        "the gated metric is the reported figure"
    );

    let rendered = reports::render::render(&run).unwrap();
    let html = parse_xml(&std::fs::read_to_string(&rendered.html).unwrap());
    for heading in ["Spike", "Errors", "Latency", "Recovery"] {
        assert!(html.texts.iter().any(|t| t == heading), "no {heading}");
    }
    assert!(html.has_text("Recovery time:"));
    let svg = read_svg(&run, "spike_p99.svg");
    assert!(svg.has_text("recovery threshold") && svg.has_text("surge"));
}
