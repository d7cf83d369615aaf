//! `diff` through the real binary: a run against itself passes, regressions give rollback
//! or hotfix exit codes, and bad input (missing files, schema or profile mismatch) is exit 2
//! with a clear message. Outputs are well-formed and hold every gated metric.

mod common;

use common::{committed_gates, parse_xml, run_dir};
use reports::fixtures::Fixture;
use reports::promote::{promote, PromoteOptions};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A temp dir with a `ci` baseline promoted from the default fixture.
fn with_baseline() -> (tempfile::TempDir, PathBuf, PathBuf) {
    with_baseline_for("ci")
}

/// The default fixture of `profile`.
fn fixture(profile: &str) -> Fixture {
    Fixture {
        profile: profile.to_owned(),
        ..Fixture::default()
    }
}

/// A temp dir with a baseline of `profile` promoted from its default fixture. (`ci`
/// reports CPU seconds and SLOs without enforcing them; `peak` enforces both.)
fn with_baseline_for(profile: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), "base-run", &fixture(profile));
    let out = tmp.path().join("baselines");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(committed_gates(), out.join("gates.toml")).unwrap();
    let done = promote(&PromoteOptions {
        run_dir: run.clone(),
        profile: profile.into(),
        note: None,
        force: false,
        out_dir: out,
        gates: None,
        suggest: Default::default(),
    })
    .unwrap();
    (tmp, run, done.json)
}

fn perf_report(args: &[&str], run: &Path, baseline: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_perf-report"))
        .arg("diff")
        .arg(run)
        .arg("--baseline")
        .arg(baseline)
        .args(args)
        .output()
        .unwrap()
}

/// The run's `verdict.json`, checked against its type and its committed schema.
fn verdict(run: &Path) -> serde_json::Value {
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("verdict.json")).unwrap()).unwrap();
    let typed = rundir::verdict::DiffVerdict::from_json(doc.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        doc,
        "verdict.json round-trips"
    );
    let schema_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../rundir/schemas/verdict.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(
        problems.is_empty(),
        "verdict.json breaks its schema: {problems:#?}"
    );
    doc
}

