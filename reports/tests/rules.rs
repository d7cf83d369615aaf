//! Rule evaluation, table-tested: each direction and kind, boundary values, missing
//! metrics, significance, validation of the rules file, and the gate's reduction.

use reports::gate::{evaluate, pool_trials};
use reports::rules::{Comparison, Direction, Gates, Kind, Method, Rule, Verdict};
use reports::stats::SplitMix64;
use rundir::baseline::{MetricSet, MetricValue};
use rundir::verdict::Accept;

fn rule(direction: Direction, kind: Kind, hotfix: f64, rollback: f64) -> Rule {
    Rule {
        metric: reports::metrics::Metric::ProxyCpuUsPerRequest,
        class: None,
        direction,
        kind,
        of: None,
        hotfix,
        rollback,
        enforce: true,
        why: String::new(),
    }
}

fn point(v: f64) -> MetricValue {
    MetricValue {
        point: Some(v),
        samples: Vec::new(),
    }
}

fn samples(median: f64, sigma: f64, seed: u64) -> MetricValue {
    let mut rng = SplitMix64::new(seed);
    MetricValue {
        point: None,
        samples: (0..40)
            .map(|_| median * (sigma * rng.normal()).exp())
            .collect(),
    }
}

/// (direction, kind, hotfix, rollback, baseline, current, expected verdict)
type Row = (Direction, Kind, f64, f64, Option<f64>, Option<f64>, Verdict);

#[test]
fn point_and_absolute_rules_table() {
    use Direction::{Higher, Lower};
    use Kind::{Absolute, Relative};
    use Verdict::{Hotfix, Missing, Pass, Rollback};
    // (direction, kind, hotfix, rollback, baseline, current, expected)
    let table: &[Row] = &[
        // relative, lower is better: thresholds are fractions of the baseline
        (Lower, Relative, 0.10, 0.25, Some(100.0), Some(100.0), Pass),
        (Lower, Relative, 0.10, 0.25, Some(100.0), Some(110.0), Pass), // exactly at hotfix: passes
        (
            Lower,
            Relative,
            0.10,
            0.25,
            Some(100.0),
            Some(110.5),
            Hotfix,
        ),
        (
            Lower,
            Relative,
            0.10,
            0.25,
            Some(100.0),
            Some(125.0),
            Hotfix,
        ), // exactly at rollback
        (
            Lower,
            Relative,
            0.10,
            0.25,
            Some(100.0),
            Some(126.0),
            Rollback,
        ),
        (Lower, Relative, 0.10, 0.25, Some(100.0), Some(50.0), Pass), // improvement
        (Lower, Relative, 0.10, 0.25, Some(0.0), Some(0.0), Pass),
        (Lower, Relative, 0.10, 0.25, Some(0.0), Some(1.0), Rollback), // from nothing to something
        // relative, higher is better
        (
            Higher,
            Relative,
            0.05,
            0.15,
            Some(1000.0),
            Some(940.0),
            Hotfix,
        ),
        (
            Higher,
            Relative,
            0.05,
            0.15,
            Some(1000.0),
            Some(950.0),
            Pass,
        ),
        (
            Higher,
            Relative,
            0.05,
            0.15,
            Some(1000.0),
            Some(800.0),
            Rollback,
        ),
        (
            Higher,
            Relative,
            0.05,
            0.15,
            Some(1000.0),
            Some(2000.0),
            Pass,
        ),
        // absolute, lower is better (an SLO)
        (Lower, Absolute, 0.0, 0.001, None, Some(0.0), Pass),
        (Lower, Absolute, 0.0, 0.001, None, Some(0.0005), Hotfix),
        (Lower, Absolute, 0.0, 0.001, None, Some(0.001), Hotfix),
        (Lower, Absolute, 0.0, 0.001, None, Some(0.002), Rollback),
        // absolute, higher is better
        (Higher, Absolute, 0.98, 0.95, None, Some(1.0), Pass),
        (Higher, Absolute, 0.98, 0.95, None, Some(0.98), Pass),
        (Higher, Absolute, 0.98, 0.95, None, Some(0.97), Hotfix),
        (Higher, Absolute, 0.98, 0.95, None, Some(0.94), Rollback),
        // missing metrics are never a pass
        (Lower, Relative, 0.10, 0.25, None, Some(100.0), Missing),
        (Lower, Relative, 0.10, 0.25, Some(100.0), None, Missing),
        (Lower, Absolute, 1.0, 2.0, Some(1.0), None, Missing),
        (Higher, Absolute, 1.0, 0.5, None, None, Missing),
    ];
    for (i, &(dir, kind, hotfix, rollback, base, cur, want)) in table.iter().enumerate() {
        let r = rule(dir, kind, hotfix, rollback);
        let e = r.evaluate(
            "m",
            base.map(point).as_ref(),
            cur.map(point).as_ref(),
            Comparison::default(),
        );
        assert_eq!(
            e.verdict, want,
            "row {i}: {dir:?} {kind:?} {base:?} -> {cur:?}: {}",
            e.reason
        );
        if kind == Kind::Relative && want != Missing {
            assert_eq!(e.method, Method::Point, "row {i}");
            assert_eq!(e.significant, None, "row {i}: no test on single numbers");
        }
    }
}

