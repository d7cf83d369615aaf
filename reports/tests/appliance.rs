//! Appliance results in a run: the report section, the four appliance metrics, the
//! `[[profile.appliance.gate]]` rules of the committed gates file, and older runs without
//! the results still loading.

mod common;

use common::{committed_gates, run_dir};
use reports::diff::{diff, DiffOptions};
use reports::fixtures::Fixture;
use reports::metrics;
use reports::promote::{promote, PromoteOptions};
use reports::rules::Verdict;
use reports::rundir::RunDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A fixture run of the appliance profile with `appliance` results added to `run.json`.
fn appliance_run(root: &Path, name: &str, mismatched: u64, missing: u64) -> PathBuf {
    let fixture = Fixture {
        profile: "appliance".into(),
        ..Fixture::default()
    };
    let dir = run_dir(root, name, &fixture);
    let path = dir.join("run.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let checked = 1000;
    doc["appliance"] = json!({
        "added_latency_us": {"p50": 400.0, "p99": 1500.0},
        "through_appliance_us": {"count": 3000, "p50": 1300, "p90": 3000, "p99": 7000, "max": 30000},
        "direct_to_proxy_us": {"count": 3000, "p50": 900, "p90": 2100, "p99": 5500, "max": 20000},
        "requests": {"through_appliance": 3600, "through_appliance_failures": 0, "direct": 3600, "direct_failures": 0},
        "identity": {"checked": checked, "matched": checked - mismatched - missing,
                     "mismatched": mismatched, "missing": missing,
                     "examples": if mismatched > 0 { json!(["lg-pupil00001 (127.1.0.2) -> lg-pupil00002"]) } else { json!([]) }},
        "radius": {"users": 2000, "churn_users": 1000, "sent": {"start": 5000, "stop": 5000},
                   "acked": {"start": 5000, "stop": 5000}, "unanswered": 0},
        "appliance_metrics": {"connections": 3600.0, "bytes_up": 4.0e5, "bytes_down": 1.5e8,
                              "identity_lookups": {"radius": 3600.0}},
        "proxy_protocol": {"accepted": 3600.0, "refused": {}},
        "verdict": {"pass": mismatched == 0 && missing == 0,
                    "reasons": if mismatched > 0 { json!(["identity: mismatches"]) } else { json!([]) }},
        "future_field": [1, 2, 3]
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    dir
}

#[test]
fn the_report_has_the_appliance_section_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = RunDir::load(&appliance_run(tmp.path(), "run", 0, 0)).unwrap();
    let set = metrics::extract(&run);
    let point = |k: &str| set.get(k).and_then(|v| v.point);
    assert_eq!(point("appliance_added_p50_us"), Some(400.0));
    assert_eq!(point("appliance_added_p99_us"), Some(1500.0));
    assert_eq!(point("identity_mismatches"), Some(0.0));
    assert_eq!(point("identity_missing_rate"), Some(0.0));
    let md = reports::render::run::report(&run).unwrap().to_markdown();
    for needle in [
        "## Appliance hop",
        "Verdict: pass",
        "| added by the appliance | 400 |",
        "| 1000 | 1000 | 0 | 0 | 100 |",
        "| start | 5000 | 5000 |",
        "| connections | 3600 |",
    ] {
        assert!(md.contains(needle), "{needle} missing from:\n{md}");
    }
}

#[test]
fn runs_without_appliance_results_have_no_section_and_no_appliance_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = RunDir::load(&run_dir(tmp.path(), "ci", &Fixture::default())).unwrap();
    assert!(run.run.appliance.is_none());
    let set = metrics::extract(&run);
    assert!(!set
        .keys()
        .any(|k| k.starts_with("appliance_") || k.starts_with("identity_")));
    let md = reports::render::run::report(&run).unwrap().to_markdown();
    assert!(!md.contains("Appliance hop"));
}

#[test]
fn one_identity_mismatch_is_a_rollback_and_missing_identities_a_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let baselines = tmp.path().join("baselines");
    let good = appliance_run(tmp.path(), "good", 0, 0);
    promote(&PromoteOptions {
        run_dir: good,
        profile: "appliance".into(),
        note: None,
        force: false,
        out_dir: baselines.clone(),
        gates: Some(committed_gates()),
        suggest: Default::default(),
    })
    .unwrap();
    let judge = |name: &str, mismatched: u64, missing: u64| {
        let run = appliance_run(tmp.path(), name, mismatched, missing);
        let report = diff(&DiffOptions {
            run_dir: run,
            baseline: baselines.join("appliance.json"),
            gates: Some(committed_gates()),
            out_dir: Some(tmp.path().join(format!("{name}-diff"))),
        })
        .unwrap();
        let of = |metric: &str| {
            report
                .evaluations
                .iter()
                .find(|e| e.metric == metric)
                .unwrap_or_else(|| panic!("no rule for {metric}"))
                .verdict
        };
        (of("identity_mismatches"), of("identity_missing_rate"))
    };
    assert_eq!(judge("same", 0, 0), (Verdict::Pass, Verdict::Pass));
    assert_eq!(judge("mismatch", 1, 0).0, Verdict::Rollback);
    assert_eq!(judge("few-missing", 0, 1).1, Verdict::Hotfix);
    assert_eq!(judge("many-missing", 0, 5).1, Verdict::Rollback);
}
