//! The verdict documents (`verdict.json`): what `perf-report diff` writes for a run
//! against a baseline ([`DiffVerdict`]) and what an interleaved A/B gate session writes
//! ([`SessionVerdict`]), with the rule evaluations both hold.
//!
//! # Versions
//! - **1** (current) for both documents. A later version adds a migration step from
//!   version 1 in the `from_json` of its document. Version 1 later gained two verdict
//!   values, `not_applicable` and `inconclusive`: older documents still read, since
//!   neither holds them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::run::migrate::{check_version, DocError};

/// `verdict.json` schema version of `perf-report diff`.
pub const VERDICT_SCHEMA_VERSION: u32 = 1;

/// `verdict.json` schema version of a gate session.
pub const GATE_VERDICT_SCHEMA_VERSION: u32 = 1;

/// The verdict of a run against a promoted baseline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DiffVerdict {
    /// Schema version.
    pub schema_version: u32,
    /// Profile compared.
    pub profile: String,
    /// Baseline file name.
    pub baseline: String,
    /// When the baseline was promoted.
    pub baseline_promoted_at: String,
    /// Reasons to read the verdict with care (different machines, saturated load
    /// generator, dirty work tree, forced baseline).
    pub warnings: Vec<String>,
    /// Overall verdict and every evaluation.
    #[serde(flatten)]
    pub report: GateReport,
}

impl DiffVerdict {
    /// Reads a diff verdict, refusing other schema versions.
    pub fn from_json(doc: serde_json::Value) -> Result<Self, DocError> {
        check_version(&doc, VERDICT_SCHEMA_VERSION)?;
        Ok(serde_json::from_value(doc)?)
    }
}

/// The verdict of an interleaved A/B gate session.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SessionVerdict {
    /// Schema version.
    pub schema_version: u32,
    /// Profile gated.
    pub profile: String,
    /// The enforced verdict in words: `PASS`, `HOTFIX`, `ROLLBACK` or `MISSING`.
    pub verdict: String,
    /// How the verdict was reached.
    #[serde(flatten)]
    pub mode: Mode,
    /// Trials run (both arms).
    pub trials: usize,
    /// Reasons to read the verdict with care.
    pub warnings: Vec<String>,
    /// Candidate vs control today (interleaved mode).
    pub today: Option<GateReport>,
    /// Candidate vs the committed document (when there is one).
    pub document: Option<GateReport>,
}

impl SessionVerdict {
    /// Reads a session verdict, refusing other schema versions.
    pub fn from_json(doc: serde_json::Value) -> Result<Self, DocError> {
        check_version(&doc, GATE_VERDICT_SCHEMA_VERSION)?;
        Ok(serde_json::from_value(doc)?)
    }
}

/// Which comparison decided the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Mode {
    /// Candidate vs control measured today, pair by pair.
    Interleaved {
        /// The control's commit (or "given" for a binary passed in).
        control_commit: String,
        /// Whether the control binary came from the cache.
        reused: bool,
    },
    /// Candidate vs the committed document only: the weaker check.
    DocumentOnly {
        /// Why there was no control today.
        reason: String,
    },
}

/// The gate's overall outcome.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct GateReport {
    /// The worst enforced verdict, with "missing" mapped to the configured severity.
    pub verdict: Verdict,
    /// Every evaluated rule, enforced or not.
    pub evaluations: Vec<Evaluation>,
}

impl GateReport {
    /// Process exit code: 0 pass, 1 rollback, 3 hotfix (0 when hotfixes are accepted),
    /// 4 inconclusive (0 when accepted).
    pub fn exit_code(&self, accept: Accept) -> i32 {
        match self.verdict {
            Verdict::NotApplicable | Verdict::Pass => 0,
            Verdict::Inconclusive if accept.inconclusive => 0,
            Verdict::Inconclusive => 4,
            Verdict::Hotfix if accept.hotfix => 0,
            Verdict::Hotfix => 3,
            Verdict::Rollback | Verdict::Missing => 1,
        }
    }
}