#[test]
fn relative_rules_on_distributions_need_significance() {
    let r = rule(Direction::Lower, Kind::Relative, 0.10, 0.25);
    let cmp = Comparison::default();
    let base = samples(100.0, 0.08, 1);
    // identical samples: no regression
    let same = r.evaluate("m", Some(&base), Some(&base), cmp);
    assert_eq!(
        (same.verdict, same.method),
        (Verdict::Pass, Method::BootstrapMedians)
    );
    assert_eq!(same.change, Some(0.0));
    // a clear 20% shift: hotfix, significant
    let shifted = r.evaluate("m", Some(&base), Some(&samples(120.0, 0.08, 2)), cmp);
    assert_eq!(shifted.verdict, Verdict::Hotfix, "{}", shifted.reason);
    assert_eq!(shifted.significant, Some(true));
    assert!(shifted.p_value.unwrap() < 0.001);
    // a 40% shift: rollback
    let big = r.evaluate("m", Some(&base), Some(&samples(140.0, 0.08, 3)), cmp);
    assert_eq!(big.verdict, Verdict::Rollback);
    // a 2% shift inside noise: pass
    let small = r.evaluate("m", Some(&base), Some(&samples(102.0, 0.08, 4)), cmp);
    assert_eq!(small.verdict, Verdict::Pass, "{}", small.reason);
    // beyond the threshold on the medians but too noisy to tell: pass, and it says why
    let tight = rule(Direction::Lower, Kind::Relative, 0.01, 0.5);
    let noisy_base = MetricValue {
        point: None,
        samples: samples(100.0, 0.6, 5).samples[..8].to_vec(),
    };
    let noisy_cur = MetricValue {
        point: None,
        samples: samples(104.0, 0.6, 6).samples[..8].to_vec(),
    };
    let noisy = tight.evaluate("m", Some(&noisy_base), Some(&noisy_cur), cmp);
    if noisy.change.unwrap() > 0.01 {
        assert_eq!(noisy.verdict, Verdict::Pass);
        assert!(noisy.reason.contains("not significant"), "{}", noisy.reason);
    }
    // higher is better: a significant 20% drop is a regression
    let thr = rule(Direction::Higher, Kind::Relative, 0.05, 0.15);
    let drop = thr.evaluate("m", Some(&base), Some(&samples(80.0, 0.08, 7)), cmp);
    assert_eq!(drop.verdict, Verdict::Rollback);
}

#[test]
fn few_samples_fall_back_to_whole_run_values() {
    let r = rule(Direction::Lower, Kind::Relative, 0.10, 0.25);
    let base = MetricValue {
        point: Some(100.0),
        samples: vec![100.0; 3],
    };
    let cur = MetricValue {
        point: Some(130.0),
        samples: vec![130.0; 3],
    };
    let e = r.evaluate("m", Some(&base), Some(&cur), Comparison::default());
    assert_eq!((e.method, e.verdict), (Method::Point, Verdict::Rollback));
    assert!(e.reason.contains("whole-run"), "{}", e.reason);
}

