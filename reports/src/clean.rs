//! Latency judged on uncontended time, and what happens when there is too little of it.
//!
//! Why: on a shared two-core machine a latency tail moves 2-30x with the neighbours
//! (the committed peak baseline said allowed p99 8.7 ms; a rerun on a busier machine gave
//! 19.8 ms with 38 of 166 seconds contended). The harness records, per second, whether the
//! machine itself was contended ([`crate::machine`]); the `clean_*` metrics
//! ([`Metric::CleanP99Us`], [`Metric::CleanP50Us`]) use only the other seconds. When a run (or a trial pair) has
//! fewer than [`MIN_CLEAN_SECONDS`] of them, its latency is not judged: the rule's
//! verdict is [`Verdict::Inconclusive`], `inconclusive (machine)`, never a silent pass
//! and never a failure the machine caused.

use crate::metrics::Metric;
use crate::rules::{Evaluation, Rule, Verdict};
use rundir::baseline::MetricSet;

/// Uncontended seconds after the warm-up a run (or each trial of a pair) needs before its
/// `clean_*` metrics are judged. Six is half of a `ci` trial's 12 seconds after its
/// warm-up: a median of six per-second p99s still ignores two bad seconds.
pub const MIN_CLEAN_SECONDS: f64 = 6.0;

/// Whether a rule's metric is judged on uncontended seconds only.
pub fn judged_on_clean_time(rule: &Rule) -> bool {
    is_clean_latency(rule.metric)
}

/// The latency metrics measured on uncontended seconds only.
pub fn is_clean_latency(metric: Metric) -> bool {
    matches!(metric, Metric::CleanP99Us | Metric::CleanP50Us)
}

/// The uncontended seconds a metric set rests on (`None`: the run recorded no
/// machine columns).
pub fn clean_seconds(set: &MetricSet) -> Option<f64> {
    set.get(Metric::CleanSeconds.name())?.value()
}

/// Whether a set has enough uncontended time to be judged.
pub fn enough(set: &MetricSet) -> bool {
    clean_seconds(set).is_some_and(|s| s >= MIN_CLEAN_SECONDS)
}

/// The evaluation of a rule that could not be judged for lack of uncontended time.
pub fn inconclusive(rule: &Rule, name: &str, why: String) -> Evaluation {
    Evaluation {
        verdict: Verdict::Inconclusive,
        reason: format!("inconclusive (machine): {why}"),
        ..rule.unjudged(name)
    }
}

/// Describes a set's uncontended time for a reason line.
pub fn describe(set: &MetricSet) -> String {
    match clean_seconds(set) {
        Some(s) => format!("{s:.0} uncontended seconds (needs {MIN_CLEAN_SECONDS:.0})"),
        None => "no machine samples".to_owned(),
    }
}

/// The trial pairs with enough uncontended time on both sides, as two parallel lists.
pub fn usable_pairs(
    control: &[MetricSet],
    candidate: &[MetricSet],
) -> (Vec<MetricSet>, Vec<MetricSet>) {
    control
        .iter()
        .zip(candidate)
        .filter(|(a, b)| enough(a) && enough(b))
        .map(|(a, b)| (a.clone(), b.clone()))
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rundir::baseline::MetricValue;

    fn set(clean: Option<f64>) -> MetricSet {
        let mut s = MetricSet::new();
        if let Some(c) = clean {
            s.insert(
                Metric::CleanSeconds.name().to_owned(),
                MetricValue {
                    point: Some(c),
                    samples: Vec::new(),
                },
            );
        }
        s
    }

    #[test]
    fn enough_needs_the_minimum_of_recorded_clean_seconds() {
        assert!(enough(&set(Some(MIN_CLEAN_SECONDS))));
        assert!(!enough(&set(Some(MIN_CLEAN_SECONDS - 1.0))));
        assert!(!enough(&set(None)), "unrecorded is not clean");
        assert!(describe(&set(None)).contains("no machine samples"));
    }

    #[test]
    fn only_pairs_clean_on_both_sides_are_used() {
        let a = [set(Some(15.0)), set(Some(3.0)), set(Some(10.0))];
        let b = [set(Some(15.0)), set(Some(15.0)), set(Some(2.0))];
        let (ua, ub) = usable_pairs(&a, &b);
        assert_eq!((ua.len(), ub.len()), (1, 1));
        assert_eq!(clean_seconds(&ua[0]), Some(15.0));
    }
}
