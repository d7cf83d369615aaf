//! A validated rule and the settings of its comparison: the types the config parser builds
//! and the evaluation in `rules/mod.rs` reads.

use rundir::baseline::MetricSet;
use rundir::verdict::{Direction, Kind};

use crate::metrics::Metric;
use crate::stats::Bootstrap;

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Which metric.
    pub metric: Metric,
    /// `Some(class)`, or None for every class (`.*`) or for a global metric.
    pub class: Option<String>,
    /// Which way is better.
    pub direction: Direction,
    /// Relative or absolute thresholds.
    pub kind: Kind,
    /// For a `shift` rule: the metric (same class) whose baseline value scales the
    /// difference; None for every other kind.
    pub of: Option<Metric>,
    /// Hotfix threshold.
    pub hotfix: f64,
    /// Rollback threshold.
    pub rollback: f64,
    /// False: evaluated and reported, never fails the gate.
    pub enforce: bool,
    /// Rationale, printed in the baseline document.
    pub why: String,
}

impl Rule {
    /// The metric key that scales a `shift` rule's difference for metric `key`
    /// (`clean_p99_us.allowed` for `clean_p50_us.allowed` of `clean_p99_us`); None for
    /// other kinds.
    pub fn scale_key(&self, key: &str) -> Option<String> {
        let of = self.of?;
        Some(match key.split_once('.') {
            Some((_, class)) => format!("{}.{class}", of.name()),
            None => of.name().to_owned(),
        })
    }

    /// The value in `set` that scales a `shift` rule's difference for metric `key` (the
    /// control's, run or trial); None for other kinds or when `set` lacks it.
    pub fn scale_in(&self, key: &str, set: &MetricSet) -> Option<f64> {
        set.get(&self.scale_key(key)?)?.value()
    }
}

/// Settings of the statistical comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Below this many per-second samples on either side, whole-run values are compared.
    pub min_samples: usize,
    /// Bootstrap settings.
    pub bootstrap: Bootstrap,
}

impl Default for Comparison {
    fn default() -> Self {
        Self {
            min_samples: 8,
            bootstrap: Bootstrap::default(),
        }
    }
}