const GATES: &str = r#"
schema_version = 1
missing = "hotfix"

[[gate]]
metric = "p99_us.*"
direction = "lower"
kind = "absolute"
hotfix = 1000.0
rollback = 2000.0

[[gate]]
metric = "p99_us.download"
direction = "lower"
kind = "absolute"
hotfix = 10000.0
rollback = 20000.0

[[gate]]
metric = "throughput_rps"
direction = "higher"
kind = "relative"
hotfix = 0.05
rollback = 0.15
enforce = false

[[gate]]
metric = "allocs_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.05
rollback = 0.2

[[profile.soak.gate]]
metric = "p99_us.*"
direction = "lower"
kind = "absolute"
hotfix = 5000.0
rollback = 9000.0
"#;

fn set(entries: &[(&str, f64)]) -> MetricSet {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), point(*v)))
        .collect()
}

#[test]
fn gate_expands_classes_prefers_exact_rules_and_maps_missing() {
    let gates = Gates::parse(GATES).unwrap();
    let rules = gates.for_profile("ci");
    let base = set(&[
        ("p99_us.allowed", 500.0),
        ("p99_us.download", 5000.0),
        ("throughput_rps", 100.0),
        ("allocs_per_request", 10.0),
    ]);
    let cur = set(&[
        ("p99_us.allowed", 900.0),
        ("p99_us.download", 9000.0),
        ("throughput_rps", 50.0),
        ("allocs_per_request", 10.0),
    ]);
    let report = evaluate(&gates, &rules, &base, &cur);
    let find = |m: &str| report.evaluations.iter().find(|e| e.metric == m).unwrap();
    assert_eq!(find("p99_us.allowed").verdict, Verdict::Pass);
    assert_eq!(
        find("p99_us.download").verdict,
        Verdict::Pass,
        "exact rule wins over .*"
    );
    assert_eq!(
        report
            .evaluations
            .iter()
            .filter(|e| e.metric == "p99_us.download")
            .count(),
        1
    );
    assert_eq!(find("throughput_rps").verdict, Verdict::Rollback);
    assert_eq!(
        report.verdict,
        Verdict::Pass,
        "reported-only rules do not fail the gate"
    );
    assert_eq!(report.exit_code(Accept::default()), 0);

    // The soak profile replaces p99_us.*; allocs missing in the run is a hotfix by policy.
    let soak = gates.for_profile("soak");
    let cur = set(&[("p99_us.allowed", 6000.0), ("throughput_rps", 100.0)]);
    let report = evaluate(&gates, &soak, &base, &cur);
    assert_eq!(
        report
            .evaluations
            .iter()
            .find(|e| e.metric == "p99_us.allowed")
            .unwrap()
            .verdict,
        Verdict::Hotfix
    );
    let allocs = report
        .evaluations
        .iter()
        .find(|e| e.metric == "allocs_per_request")
        .unwrap();
    assert_eq!(allocs.verdict, Verdict::Missing);
    let download = report
        .evaluations
        .iter()
        .find(|e| e.metric == "p99_us.download")
        .unwrap();
    assert_eq!(
        download.verdict,
        Verdict::Missing,
        "a class the run lost is not a pass"
    );
    assert_eq!(report.verdict, Verdict::Hotfix);
    assert_eq!(
        (
            report.exit_code(Accept::default()),
            report.exit_code(Accept {
                hotfix: true,
                inconclusive: false
            })
        ),
        (3, 0)
    );
}

#[test]
fn missing_defaults_to_rollback() {
    let text = GATES.replace("missing = \"hotfix\"\n", "");
    let gates = Gates::parse(&text).unwrap();
    let report = evaluate(
        &gates,
        &gates.for_profile("ci"),
        &set(&[("allocs_per_request", 1.0)]),
        &MetricSet::new(),
    );
    assert_eq!(report.verdict, Verdict::Rollback);
    assert_eq!(
        report.exit_code(Accept {
            hotfix: true,
            inconclusive: false
        }),
        1
    );
}

