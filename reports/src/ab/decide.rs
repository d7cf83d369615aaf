//! The paired decision of an interleaved A/B session: per metric, is the candidate worse
//! than the control measured beside it, by more than the rule's threshold, consistently?
//!
//! Why paired: trials run A B A B on one machine, so a slow stretch of the machine hits a
//! control and the candidate next to it alike; comparing each candidate trial with its
//! own control cancels that drift, which pooling all trials would not. A relative or
//! delta rule fails only when all three hold:
//!
//! - **effect**: the median of the per-pair effects (relative change, or difference for
//!   `delta` rules) is beyond the threshold (the minimum effect size);
//! - **consistency**: every pair moved the worse way (with 3 pairs, identical builds do
//!   that for one metric with probability 1/8, so this alone is not enough);
//! - **significance**: where the trials have per-second samples, the bootstrap CI of the
//!   ratio of medians of the pooled samples excludes 1 on the worse side.
//!
//! Absolute rules (SLOs) apply to the candidate alone: its trials' median value (the mean
//! for failure rates, so a failure in any trial counts).

use crate::clean;
use crate::gate::{self, GateReport};
use crate::metrics::Metric;
use crate::rules::{relative_change, Evaluation, Gates, Kind, Method, Rule, Verdict};
use crate::stats;
use rundir::baseline::{MetricSet, MetricValue};

/// Fewest pairs that can show a consistent change.
pub const MIN_PAIRS: usize = 2;

/// Decides every rule on paired trials: `control[i]` ran just before `candidate[i]`.
pub fn decide(
    gates: &Gates,
    rules: &[Rule],
    control: &[MetricSet],
    candidate: &[MetricSet],
) -> GateReport {
    gate::evaluate_with(
        gates,
        rules,
        control.iter().chain(candidate),
        |rule, name| {
            if clean::judged_on_clean_time(rule) {
                return on_clean_time(gates, rule, name, control, candidate);
            }
            match rule.kind {
                Kind::Absolute => absolute(gates, rule, name, control, candidate),
                Kind::Relative | Kind::Delta | Kind::Shift => {
                    paired(gates, rule, name, control, candidate)
                }
            }
        },
    )
}

/// A rule on a `clean_*` metric: decided on the pairs whose trials both kept at least
/// [`clean::MIN_CLEAN_SECONDS`] uncontended seconds (an SLO: on the candidate trials that
/// did); with fewer than [`MIN_PAIRS`] such pairs (one such trial for an SLO) the verdict
/// is inconclusive (machine).
fn on_clean_time(
    gates: &Gates,
    rule: &Rule,
    name: &str,
    control: &[MetricSet],
    candidate: &[MetricSet],
) -> Evaluation {
    let per_trial = |trials: &[MetricSet]| {
        trials
            .iter()
            .map(|t| clean::clean_seconds(t).map_or_else(|| "-".to_owned(), |s| format!("{s:.0}")))
            .collect::<Vec<_>>()
            .join("/")
    };
    let seconds = format!(
        "uncontended seconds per trial: control {}, candidate {} (each needs {:.0})",
        per_trial(control),
        per_trial(candidate),
        clean::MIN_CLEAN_SECONDS
    );
    let mut e = if rule.kind == Kind::Absolute {
        let clean: Vec<MetricSet> = candidate
            .iter()
            .filter(|t| clean::enough(t))
            .cloned()
            .collect();
        if clean.is_empty() {
            return clean::inconclusive(
                rule,
                name,
                format!("no candidate trial was clean enough; {seconds}"),
            );
        }
        absolute(gates, rule, name, control, &clean)
    } else {
        let (a, b) = clean::usable_pairs(control, candidate);
        if a.len() < MIN_PAIRS {
            return clean::inconclusive(
                rule,
                name,
                format!(
                    "{} of {} pairs clean enough, {MIN_PAIRS} needed; {seconds}",
                    a.len(),
                    control.len().min(candidate.len())
                ),
            );
        }
        paired(gates, rule, name, &a, &b)
    };
    e.reason.push_str(&format!(" ({seconds})"));
    e
}

/// One arm's trials pooled into one value: the summary point (median of the trials, or
/// the mean for failure rates) and every trial's per-second samples.
pub fn summarise_arm(name: &str, trials: &[MetricSet]) -> Option<MetricValue> {
    let values: Vec<f64> = trials.iter().filter_map(|t| t.get(name)?.value()).collect();
    if values.is_empty() {
        return None;
    }
    let point = if name.starts_with(Metric::FailureRate.name()) {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    } else {
        stats::median(&values)
    };
    let samples = trials
        .iter()
        .filter_map(|t| t.get(name))
        .flat_map(|v| v.samples.iter().copied())
        .collect();
    Some(MetricValue { point, samples })
}

