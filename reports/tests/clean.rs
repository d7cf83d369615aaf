//! Latency judged on uncontended seconds: what `clean_p99_us` and `clean_seconds` read
//! from a run directory, and how `perf-report diff` reports a run the machine spoiled.

use reports::fixtures::Fixture;
use reports::metrics;
use reports::rundir::RunDir;

fn extracted(fixture: &Fixture) -> (tempfile::TempDir, rundir::baseline::MetricSet) {
    let tmp = tempfile::tempdir().unwrap();
    fixture.write(tmp.path()).unwrap();
    let run = RunDir::load(tmp.path()).unwrap();
    (tmp, metrics::extract(&run))
}

fn point(set: &rundir::baseline::MetricSet, key: &str) -> f64 {
    set.get(key)
        .and_then(|v| v.point)
        .unwrap_or_else(|| panic!("{key} not measured"))
}

#[test]
fn contended_seconds_are_left_out_of_clean_latency() {
    let quiet = Fixture::default();
    let (_a, q) = extracted(&quiet);
    // Every second after the warm-up but the last, the steady window's among them.
    let after_warmup = point(&q, "clean_seconds") as usize;
    let steady = q["p99_us.allowed"].samples.len();
    assert!(
        steady > 10 && after_warmup >= steady,
        "{after_warmup} >= {steady}"
    );
    assert_eq!(q["clean_p99_us.allowed"].samples.len(), after_warmup);

    let busy = Fixture {
        contended: true,
        ..Fixture::default()
    };
    let (_b, c) = extracted(&busy);
    let clean = point(&c, "clean_seconds") as usize;
    // The fixture contends two of every seven seconds.
    assert!(
        clean < steady && clean >= steady * 5 / 7 - 1,
        "{clean} of {steady}"
    );
    assert_eq!(c["clean_p99_us.allowed"].samples.len(), clean);
}

#[test]
fn a_run_without_machine_samples_has_no_clean_latency() {
    let fixture = Fixture {
        harness: false,
        ..Fixture::default()
    };
    let (_t, set) = extracted(&fixture);
    assert!(!set.contains_key("clean_seconds"));
    assert!(!set.contains_key("clean_p99_us.allowed"));
}

#[test]
fn a_document_diff_on_a_spoiled_run_is_inconclusive() {
    let gates = reports::rules::Gates::parse(
        r#"
schema_version = 1
missing = "rollback"
[[gate]]
metric = "clean_p99_us.*"
direction = "lower"
kind = "absolute"
hotfix = 50000.0
rollback = 200000.0
"#,
    )
    .unwrap();
    let rules = gates.for_profile("peak");
    let (_t, baseline) = extracted(&Fixture::default());
    let mut run = baseline.clone();
    run.get_mut("clean_seconds").unwrap().point = Some(2.0);
    let report = reports::gate::evaluate(&gates, &rules, &baseline, &run);
    assert_eq!(report.verdict, reports::rules::Verdict::Inconclusive);
    let e = &report.evaluations[0];
    assert!(
        e.reason
            .starts_with("inconclusive (machine): the run had 2 uncontended seconds"),
        "{}",
        e.reason
    );
    let report = reports::gate::evaluate(&gates, &rules, &baseline, &baseline);
    assert_eq!(report.verdict, reports::rules::Verdict::Pass, "{report:#?}");
}