#[test]
fn validation_collects_every_problem_and_names_the_key() {
    let bad = r#"
schema_version = 2
missing = "pass"
[[gate]]
metric = "p99_us"
direction = "lower"
kind = "absolute"
hotfix = 1.0
rollback = 2.0
[[gate]]
metric = "cpu_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.1
rollback = 0.2
[[gate]]
metric = "allocs_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.3
rollback = 0.2
[[gate]]
metric = "achieved_rate_ratio"
direction = "higher"
kind = "absolute"
hotfix = 0.9
rollback = 0.95
"#;
    let problems = Gates::parse(bad).unwrap_err();
    let all = problems.join("\n");
    assert_eq!(problems.len(), 6, "{all}");
    for needle in [
        "schema_version",
        "missing",
        "gate[0] (p99_us).metric",
        "unknown metric 'cpu_per_request'",
        "gate[2] (allocs_per_request).rollback",
        "gate[3] (achieved_rate_ratio).rollback",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let shifts = r#"
schema_version = 1
[[gate]]
metric = "clean_p50_us.*"
direction = "lower"
kind = "shift"
hotfix = 0.1
rollback = 0.25
[[gate]]
metric = "clean_p50_us.allowed"
direction = "lower"
kind = "shift"
of = "clean_p90_us"
hotfix = 0.1
rollback = 0.25
[[gate]]
metric = "clean_p50_us.blocked"
direction = "lower"
kind = "shift"
of = "peak_rss_bytes"
hotfix = 0.1
rollback = 0.25
[[gate]]
metric = "peak_rss_bytes"
direction = "lower"
kind = "relative"
of = "clean_p99_us"
hotfix = 0.1
rollback = 0.25
"#;
    let problems = Gates::parse(shifts).unwrap_err();
    let all = problems.join("\n");
    assert_eq!(problems.len(), 4, "{all}");
    for needle in [
        "gate[0] (clean_p50_us.*).of: a shift rule names the metric",
        "gate[1] (clean_p50_us.allowed).of: unknown metric 'clean_p90_us'",
        "gate[2] (clean_p50_us.blocked).of: 'peak_rss_bytes' and 'clean_p50_us' must both be per class",
        "gate[3] (peak_rss_bytes).of: only a shift rule",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
    let typo = "schema_version = 1\n[[gate]]\nmetric = \"peak_rss_bytes\"\ndirection = \"lower\"\nkind = \"relative\"\nhotfix = 0.1\nrollback = 0.2\nenforced = true\n";
    let err = Gates::parse(typo).unwrap_err().join("\n");
    assert!(err.contains("enforced"), "unknown keys are refused: {err}");
}

#[test]
fn committed_gates_file_is_valid_and_covers_the_required_metrics() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/gates.toml");
    let gates = Gates::load(&path).unwrap();
    for profile in ["ci", "peak", "soak", "spike"] {
        let names: Vec<String> = gates
            .for_profile(profile)
            .iter()
            .map(|r| r.metric.name().to_owned())
            .collect();
        for required in [
            "failure_rate",
            "proxy_cpu_us_per_request",
            "allocs_per_request",
            "bytes_allocated_per_request",
            "peak_rss_bytes",
            "proxy_added_p50_us",
            "proxy_added_p99_us",
            "p99_us",
            "p999_us",
            "achieved_rate_ratio",
        ] {
            assert!(
                names.iter().any(|n| n == required),
                "{profile} lacks {required}"
            );
        }
    }
    assert!(gates
        .for_profile("soak")
        .iter()
        .any(|r| r.metric.name() == "rss_slope_bytes_per_s"));
}

#[test]
fn pooled_trials_feed_the_same_engine() {
    // Interleaved A/B: ten control and ten candidate trials, candidate 30% more CPU.
    let mut rng = SplitMix64::new(9);
    let mut trial = |v: f64| set(&[("proxy_cpu_us_per_request", v * (0.03 * rng.normal()).exp())]);
    let control: Vec<MetricSet> = (0..10).map(|_| trial(100.0)).collect();
    let candidate: Vec<MetricSet> = (0..10).map(|_| trial(130.0)).collect();
    let r = rule(Direction::Lower, Kind::Relative, 0.10, 0.25);
    let (a, b) = (pool_trials(&control), pool_trials(&candidate));
    assert_eq!(a["proxy_cpu_us_per_request"].samples.len(), 10);
    let e = r.evaluate(
        "proxy_cpu_us_per_request",
        a.get("proxy_cpu_us_per_request"),
        b.get("proxy_cpu_us_per_request"),
        Comparison::default(),
    );
    assert_eq!(
        (e.method, e.verdict),
        (Method::BootstrapMedians, Verdict::Rollback),
        "{}",
        e.reason
    );
}

/// Instructions per request exist whole-run and per class: no suffix is the mix-weighted
/// headline, `.*` each class the pass counted on either side (runs from before the pass
/// counted per class have none, and compare as before), an exact class wins over `.*`,
/// and a class counted on one side only is missing, not a pass.
#[test]
fn instructions_are_gated_whole_and_per_class() {
    let text = r#"
schema_version = 1
missing = "rollback"
[[gate]]
metric = "proxy_instructions_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.03
rollback = 0.10
[[gate]]
metric = "proxy_instructions_per_request.*"
direction = "lower"
kind = "relative"
hotfix = 0.03
rollback = 0.10
[[gate]]
metric = "proxy_instructions_per_request.download"
direction = "lower"
kind = "relative"
hotfix = 0.20
rollback = 0.40
"#;
    let gates = Gates::parse(text).unwrap();
    let rules = gates.for_profile("ci");
    let old = set(&[
        ("proxy_instructions_per_request", 100_000.0),
        ("p99_us.allowed", 500.0),
    ]);
    let report = evaluate(&gates, &rules, &old, &old);
    let metrics: Vec<&str> = report
        .evaluations
        .iter()
        .map(|e| e.metric.as_str())
        .collect();
    assert_eq!(
        metrics,
        ["proxy_instructions_per_request"],
        "no per-class counts, none compared"
    );
    assert_eq!(report.verdict, Verdict::Pass);

    let base = set(&[
        ("proxy_instructions_per_request", 100_000.0),
        ("proxy_instructions_per_request.allowed", 90_000.0),
        ("proxy_instructions_per_request.tunnel", 150_000.0),
        ("proxy_instructions_per_request.download", 2_000_000.0),
    ]);
    let cur = set(&[
        ("proxy_instructions_per_request", 101_500.0),
        ("proxy_instructions_per_request.allowed", 90_000.0),
        ("proxy_instructions_per_request.tunnel", 165_000.0),
        ("proxy_instructions_per_request.download", 2_300_000.0),
    ]);
    let report = evaluate(&gates, &rules, &base, &cur);
    let find = |m: &str| {
        let hits: Vec<_> = report
            .evaluations
            .iter()
            .filter(|e| e.metric == m)
            .collect();
        assert_eq!(hits.len(), 1, "{m}: {:?}", report.evaluations);
        hits[0].verdict
    };
    assert_eq!(
        find("proxy_instructions_per_request"),
        Verdict::Pass,
        "diluted +1.5%"
    );
    assert_eq!(
        find("proxy_instructions_per_request.allowed"),
        Verdict::Pass
    );
    assert_eq!(
        find("proxy_instructions_per_request.tunnel"),
        Verdict::Hotfix,
        "+10%"
    );
    assert_eq!(
        find("proxy_instructions_per_request.download"),
        Verdict::Pass,
        "the exact rule's +20% wins over .*"
    );
    assert_eq!(report.verdict, Verdict::Hotfix);

    let lost = set(&[
        ("proxy_instructions_per_request", 100_000.0),
        ("proxy_instructions_per_request.allowed", 90_000.0),
    ]);
    let report = evaluate(&gates, &rules, &base, &lost);
    let tunnel = report
        .evaluations
        .iter()
        .find(|e| e.metric == "proxy_instructions_per_request.tunnel")
        .expect("a class counted on one side is compared");
    assert_eq!(tunnel.verdict, Verdict::Missing);
    assert_eq!(report.verdict, Verdict::Rollback);

    let bad = text.replace(
        "proxy_instructions_per_request.download",
        "allocs_per_request.download",
    );
    let err = Gates::parse(&bad).unwrap_err().join("\n");
    assert!(
        err.contains("'allocs_per_request' is not per class"),
        "{err}"
    );
}