fn absolute(
    gates: &Gates,
    rule: &Rule,
    name: &str,
    control: &[MetricSet],
    candidate: &[MetricSet],
) -> Evaluation {
    let cand = summarise_arm(name, candidate).map(|v| MetricValue {
        point: v.point,
        samples: Vec::new(),
    });
    let mut e = rule.evaluate(name, None, cand.as_ref(), gates.comparison);
    let ctrl = summarise_arm(name, control).map(|v| MetricValue {
        point: v.point,
        samples: Vec::new(),
    });
    let ctrl_verdict = rule
        .evaluate(name, None, ctrl.as_ref(), gates.comparison)
        .verdict;
    if e.verdict != Verdict::Pass && ctrl_verdict != Verdict::Missing && ctrl_verdict >= e.verdict {
        // Still the candidate's verdict (an SLO is absolute), but the reader should know
        // the build measured beside it misses the SLO as badly: the environment is a suspect.
        e.reason
            .push_str("; the control misses it as badly today (suspect the machine, too)");
    }
    e.baseline = ctrl.and_then(|v| v.point);
    e.change = e
        .baseline
        .zip(e.current)
        .map(|(b, c)| relative_change(b, c));
    e
}

fn paired(
    gates: &Gates,
    rule: &Rule,
    name: &str,
    control: &[MetricSet],
    candidate: &[MetricSet],
) -> Evaluation {
    let ctrl = summarise_arm(name, control);
    let cand = summarise_arm(name, candidate);
    // Start from the plain comparison of the pooled arms: it fills the "missing" cases
    // and the display values; the paired logic below replaces its verdict.
    let pooled_scale = rule
        .scale_key(name)
        .and_then(|k| summarise_arm(&k, control))
        .and_then(|v| v.point);
    let mut e = rule.evaluate_scaled(
        name,
        ctrl.as_ref(),
        cand.as_ref(),
        pooled_scale,
        gates.comparison,
    );
    if e.verdict == Verdict::Missing && (ctrl.is_none() || cand.is_none()) {
        return e;
    }
    e.baseline = ctrl.as_ref().and_then(|v| v.point);
    e.current = cand.as_ref().and_then(|v| v.point);
    e.method = Method::PairedTrials;
    // A shift is scaled pair by pair by the control trial's own `of` value: the pair
    // that ran on a slower stretch of the machine is judged against its own tail.
    e.pair_effects = control
        .iter()
        .zip(candidate)
        .filter_map(|(a, b)| {
            let (x, y) = (a.get(name)?.value()?, b.get(name)?.value()?);
            match rule.kind {
                Kind::Delta => Some(y - x),
                Kind::Shift => rule.shift(Some(x), Some(y), rule.scale_in(name, a)),
                Kind::Relative | Kind::Absolute => Some(relative_change(x, y)),
            }
        })
        .collect();
    let Some(effect) = stats::median(&e.pair_effects) else {
        e.verdict = Verdict::Missing;
        e.reason = "no trial pair measured it on both sides".to_owned();
        return e;
    };
    e.change = match rule.kind {
        Kind::Delta | Kind::Shift => e
            .baseline
            .zip(e.current)
            .map(|(b, c)| relative_change(b, c)),
        Kind::Relative | Kind::Absolute => Some(effect),
    };
    let shown = rule.show_effect(effect);
    let (verdict, reason) = rule.classify(effect, &shown);
    let worse_pairs = e
        .pair_effects
        .iter()
        .filter(|&&x| rule.worse(x) > 0.0)
        .count();
    let n = e.pair_effects.len();
    let consistent = n >= MIN_PAIRS && worse_pairs == n;
    // The CI (when the plain comparison computed one) is of the pooled per-second samples.
    let ci_worse = e.ci.map(|ci| match rule.direction {
        crate::rules::Direction::Lower => ci.low > 1.0,
        crate::rules::Direction::Higher => ci.high < 1.0,
    });
    e.significant = Some(consistent && ci_worse != Some(false));
    (e.verdict, e.reason) = if verdict == Verdict::Pass {
        (verdict, format!("{reason} (median of {n} pairs)"))
    } else if n < MIN_PAIRS {
        (
            Verdict::Pass,
            format!("{shown}, but {n} pair cannot show a consistent change"),
        )
    } else if !consistent {
        (
            Verdict::Pass,
            format!("{shown}, but only {worse_pairs} of {n} pairs were worse (inconsistent)"),
        )
    } else if ci_worse == Some(false) {
        (
            Verdict::Pass,
            format!(
                "{shown} in every pair, but the CI of the pooled per-second samples includes 1"
            ),
        )
    } else {
        (verdict, format!("{reason}; worse in all {n} pairs"))
    };
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    const RULES: &str = r#"
schema_version = 1
missing = "rollback"
[[gate]]
metric = "proxy_cpu_us_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.05
rollback = 0.15
[[gate]]
metric = "allocs_per_request"
direction = "lower"
kind = "delta"
hotfix = 0.5
rollback = 2.0
[[gate]]
metric = "p99_us.*"
direction = "lower"
kind = "absolute"
hotfix = 50000.0
rollback = 200000.0
"#;

    /// A trial whose per-second CPU samples scatter around `cpu` (2% noise) and whose
    /// allocation count is `allocs`.
    fn trial(rng: &mut SplitMix64, cpu: f64, allocs: f64, p99: f64) -> MetricSet {
        let samples: Vec<f64> = (0..20).map(|_| cpu * (0.02 * rng.normal()).exp()).collect();
        let mut set = MetricSet::new();
        set.insert(
            "proxy_cpu_us_per_request".into(),
            MetricValue {
                point: stats::median(&samples),
                samples,
            },
        );
        set.insert(
            "allocs_per_request".into(),
            MetricValue {
                point: Some(allocs),
                samples: Vec::new(),
            },
        );
        set.insert(
            "p99_us.allowed".into(),
            MetricValue {
                point: Some(p99),
                samples: Vec::new(),
            },
        );
        set
    }

    fn session(seed: u64, cpu_factor: f64, extra_allocs: f64) -> (Vec<MetricSet>, Vec<MetricSet>) {
        let mut rng = SplitMix64::new(seed);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for i in 0..3 {
            // Machine drift between pairs: both arms of a pair share it.
            let drift = 1.0 + 0.04 * i as f64;
            a.push(trial(&mut rng, 100.0 * drift, 40.0, 9000.0));
            b.push(trial(
                &mut rng,
                100.0 * drift * cpu_factor,
                40.0 + extra_allocs,
                9100.0,
            ));
        }
        (a, b)
    }

    fn verdict_of(report: &GateReport, metric: &str) -> (Verdict, String) {
        let e = report
            .evaluations
            .iter()
            .find(|e| e.metric == metric)
            .expect("metric evaluated");
        (e.verdict, e.reason.clone())
    }

    #[test]
    fn identical_arms_pass() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, _) = session(1, 1.0, 0.0);
        let report = decide(&gates, &rules, &a, &a);
        assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
        let e = &report.evaluations[0];
        assert_eq!(e.method, Method::PairedTrials);
        assert_eq!(e.pair_effects, vec![0.0; 3]);
    }

    #[test]
    fn a_twenty_percent_cpu_shift_is_a_rollback() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, b) = session(2, 1.20, 0.0);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "proxy_cpu_us_per_request");
        assert_eq!(v, Verdict::Rollback, "{why}");
        assert!(why.contains("all 3 pairs"), "{why}");
        assert_eq!(report.verdict, Verdict::Rollback);
    }

    #[test]
    fn one_more_allocation_per_request_is_flagged_by_the_delta_rule() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, b) = session(3, 1.0, 1.0);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "allocs_per_request");
        assert_eq!(v, Verdict::Hotfix, "{why}");
        assert!(why.starts_with("+1 "), "{why}");
    }

    #[test]
    fn a_shift_inside_noise_passes() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        // Same distribution, different draws, drift between pairs.
        let (a, _) = session(4, 1.0, 0.0);
        let (b, _) = session(5, 1.01, 0.0);
        let report = decide(&gates, &rules, &a, &b);
        assert_eq!(report.verdict, Verdict::Pass, "{report:#?}");
    }

    #[test]
    fn a_change_in_one_pair_only_is_not_consistent() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, mut b) = session(6, 1.0, 0.0);
        // One wild candidate trial (a noisy neighbour), the other two slightly better.
        b[0] = trial(&mut SplitMix64::new(7), 150.0, 40.0, 9000.0);
        b[1] = trial(&mut SplitMix64::new(8), 101.0, 40.0, 9000.0);
        b[2] = trial(&mut SplitMix64::new(9), 90.0, 40.0, 9000.0);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "proxy_cpu_us_per_request");
        assert_eq!(v, Verdict::Pass, "{why}");
    }

    #[test]
    fn slos_apply_to_the_candidate_alone() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let mut rng = SplitMix64::new(10);
        let a: Vec<_> = (0..3)
            .map(|_| trial(&mut rng, 100.0, 40.0, 300_000.0))
            .collect();
        let b: Vec<_> = (0..3)
            .map(|_| trial(&mut rng, 100.0, 40.0, 60_000.0))
            .collect();
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "p99_us.allowed");
        assert_eq!(v, Verdict::Hotfix, "{why}");
        assert!(why.contains("control misses it as badly"), "{why}");
        let (a, _) = session(12, 1.0, 0.0);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "p99_us.allowed");
        assert_eq!(v, Verdict::Hotfix, "{why}");
        assert!(!why.contains("control"), "{why}");
    }

    #[test]
    fn a_metric_neither_arm_measured_is_missing() {
        let gates = Gates::parse(RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (mut a, mut b) = session(11, 1.0, 0.0);
        for t in a.iter_mut().chain(b.iter_mut()) {
            t.remove("allocs_per_request");
        }
        let report = decide(&gates, &rules, &a, &b);
        assert_eq!(
            verdict_of(&report, "allocs_per_request").0,
            Verdict::Missing
        );
        assert_eq!(report.verdict, Verdict::Rollback);
    }

    const CLEAN_RULES: &str = r#"
schema_version = 1
missing = "rollback"
[[gate]]
metric = "clean_p99_us.*"
direction = "lower"
kind = "relative"
hotfix = 0.10
rollback = 0.25
[[gate]]
metric = "achieved_rate_ratio"
direction = "higher"
kind = "absolute"
hotfix = 0.98
rollback = 0.95
"#;

    /// A trial with `clean` uncontended seconds whose per-second p99s scatter (5%) around
    /// `p99`.
    fn clean_trial(rng: &mut SplitMix64, p99: f64, clean: f64) -> MetricSet {
        let samples: Vec<f64> = (0..clean as usize)
            .map(|_| p99 * (0.05 * rng.normal()).exp())
            .collect();
        let mut set = MetricSet::new();
        set.insert(
            "clean_seconds".into(),
            MetricValue {
                point: Some(clean),
                samples: Vec::new(),
            },
        );
        if !samples.is_empty() {
            set.insert(
                "clean_p99_us.allowed".into(),
                MetricValue {
                    point: stats::median(&samples),
                    samples,
                },
            );
        }
        set
    }

    fn clean_session(seed: u64, factor: f64, clean: [f64; 6]) -> (Vec<MetricSet>, Vec<MetricSet>) {
        let mut rng = SplitMix64::new(seed);
        (0..3)
            .map(|i| {
                (
                    clean_trial(&mut rng, 5000.0, clean[2 * i]),
                    clean_trial(&mut rng, 5000.0 * factor, clean[2 * i + 1]),
                )
            })
            .unzip()
    }

    #[test]
    fn latency_on_clean_seconds_catches_a_twenty_percent_slower_candidate() {
        let gates = Gates::parse(CLEAN_RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, b) = clean_session(20, 1.20, [15.0; 6]);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "clean_p99_us.allowed");
        assert!(v >= Verdict::Hotfix, "{why}");
        assert!(why.contains("uncontended seconds per trial"), "{why}");
        let (a, b) = clean_session(21, 1.0, [15.0; 6]);
        let report = decide(&gates, &rules, &a, &b);
        assert_eq!(verdict_of(&report, "clean_p99_us.allowed").0, Verdict::Pass);
    }

    #[test]
    fn too_little_clean_time_is_inconclusive_not_a_pass_or_a_failure() {
        let gates = Gates::parse(CLEAN_RULES).unwrap();
        let rules = gates.for_profile("ci");
        // Only the middle pair keeps enough uncontended seconds on both sides.
        let (a, b) = clean_session(22, 2.0, [15.0, 2.0, 15.0, 15.0, 3.0, 15.0]);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "clean_p99_us.allowed");
        assert_eq!(v, Verdict::Inconclusive, "{why}");
        assert!(
            why.starts_with("inconclusive (machine): 1 of 3 pairs"),
            "{why}"
        );
        assert!(why.contains("control 15/15/3, candidate 2/15/15"), "{why}");
        assert_eq!(report.verdict, Verdict::Inconclusive);
        assert_eq!(report.exit_code(Default::default()), 4);
        let accept = rundir::verdict::Accept {
            hotfix: false,
            inconclusive: true,
        };
        assert_eq!(report.exit_code(accept), 0);
        // Two clean pairs are enough to judge, and a doubling is then caught.
        let (a, b) = clean_session(23, 2.0, [15.0, 2.0, 15.0, 15.0, 8.0, 9.0]);
        let report = decide(&gates, &rules, &a, &b);
        assert_eq!(
            verdict_of(&report, "clean_p99_us.allowed").0,
            Verdict::Rollback
        );
    }

    const SHIFT_RULES: &str = r#"
