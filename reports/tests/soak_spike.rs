//! Soak and spike figures on synthetic runs with known shapes: the gate rules on leaks,
//! fd growth and spike recovery decide as written in `baselines/gates.toml`, and the
//! report's soak and spike sections hold their tables and plots.

mod common;

use common::{committed_gates, parse_xml, run_dir};
use reports::fixtures::Fixture;
use reports::gate;
use reports::metrics::extract;
use reports::rules::{Gates, Verdict};
use reports::rundir::RunDir;
use rundir::baseline::MetricSet;

/// Replaces (or adds) `column` of the run's `timeseries.csv` with `f(second)`.
fn set_column(dir: &std::path::Path, column: &str, f: impl Fn(f64) -> f64) {
    let path = dir.join("timeseries.csv");
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let mut headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let at = match headers.iter().position(|h| h == column) {
        Some(i) => i,
        None => {
            headers.push(column.to_owned());
            headers.len() - 1
        }
    };
    let mut out = csv::Writer::from_path(&path).unwrap();
    out.write_record(&headers).unwrap();
    for mut row in rows {
        let second: f64 = row[0].parse().unwrap();
        row.resize(headers.len(), String::new());
        row[at] = format!("{}", f(second));
        out.write_record(&row).unwrap();
    }
    out.flush().unwrap();
}