/// Which non-pass verdicts the caller accepts as exit code 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accept {
    /// A hotfix verdict exits 0 (`--hotfix-ok`).
    pub hotfix: bool,
    /// An inconclusive verdict exits 0 (`--accept-inconclusive`): the caller reports it
    /// and lets the machine-independent rules decide.
    pub inconclusive: bool,
}

/// The evaluation of one rule on one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evaluation {
    /// The metric key, e.g. `p99_us.allowed`.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// Relative or absolute.
    pub kind: Kind,
    /// Hotfix threshold.
    pub hotfix: f64,
    /// Rollback threshold.
    pub rollback: f64,
    /// Whether the verdict counts.
    pub enforce: bool,
    /// The baseline value compared (median of samples for the bootstrap method).
    pub baseline: Option<f64>,
    /// The current value compared.
    pub current: Option<f64>,
    /// Relative change `current / baseline - 1`, when both exist.
    pub change: Option<f64>,
    /// How the two sides were compared.
    pub method: Method,
    /// Bootstrap CI of the ratio of medians.
    pub ci: Option<RatioCi>,
    /// Mann-Whitney two-sided p-value (reported alongside the CI).
    pub p_value: Option<f64>,
    /// Whether the change is statistically significant (None: not tested).
    pub significant: Option<bool>,
    /// Per-pair effects of an interleaved A/B session (relative change or delta, in the
    /// rule's unit), in trial order; empty for other methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pair_effects: Vec<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// One line explaining the verdict.
    pub reason: String,
}

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller values are better (latency, CPU, memory, failures).
    Lower,
    /// Larger values are better (throughput, achieved rate).
    Higher,
}

/// What the thresholds are measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Thresholds are fractions of change from the baseline (0.10 = 10% worse).
    Relative,
    /// Thresholds are values in the metric's own unit (an SLO).
    Absolute,
    /// Thresholds are differences from the baseline in the metric's own unit (+0.5 =
    /// half an allocation per request more): for nearly deterministic counts, where a
    /// small absolute change is meaningful whatever the relative size.
    Delta,
    /// Thresholds are differences from the baseline as a share of the baseline's value of
    /// another metric (the rule's `of`): `(current - baseline) / baseline_of`. For a
    /// latency added to every request, judged where it is steady (the median) and sized
    /// against the tail it also lengthens: +0.20 on the median, of the p99, is the p99
    /// itself 20% longer, without the tail's noise.
    Shift,
}

/// The outcome of one rule.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The rule's metric is one this kind of run cannot produce (e.g. the achieved share
    /// of an offered rate, for a closed-loop run that offers none): neither side measured
    /// it. Ordered first, so it never decides a verdict.
    #[serde(rename = "not_applicable")]
    NotApplicable,
    /// Within the hotfix threshold (or within noise).
    Pass,
    /// Not judged: the machine left too little uncontended time to measure the metric
    /// (`inconclusive (machine)`). Worse than a pass, so a session that could not judge
    /// its latency never reads as a plain pass; better than a hotfix, so a noisy machine
    /// alone never blocks a landing (exit code 4, accepted with `--accept-inconclusive`).
    Inconclusive,
    /// Beyond the hotfix threshold: may ship only as a hotfix.
    Hotfix,
    /// Beyond the rollback threshold: must not ship.
    Rollback,
    /// The metric was not measured on one side: not a pass.
    Missing,
}

/// How a rule compared the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Medians of per-second samples, bootstrap CI for significance.
    BootstrapMedians,
    /// Whole-run values only (too few samples for a distribution).
    Point,
    /// Current value against an absolute threshold.
    Absolute,
    /// Interleaved A/B trials: median of the per-pair effects, every pair agreeing in
    /// direction, and (with per-second samples) a pooled bootstrap CI excluding 1.
    PairedTrials,
    /// Nothing to compare.
    None,
}

/// A bootstrap confidence interval of `median(current) / median(baseline)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RatioCi {
    /// The observed ratio of medians.
    pub ratio: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl RatioCi {
    /// Whether the interval excludes 1.0, i.e. the medians differ significantly.
    pub fn excludes_one(&self) -> bool {
        self.low > 1.0 || self.high < 1.0
    }
}