schema_version = 1
missing = "rollback"
[[gate]]
metric = "clean_p50_us.*"
direction = "lower"
kind = "shift"
of = "clean_p99_us"
hotfix = 0.10
rollback = 0.25
"#;

    /// A trial like [`clean_trial`] with a median latency too: per-second p50s scatter
    /// (10%) around `p50`, p99s (30%) around `p99`, as this machine's seconds do.
    fn latency_trial(rng: &mut SplitMix64, p50: f64, p99: f64) -> MetricSet {
        let mut set = clean_trial(rng, p99, 14.0);
        let p99s: Vec<f64> = (0..14).map(|_| p99 * (0.3 * rng.normal()).exp()).collect();
        let p50s: Vec<f64> = (0..14).map(|_| p50 * (0.1 * rng.normal()).exp()).collect();
        for (key, samples) in [
            ("clean_p99_us.allowed", p99s),
            ("clean_p50_us.allowed", p50s),
        ] {
            set.insert(
                key.into(),
                MetricValue {
                    point: stats::median(&samples),
                    samples,
                },
            );
        }
        set
    }

    /// Three pairs; the candidate waits `delay` µs more per request, which adds `delay` to
    /// its median and to its p99 alike.
    fn delayed_session(seed: u64, delay: f64) -> (Vec<MetricSet>, Vec<MetricSet>) {
        let mut rng = SplitMix64::new(seed);
        (0..3)
            .map(|_| {
                (
                    latency_trial(&mut rng, 650.0, 7000.0),
                    latency_trial(&mut rng, 650.0 + delay, 7000.0 + delay),
                )
            })
            .unzip()
    }

    #[test]
    fn a_delay_of_a_fifth_of_the_p99_is_caught_on_the_median_and_identical_builds_pass() {
        let gates = Gates::parse(SHIFT_RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (a, b) = delayed_session(30, 1400.0);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "clean_p50_us.allowed");
        assert_eq!(v, Verdict::Hotfix, "{why}");
        assert!(why.contains("of the baseline's clean_p99_us"), "{why}");
        let e = report
            .evaluations
            .iter()
            .find(|e| e.metric == "clean_p50_us.allowed")
            .unwrap();
        // Each pair's shift is scaled by its own control trial's p99 (about 7 ms).
        for x in &e.pair_effects {
            assert!((0.12..0.30).contains(x), "{:?}", e.pair_effects);
        }
        for seed in 31..41 {
            let (a, b) = delayed_session(seed, 0.0);
            let report = decide(&gates, &rules, &a, &b);
            let (v, why) = verdict_of(&report, "clean_p50_us.allowed");
            assert_eq!(v, Verdict::Pass, "seed {seed}: {why}");
        }
    }

    #[test]
    fn a_shift_without_the_controls_scale_is_missing_not_a_pass() {
        let gates = Gates::parse(SHIFT_RULES).unwrap();
        let rules = gates.for_profile("ci");
        let (mut a, b) = delayed_session(42, 5000.0);
        for t in &mut a {
            t.remove("clean_p99_us.allowed");
        }
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "clean_p50_us.allowed");
        assert_eq!(v, Verdict::Missing, "{why}");
        assert_eq!(report.verdict, Verdict::Rollback);
    }

    #[test]
    fn a_rate_a_closed_loop_run_never_offers_does_not_apply() {
        let gates = Gates::parse(CLEAN_RULES).unwrap();
        let rules = gates.for_profile("peak");
        let (a, b) = clean_session(24, 1.0, [15.0; 6]);
        let report = decide(&gates, &rules, &a, &b);
        let (v, why) = verdict_of(&report, "achieved_rate_ratio");
        assert_eq!(v, Verdict::NotApplicable, "{why}");
        assert!(why.contains("open-loop runs"), "{why}");
        assert_eq!(report.verdict, Verdict::Pass);
    }
}