/// Edits `run.json` in place.
fn edit_run_json(dir: &std::path::Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("run.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut doc);
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

/// A soak-like synthetic run: 10 minutes, memory and fds shaped by the closures.
fn soak_run(
    root: &std::path::Path,
    name: &str,
    rss: impl Fn(f64) -> f64,
    fds: impl Fn(f64) -> f64,
) -> RunDir {
    let fixture = Fixture {
        profile: "soak".into(),
        seconds: 600,
        ..Fixture::default()
    };
    let dir = run_dir(root, name, &fixture);
    set_column(&dir, "proxy_rss_bytes", &rss);
    set_column(&dir, "jemalloc_resident_bytes", |s| rss(s) * 0.8);
    set_column(&dir, "jemalloc_retained_bytes", |_| 30e6);
    set_column(&dir, "proxy_fds", fds);
    RunDir::load(&dir).unwrap()
}

/// The verdict of the committed `profile` rules on `metric` for a run (absolute rules:
/// no baseline needed).
fn verdict_of(profile: &str, set: &MetricSet, metric: &str) -> Verdict {
    let gates = Gates::load(&committed_gates()).unwrap();
    let rules = gates.for_profile(profile);
    let report = gate::evaluate(&gates, &rules, &MetricSet::new(), set);
    report
        .evaluations
        .iter()
        .find(|e| e.metric == metric)
        .unwrap_or_else(|| panic!("no evaluation of {metric}"))
        .verdict
}

#[test]
fn fd_and_memory_rules_fail_a_leaking_soak_and_pass_a_level_one() {
    let root = tempfile::tempdir().unwrap();
    // Level: small noise around a constant (deterministic, alternating).
    let wobble = |s: f64| if (s as u64) % 2 == 0 { 1.0 } else { -1.0 };
    let level = soak_run(
        root.path(),
        "level",
        |s| 40e6 + 20e3 * wobble(s),
        |s| 120.0 + wobble(s),
    );
    let set = extract(&level);
    assert_eq!(
        verdict_of("soak", &set, "fd_growth"),
        Verdict::Pass,
        "{set:#?}"
    );
    assert_eq!(
        verdict_of("soak", &set, "rss_slope_upper_mb_per_h"),
        Verdict::Pass
    );
    assert_eq!(
        verdict_of("soak", &set, "alloc_resident_slope_upper_mb_per_h"),
        Verdict::Pass
    );
    // Leaking: one fd every 5 s (about 100 more in the last tenth than the first) and
    // 20 kB/s of RSS (72 MB/h).
    let leaking = soak_run(
        root.path(),
        "leaking",
        |s| 40e6 + 20e3 * s,
        |s| 120.0 + (s / 5.0).floor(),
    );
    let set = extract(&leaking);
    let growth = set["fd_growth"].point.unwrap();
    assert!((90.0..=110.0).contains(&growth), "fd growth {growth}");
    assert_eq!(verdict_of("soak", &set, "fd_growth"), Verdict::Rollback);
    let upper = set["rss_slope_upper_mb_per_h"].point.unwrap();
    assert!((72.0..73.0).contains(&upper), "upper bound {upper}");
    assert_eq!(
        verdict_of("soak", &set, "rss_slope_upper_mb_per_h"),
        Verdict::Rollback
    );
}

#[test]
fn soak_report_has_memory_and_fd_plots_and_the_tables() {
    let root = tempfile::tempdir().unwrap();
    // The error budget's allowed rate comes from the gate rules above the run directory.
    std::fs::create_dir_all(root.path().join("baselines")).unwrap();
    std::fs::copy(committed_gates(), root.path().join("baselines/gates.toml")).unwrap();
    let run = soak_run(root.path(), "soak", |s| 40e6 + 100.0 * s, |_| 120.0);
    let out = reports::render::render(&run).unwrap();
    let html = parse_xml(&std::fs::read_to_string(&out.html).unwrap());
    for heading in [
        "Soak",
        "Memory",
        "Descriptors and threads",
        "Latency drift",
        "Error budget",
    ] {
        assert!(
            html.texts.iter().any(|t| t == heading),
            "no {heading} heading"
        );
    }
    assert!(html.has_text("slope MB/h") && html.has_text("budget consumed"));
    let memory =
        parse_xml(&std::fs::read_to_string(run.path.join("plots/soak_memory.svg")).unwrap());
    assert_eq!(memory.elements[0], "svg");
    for label in [
        "RSS",
        "allocator resident",
        "allocator retained",
        "RSS trend",
    ] {
        assert!(memory.has_text(label), "memory plot lacks {label}");
    }
    // Three series and three trend lines.
    assert!(
        memory.count("polyline") >= 6,
        "{}",
        memory.count("polyline")
    );
    let fds =
        parse_xml(&std::fs::read_to_string(run.path.join("plots/soak_fds_threads.svg")).unwrap());
    assert!(fds.has_text("open fds") && fds.has_text("threads"));
    assert!(out
        .plots
        .iter()
        .any(|p| p.ends_with("plots/soak_memory.svg")));
    // A ci run has no soak section.
    let ci = run_dir(root.path(), "ci", &Fixture::default());
    let out = reports::render::render(&RunDir::load(&ci).unwrap()).unwrap();
    let html = parse_xml(&std::fs::read_to_string(&out.html).unwrap());
    assert!(!html.texts.iter().any(|t| t == "Soak"));
    assert!(!html.texts.iter().any(|t| t == "Spike"));
}

/// A spike-like synthetic run: 120 s, calm to 40 s, surge to 70 s; the busiest class's
/// p99 is 1000 µs, 8000 µs in the surge and until `back_at`.
fn spike_run(root: &std::path::Path, name: &str, back_at: f64) -> RunDir {
    let fixture = Fixture {
        profile: "spike".into(),
        seconds: 120,
        ..Fixture::default()
    };
    let dir = run_dir(root, name, &fixture);
    edit_run_json(&dir, |doc| {
        doc["classes"]["allowed"]["count"] = serde_json::json!(1_000_000);
        doc["profile"]["settings"]["warmup"] = serde_json::json!("10s");
        doc["stage_spans"] = serde_json::json!([
            {"name": "calm", "users": 20, "start_s": 0, "end_s": 40},
            {"name": "surge", "users": 100, "start_s": 40, "end_s": 45},
            {"name": "spike", "users": 100, "start_s": 45, "end_s": 70},
            {"name": "recovery", "users": 20, "start_s": 70, "end_s": 75},
            {"name": "after", "users": 20, "start_s": 75, "end_s": 120}
        ]);
    });
    set_column(&dir, "allowed_p99_us", |s| {
        if (40.0..back_at).contains(&s) {
            8000.0
        } else {
            1000.0
        }
    });
    set_column(&dir, "errors", |s| {
        if (40.0..70.0).contains(&s) {
            2.0
        } else {
            0.0
        }
    });
    RunDir::load(&dir).unwrap()
}

#[test]
fn spike_recovery_is_measured_gated_and_reported() {
    let root = tempfile::tempdir().unwrap();
    let quick = spike_run(root.path(), "quick", 74.0);
    let set = extract(&quick);
    assert_eq!(set["spike_recovery_s"].point, Some(4.0));
    assert_eq!(verdict_of("spike", &set, "spike_recovery_s"), Verdict::Pass);
    let slow = spike_run(root.path(), "slow", 90.0);
    let set = extract(&slow);
    assert_eq!(set["spike_recovery_s"].point, Some(20.0));
    assert_eq!(
        verdict_of("spike", &set, "spike_recovery_s"),
        Verdict::Hotfix
    );
    let never = spike_run(root.path(), "never", 200.0);
    let set = extract(&never);
    assert_eq!(set["spike_recovery_s"].point, Some(50.0), "the time left");
    assert_eq!(
        verdict_of("spike", &set, "spike_recovery_s"),
        Verdict::Rollback
    );

    let out = reports::render::render(&quick).unwrap();
    let html = parse_xml(&std::fs::read_to_string(&out.html).unwrap());
    for heading in ["Spike", "Errors", "Recovery"] {
        assert!(html.texts.iter().any(|t| t == heading), "no {heading}");
    }
    assert!(html.has_text("Recovery time: 4 s"), "{:?}", html.texts);
    assert!(html.has_text("surge p99 µs"));
    let svg = parse_xml(&std::fs::read_to_string(quick.path.join("plots/spike_p99.svg")).unwrap());
    assert!(svg.has_text("allowed p99") && svg.has_text("recovery threshold"));
    assert!(svg.count("polyline") >= 3);
    let out = reports::render::render(&never).unwrap();
    let md = std::fs::read_to_string(&out.markdown).unwrap();
    assert!(md.contains("NOT RECOVERED"), "{md}");
}
