//! Applying a profile's rules to two metric sets and reducing them to one outcome.
//!
//! The inputs are two [`MetricSet`]s (control and candidate), not documents: a promoted
//! baseline and a run give one each today; interleaved A/B trials can give one each via
//! [`pool_trials`]. Per-class rules with `.*` expand to every class either side measured,
//! and an exact `.class` rule takes precedence over the wildcard.

use crate::clean;
use crate::metrics::{Metric, MetricKey};
use crate::rules::{Evaluation, Gates, Kind, Rule, Verdict};
use rundir::baseline::MetricSet;
pub use rundir::verdict::GateReport;
use std::collections::BTreeSet;

/// Evaluates `rules` on a control (baseline) and a candidate (current) metric set.
pub fn evaluate(
    gates: &Gates,
    rules: &[Rule],
    control: &MetricSet,
    candidate: &MetricSet,
) -> GateReport {
    evaluate_with(gates, rules, [control, candidate], |rule, name| {
        if clean::judged_on_clean_time(rule) {
            // A document's own clean time was judged when it was promoted; the run's must
            // be enough now, and so must the document's for a comparison.
            let short = if rule.kind == Kind::Absolute {
                (!clean::enough(candidate))
                    .then(|| format!("the run had {}", clean::describe(candidate)))
            } else if !clean::enough(candidate) || !clean::enough(control) {
                Some(format!(
                    "the run had {}, the baseline {}",
                    clean::describe(candidate),
                    clean::describe(control)
                ))
            } else {
                None
            };
            if let Some(why) = short {
                return clean::inconclusive(rule, name, why);
            }
        }
        rule.evaluate_scaled(
            name,
            control.get(name),
            candidate.get(name),
            rule.scale_in(name, control),
            gates.comparison,
        )
    })
}

/// Expands `rules` over the classes the `sets` measured, evaluates each metric key with
/// `eval`, and reduces the evaluations to one verdict. Shared by the document gate and the
/// interleaved A/B gate, so both expand wildcards and weigh "missing" the same way.
pub fn evaluate_with<'a>(
    gates: &Gates,
    rules: &[Rule],
    sets: impl IntoIterator<Item = &'a MetricSet>,
    mut eval: impl FnMut(&Rule, &str) -> Evaluation,
) -> GateReport {
    let keys: BTreeSet<&String> = sets.into_iter().flat_map(|set| set.keys()).collect();
    let classes: BTreeSet<String> = keys
        .iter()
        .filter_map(|k| k.split_once('.').map(|(_, c)| c.to_owned()))
        .collect();
    let is_storm = keys
        .iter()
        .any(|k| k.as_str() == Metric::StormConnectionFailures.name());
    let mut evaluations = Vec::new();
    for rule in rules {
        for key in keys_for(rule, rules, &classes) {
            // A whole-and-per-class metric's `.*` covers the classes it was measured for
            // on either side, and its exact class rules apply once either side measured
            // it per class at all (runs from before it was per class have none to compare).
            if rule.metric.also_per_class() && key.class.is_some() {
                let prefix = format!("{}.", rule.metric.name());
                let measured = if rule.class.as_deref() == Some("*") {
                    keys.iter().any(|k| **k == key.to_string())
                } else {
                    keys.iter().any(|k| k.starts_with(&prefix))
                };
                if !measured {
                    continue;
                }
            }
            let mut e = eval(rule, &key.to_string());
            if let Some(producers) = rule.metric.produced_only_by() {
                if e.verdict == Verdict::Missing && e.baseline.is_none() && e.current.is_none() {
                    e.verdict = Verdict::NotApplicable;
                    e.reason = format!("does not apply: measured by {producers} only");
                }
            }
            // A connection storm sends no classed requests: its per-class rules (failure
            // rate, latency) do not apply. Only a storm's own figures say so, so an ordinary
            // run that lost its classes stays missing.
            if rule.metric.per_class()
                && classes.is_empty()
                && is_storm
                && e.baseline.is_none()
                && e.current.is_none()
                && matches!(e.verdict, Verdict::Missing | Verdict::Inconclusive)
            {
                e.verdict = Verdict::NotApplicable;
                e.reason = "does not apply: a connection storm has no request classes".to_owned();
            }
            evaluations.push(e);
        }
    }
    let verdict = evaluations
        .iter()
        .filter(|e| e.enforce)
        .map(|e| match e.verdict {
            Verdict::Missing => gates.missing,
            v => v,
        })
        .max()
        .unwrap_or(Verdict::Pass);
    GateReport {
        verdict,
        evaluations,
    }
}

/// The metric keys a rule applies to.
fn keys_for(rule: &Rule, all: &[Rule], classes: &BTreeSet<String>) -> Vec<MetricKey> {
    if !rule.metric.per_class() && rule.class.is_none() {
        return vec![MetricKey {
            metric: rule.metric,
            class: None,
        }];
    }
    // A whole-and-per-class metric keeps its `.*` as the class `*`.
    match rule.class.as_ref().filter(|c| *c != "*") {
        Some(class) => vec![MetricKey {
            metric: rule.metric,
            class: Some(class.clone()),
        }],
        None => classes
            .iter()
            .filter(|c| {
                !all.iter()
                    .any(|r| r.metric == rule.metric && r.class.as_ref() == Some(*c))
            })
            .map(|c| MetricKey {
                metric: rule.metric,
                class: Some(c.clone()),
            })
            .collect(),
    }
}

/// Pools several trials into one metric set whose samples are the trials' whole-run values
/// (for interleaved A/B sessions: one set for control trials, one for candidate trials).
pub fn pool_trials(trials: &[MetricSet]) -> MetricSet {
    let mut pooled = MetricSet::new();
    for trial in trials {
        for (key, value) in trial {
            if let Some(v) = value.value() {
                pooled.entry(key.clone()).or_default().samples.push(v);
            }
        }
    }
    pooled
}