fn metric_verdict(v: &serde_json::Value, metric: &str) -> String {
    v["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == metric)
        .unwrap_or_else(|| panic!("{metric} not evaluated"))["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_run_against_itself_passes() {
    let (_tmp, run, baseline) = with_baseline();
    let out = perf_report(&[], &run, &baseline);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verdict: PASS"));
    let v = verdict(&run);
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["profile"], "ci");
    let evals = v["evaluations"].as_array().unwrap();
    assert!(evals.iter().all(|e| e["verdict"] == "pass"), "{v:#}");
    for m in [
        "proxy_cpu_us_per_request",
        "allocs_per_request",
        "peak_rss_bytes",
        "proxy_added_p99_us",
        "p99_us.allowed",
        "p999_us.download",
        "failure_rate.tunnel",
        "achieved_rate_ratio",
    ] {
        assert_eq!(metric_verdict(&v, m), "pass");
    }
    let cpu = evals
        .iter()
        .find(|e| e["metric"] == "proxy_cpu_us_per_request")
        .unwrap();
    assert_eq!(cpu["method"], "bootstrap_medians");
    assert!(cpu["change"].as_f64().unwrap().abs() < 1e-12, "{cpu}");

    let html = parse_xml(&std::fs::read_to_string(run.join("diff.html")).unwrap());
    assert_eq!(html.count("svg"), 6, "one overlaid spectrum per class");
    assert!(html.has_text("proxy_cpu_us_per_request"));
    let overlay =
        parse_xml(&std::fs::read_to_string(run.join("plots/spectrum_allowed.svg")).unwrap());
    assert!(overlay.has_text("allowed baseline") && overlay.has_text("allowed current"));
    assert!(overlay.count("polyline") >= 2);
    let flame = std::fs::read_to_string(run.join("diff-flamegraph.svg")).unwrap();
    let flame_xml = parse_xml(&flame);
    assert!(flame_xml.count("rect") > 3 && flame.contains("filter::match_host"));
    let md = std::fs::read_to_string(run.join("diff.md")).unwrap();
    assert!(md.contains("Verdict: PASS") && md.contains("diff-flamegraph.svg"));
}

#[test]
fn a_twenty_percent_cpu_regression_is_a_hotfix_and_forty_a_rollback() {
    let (tmp, _run, baseline) = with_baseline_for("peak");
    let worse = run_dir(
        tmp.path(),
        "worse",
        &Fixture {
            cpu_us_per_request: 144.0,
            seed: 11,
            hot_frame: 2.0,
            ..fixture("peak")
        },
    );
    let out = perf_report(&[], &worse, &baseline);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = verdict(&worse);
    assert_eq!(metric_verdict(&v, "proxy_cpu_us_per_request"), "hotfix");
    assert!(String::from_utf8_lossy(&out.stdout).contains("HOTFIX    proxy_cpu_us_per_request"));
    assert_eq!(
        perf_report(&["--hotfix-ok"], &worse, &baseline)
            .status
            .code(),
        Some(0)
    );

    let much_worse = run_dir(
        tmp.path(),
        "much",
        &Fixture {
            cpu_us_per_request: 170.0,
            seed: 12,
            ..fixture("peak")
        },
    );
    assert_eq!(
        perf_report(&["--hotfix-ok"], &much_worse, &baseline)
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        metric_verdict(&verdict(&much_worse), "proxy_cpu_us_per_request"),
        "rollback"
    );
}

#[test]
fn noise_alone_does_not_fail_the_gate() {
    let (tmp, _run, baseline) = with_baseline_for("peak");
    // Another draw of the same system, 2% slower: within noise and threshold.
    let again = run_dir(
        tmp.path(),
        "again",
        &Fixture {
            cpu_us_per_request: 122.4,
            seed: 99,
            ..fixture("peak")
        },
    );
    let out = perf_report(&[], &again, &baseline);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn failures_and_slo_breaches_roll_back() {
    let (tmp, _run, baseline) = with_baseline_for("peak");
    let failing = run_dir(
        tmp.path(),
        "failing",
        &Fixture {
            failures: 50,
            ..fixture("peak")
        },
    );
    assert_eq!(perf_report(&[], &failing, &baseline).status.code(), Some(1));
    assert_eq!(
        metric_verdict(&verdict(&failing), "failure_rate.allowed"),
        "rollback"
    );
    let slow = run_dir(
        tmp.path(),
        "slow",
        &Fixture {
            latency_scale: 100.0,
            ..fixture("peak")
        },
    );
    assert_eq!(perf_report(&[], &slow, &baseline).status.code(), Some(1));
    assert_eq!(
        metric_verdict(&verdict(&slow), "p99_us.allowed"),
        "rollback"
    );
}

#[test]
fn warnings_are_recorded_with_the_verdict() {
    let (tmp, _run, baseline) = with_baseline();
    let saturated = run_dir(
        tmp.path(),
        "sat",
        &Fixture {
            saturated: true,
            ..Fixture::default()
        },
    );
    assert_eq!(
        perf_report(&[], &saturated, &baseline).status.code(),
        Some(0)
    );
    let warnings = verdict(&saturated)["warnings"].clone();
    assert_eq!(warnings.as_array().unwrap().len(), 1, "{warnings}");
    assert!(warnings[0].as_str().unwrap().contains("saturated"));
    let md = std::fs::read_to_string(saturated.join("diff.md")).unwrap();
    assert!(md.contains("## Warnings") && md.contains("saturated"));
}

#[test]
fn unmeasured_gated_metrics_are_not_a_pass() {
    let (tmp, _run, baseline) = with_baseline();
    let bare = run_dir(
        tmp.path(),
        "bare",
        &Fixture {
            harness: false,
            ..Fixture::default()
        },
    );
    let out = perf_report(&[], &bare, &baseline);
    assert_eq!(
        out.status.code(),
        Some(1),
        "missing = rollback in the committed rules"
    );
    assert_eq!(
        metric_verdict(&verdict(&bare), "allocs_per_request"),
        "missing"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISSING   allocs_per_request"));
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message() {
    let (tmp, run, baseline) = with_baseline();
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let missing = perf_report(&[], &run, &tmp.path().join("nope.json"));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.json"),
        "{}",
        stderr(&missing)
    );

    let no_run = perf_report(&[], &tmp.path().join("no-run"), &baseline);
    assert_eq!(no_run.status.code(), Some(2));
    assert!(stderr(&no_run).contains("no-run"));

    let future = run_dir(
        tmp.path(),
        "future",
        &Fixture {
            schema_version: 99,
            ..Fixture::default()
        },
    );
    let mismatch = perf_report(&[], &future, &baseline);
    assert_eq!(mismatch.status.code(), Some(2));
    assert!(
        stderr(&mismatch).contains("schema_version 99")
            && stderr(&mismatch).contains(&format!(
                "reads version {}",
                rundir::run::RUN_SCHEMA_VERSION
            )),
        "{}",
        stderr(&mismatch)
    );

    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    doc["schema_version"] = 7.into();
    let old = tmp.path().join("old.json");
    std::fs::write(&old, doc.to_string()).unwrap();
    let gates = committed_gates();
    let old_out = perf_report(&["--gates", gates.to_str().unwrap()], &run, &old);
    assert_eq!(old_out.status.code(), Some(2));
    assert!(
        stderr(&old_out).contains("old.json has schema_version 7"),
        "{}",
        stderr(&old_out)
    );

    let peak = run_dir(
        tmp.path(),
        "peak",
        &Fixture {
            profile: "peak".into(),
            ..Fixture::default()
        },
    );
    let other = perf_report(&[], &peak, &baseline);
    assert_eq!(other.status.code(), Some(2));
    assert!(
        stderr(&other).contains("profile 'ci' but the run used profile 'peak'"),
        "{}",
        stderr(&other)
    );

    let bad_gates = tmp.path().join("gates.toml");
    std::fs::write(&bad_gates, "schema_version = 1\n[[gate]]\nmetric = \"nope\"\ndirection = \"lower\"\nkind = \"absolute\"\nhotfix = 1.0\nrollback = 2.0\n").unwrap();
    let invalid = perf_report(&["--gates", bad_gates.to_str().unwrap()], &run, &baseline);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        stderr(&invalid).contains("unknown metric 'nope'"),
        "{}",
        stderr(&invalid)
    );
}

/// The `ci` rule on the mix-weighted instruction headline (the classes have tighter
/// rules of their own): 1% and 5% more pass, 12% more is a hotfix, 17% more a rollback,
/// and a run without the count is not a pass (an unmeasured release is unproven).
#[test]
fn instructions_per_request_are_gated_tightly_in_ci() {
    let (tmp, _run, baseline) = with_baseline();
    let cases = [
        (Some(90_900.0), Some(0), "pass"),
        (Some(94_500.0), Some(0), "pass"),
        (Some(100_800.0), Some(3), "hotfix"),
        (Some(105_300.0), Some(1), "rollback"),
        (None, Some(1), "missing"),
    ];
    for (i, (instructions, code, want)) in cases.into_iter().enumerate() {
        let run = run_dir(
            tmp.path(),
            &format!("instr-{i}"),
            &Fixture {
                instructions_per_request: instructions,
                seed: 20 + i as u64,
                ..Fixture::default()
            },
        );
        let out = perf_report(&[], &run, &baseline);
        assert_eq!(
            out.status.code(),
            code,
            "{instructions:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v = verdict(&run);
        assert_eq!(
            metric_verdict(&v, "proxy_instructions_per_request"),
            want,
            "{instructions:?}"
        );
    }
}

#[test]
fn warns_of_another_machine_by_the_same_rule_as_promotion() {
    let (_tmp, run, json) = with_baseline();
    let run = reports::rundir::RunDir::load(&run).unwrap();
    let machine_warnings = |b: &rundir::baseline::Baseline| {
        reports::diff::warnings(b, &run)
            .into_iter()
            .filter(|w| w.starts_with("different machines"))
            .collect::<Vec<_>>()
    };
    let mut b = reports::baseline::read(&json).unwrap();
    // Another boot of the same machine image: a new kernel build string, same series.
    b.provenance.kernel = Some("6.1.0-fc-v612".into());
    assert!(machine_warnings(&b).is_empty());
    b.provenance.cores = Some(8);
    let w = machine_warnings(&b);
    assert!(w.len() == 1 && w[0].contains("cores 8 vs 2"), "{w:?}");
}

/// The instruction pass's per-class counts become `proxy_instructions_per_request.CLASS`
/// keys beside the headline, and a regression confined to one class is caught by the
/// committed `ci` rules although the headline moves less than its threshold.
#[test]
fn instruction_counts_per_class_are_metric_keys_and_gated_in_ci() {
    let (tmp, _run, _baseline) = with_baseline();
    let with_classes = |name: &str, tunnel: f64| {
        let run = run_dir(
            tmp.path(),
            name,
            &Fixture {
                instructions_per_request: Some(100_000.0),
                ..Fixture::default()
            },
        );
        let path = run.join("run.json");
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        doc["instructions"]["per_class"] = serde_json::json!({
            "allowed": { "requests": 100, "instructions": 9_000_000u64, "per_request": 90_000.0, "weight": 85 },
            "tunnel": { "requests": 30, "instructions": 0, "per_request": tunnel, "weight": 15 },
        });
        std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
        run
    };
    let control = with_classes("classes-control", 150_000.0);
    let loaded = reports::rundir::RunDir::load(&control).unwrap();
    let set = reports::metrics::extract(&loaded);
    let point = |k: &str| set.get(k).and_then(|v| v.point);
    assert_eq!(point("proxy_instructions_per_request"), Some(100_000.0));
    assert_eq!(
        point("proxy_instructions_per_request.allowed"),
        Some(90_000.0)
    );
    assert_eq!(
        point("proxy_instructions_per_request.tunnel"),
        Some(150_000.0)
    );

    let slowed = with_classes("classes-slowed", 165_000.0);
    let slowed = reports::rundir::RunDir::load(&slowed).unwrap();
    let gates = reports::rules::Gates::load(&committed_gates()).unwrap();
    let rules = gates.for_profile("ci");
    let report = reports::gate::evaluate(&gates, &rules, &set, &reports::metrics::extract(&slowed));
    let verdict = |m: &str| {
        report
            .evaluations
            .iter()
            .find(|e| e.metric == m)
            .map(|e| e.verdict)
    };
    use reports::rules::Verdict;
    assert_eq!(
        verdict("proxy_instructions_per_request"),
        Some(Verdict::Pass)
    );
    assert_eq!(
        verdict("proxy_instructions_per_request.allowed"),
        Some(Verdict::Pass)
    );
    assert_eq!(
        verdict("proxy_instructions_per_request.tunnel"),
        Some(Verdict::Hotfix),
        "+10% on tunnels"
    );
}
