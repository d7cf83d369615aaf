//! Gate rules (`baselines/gates.toml`): parsing, validation, and the evaluation of one rule
//! on two sets of samples.
//!
//! A rule takes a baseline sample and a current sample, not documents, so the same engine
//! serves "run against promoted baseline" today and "interleaved A/B trials" later.
//! Parsing is strict (`deny_unknown_fields`), then validation collects every problem and
//! names its key, so a typo in a threshold cannot silently disable a gate.

mod config;
mod rule;

pub use config::{Gates, Session, DEFAULT_PAIRS, GATES_SCHEMA_VERSION};
pub use rule::{Comparison, Rule};

use crate::metrics::Metric;
use crate::stats;
use rundir::baseline::MetricValue;
pub use rundir::verdict::{Direction, Evaluation, Kind, Method, RatioCi, Verdict};

impl Rule {
    /// The rule in words, for documents.
    pub fn describe(&self) -> String {
        words(
            self.direction,
            self.kind,
            self.hotfix,
            self.rollback,
            self.of.map(Metric::name),
        )
    }

    /// The evaluation of this rule for metric `key` before anything is compared: no
    /// values, verdict `missing`, empty reason. Every evaluation starts here.
    pub fn unjudged(&self, key: &str) -> Evaluation {
        Evaluation {
            metric: key.to_owned(),
            direction: self.direction,
            kind: self.kind,
            hotfix: self.hotfix,
            rollback: self.rollback,
            enforce: self.enforce,
            baseline: None,
            current: None,
            change: None,
            method: Method::None,
            ci: None,
            p_value: None,
            significant: None,
            pair_effects: Vec::new(),
            verdict: Verdict::Missing,
            reason: String::new(),
        }
    }

    /// Evaluates the rule for metric `key` on a baseline and a current sample.
    pub fn evaluate(
        &self,
        key: &str,
        baseline: Option<&MetricValue>,
        current: Option<&MetricValue>,
        cmp: Comparison,
    ) -> Evaluation {
        self.evaluate_scaled(key, baseline, current, None, cmp)
    }

    /// [`Rule::evaluate`], with the baseline's value of the rule's `of` metric for a
    /// `shift` rule (ignored by other kinds; a shift rule without it is not comparable).
    pub fn evaluate_scaled(
        &self,
        key: &str,
        baseline: Option<&MetricValue>,
        current: Option<&MetricValue>,
        scale: Option<f64>,
        cmp: Comparison,
    ) -> Evaluation {
        let mut e = self.unjudged(key);
        e.baseline = baseline.and_then(MetricValue::value);
        e.current = current.and_then(MetricValue::value);
        e.change = e
            .baseline
            .zip(e.current)
            .map(|(b, c)| relative_change(b, c));
        match self.kind {
            Kind::Absolute => self.absolute(&mut e),
            Kind::Relative | Kind::Delta | Kind::Shift => match (baseline, current) {
                (Some(b), Some(c)) => self.relative(&mut e, b, c, scale, cmp),
                (None, _) => e.reason = "no baseline value".to_owned(),
                (_, None) => e.reason = "not measured in this run".to_owned(),
            },
        }
        e
    }

    fn absolute(&self, e: &mut Evaluation) {
        e.method = Method::Absolute;
        let Some(value) = e.current else {
            e.reason = "not measured in this run".to_owned();
            return;
        };
        let beyond = |limit: f64| match self.direction {
            Direction::Lower => value > limit,
            Direction::Higher => value < limit,
        };
        (e.verdict, e.reason) = if beyond(self.rollback) {
            (
                Verdict::Rollback,
                format!(
                    "{} is beyond the rollback limit {}",
                    fmt_num(value),
                    fmt_num(self.rollback)
                ),
            )
        } else if beyond(self.hotfix) {
            (
                Verdict::Hotfix,
                format!(
                    "{} is beyond the hotfix limit {}",
                    fmt_num(value),
                    fmt_num(self.hotfix)
                ),
            )
        } else {
            (
                Verdict::Pass,
                format!("{} is within {}", fmt_num(value), fmt_num(self.hotfix)),
            )
        };
    }

    fn relative(
        &self,
        e: &mut Evaluation,
        b: &MetricValue,
        c: &MetricValue,
        scale: Option<f64>,
        cmp: Comparison,
    ) {
        let enough = b.samples.len() >= cmp.min_samples && c.samples.len() >= cmp.min_samples;
        let ci = enough
            .then(|| stats::bootstrap_ratio_of_medians(&b.samples, &c.samples, cmp.bootstrap))
            .flatten();
        if let Some(ci) = ci {
            e.method = Method::BootstrapMedians;
            e.baseline = stats::median(&b.samples);
            e.current = stats::median(&c.samples);
            e.change = Some(ci.ratio - 1.0);
            e.ci = Some(ci);
            e.significant = Some(ci.excludes_one());
            e.p_value = stats::mann_whitney(&b.samples, &c.samples).map(|m| m.p_value);
        } else {
            e.method = Method::Point;
            e.baseline = b.point.or(e.baseline);
            e.current = c.point.or(e.current);
            e.change = e
                .baseline
                .zip(e.current)
                .map(|(b, c)| relative_change(b, c));
        }
        let effect = match self.kind {
            Kind::Delta => e.current.zip(e.baseline).map(|(c, b)| c - b),
            Kind::Shift => self.shift(e.baseline, e.current, scale),
            Kind::Relative | Kind::Absolute => e.change,
        };
        let Some(effect) = effect else {
            e.reason = if self.kind == Kind::Shift && scale.is_none() {
                format!(
                    "no baseline {} to scale the difference by",
                    self.scale_key(&e.metric).unwrap_or_default()
                )
            } else {
                "no comparable values".to_owned()
            };
            return;
        };
        let pct = self.show_effect(effect);
        (e.verdict, e.reason) = self.classify(effect, &pct);
        if e.verdict != Verdict::Pass && e.significant == Some(false) {
            e.verdict = Verdict::Pass;
            e.reason = format!("{pct} but not significant (the CI of the ratio includes 1)");
        } else if e.method == Method::Point {
            e.reason
                .push_str(if b.samples.is_empty() && c.samples.is_empty() {
                    " (whole-run values; no per-second samples)"
                } else {
                    " (whole-run values; too few per-second samples for a test)"
                });
        }
    }
}

impl Rule {
    /// A shift rule's effect: the difference as a share of the baseline's `of` value.
    pub fn shift(
        &self,
        baseline: Option<f64>,
        current: Option<f64>,
        scale: Option<f64>,
    ) -> Option<f64> {
        let (b, c, s) = (baseline?, current?, scale?);
        (s.is_finite() && s > 0.0).then(|| (c - b) / s)
    }

    /// The worse-is-positive effect: the effect itself when lower is better, negated when
    /// higher is better.
    pub fn worse(&self, effect: f64) -> f64 {
        match self.direction {
            Direction::Lower => effect,
            Direction::Higher => -effect,
        }
    }

    /// An effect in the rule's unit: `+12.5%` (relative) or `+1.02` (delta).
    pub fn show_effect(&self, effect: f64) -> String {
        match self.kind {
            Kind::Delta => format!(
                "{}{}",
                if effect >= 0.0 { "+" } else { "" },
                fmt_num(effect)
            ),
            Kind::Shift => format!(
                "{:+.1}% of the baseline's {}",
                effect * 100.0,
                self.of.map_or("scale", |m| m.name())
            ),
            Kind::Relative | Kind::Absolute => format!("{:+.1}%", effect * 100.0),
        }
    }

    /// Classifies an effect (relative change or delta) against the thresholds, before
    /// any significance test.
    pub fn classify(&self, effect: f64, shown: &str) -> (Verdict, String) {
        let worse = self.worse(effect);
        if worse > self.rollback {
            (
                Verdict::Rollback,
                format!("{shown} is beyond the rollback threshold"),
            )
        } else if worse > self.hotfix {
            (
                Verdict::Hotfix,
                format!("{shown} is beyond the hotfix threshold"),
            )
        } else {
            (
                Verdict::Pass,
                format!("{shown} is within the hotfix threshold"),
            )
        }
    }
}

/// The rule that produced an evaluation, in words.
pub fn describe_evaluation(e: &Evaluation) -> String {
    describe(e.direction, e.kind, e.hotfix, e.rollback)
}

/// Thresholds in words, e.g. "lower is better; hotfix if +10.0% or worse, ...".
pub fn describe(direction: Direction, kind: Kind, hotfix: f64, rollback: f64) -> String {
    words(direction, kind, hotfix, rollback, None)
}

/// [`describe`], naming a shift rule's scaling metric when it is known (an evaluation
/// does not carry it).
fn words(direction: Direction, kind: Kind, hotfix: f64, rollback: f64, of: Option<&str>) -> String {
    let better = dir_word(direction);
    let sign = if direction == Direction::Lower {
        "+"
    } else {
        "-"
    };
    match kind {
        Kind::Relative => format!(
            "{better} is better; hotfix beyond {sign}{:.1}%, rollback beyond {sign}{:.1}%, if significant",
            hotfix * 100.0,
            rollback * 100.0
        ),
        Kind::Delta => format!(
            "{better} is better; hotfix beyond {sign}{}, rollback beyond {sign}{} (difference), if significant",
            fmt_num(hotfix),
            fmt_num(rollback)
        ),
        Kind::Shift => {
            let scale = match of {
                Some(of) => format!("{of} (difference, as a share of it)"),
                None => "scaling metric (difference, e.g. of the median as a share of the p99)"
                    .to_owned(),
            };
            format!(
                "{better} is better; hotfix beyond {sign}{:.1}%, rollback beyond {sign}{:.1}% of the baseline's {scale}, if significant",
                hotfix * 100.0,
                rollback * 100.0
            )
        }
        Kind::Absolute => {
            let worse = if direction == Direction::Lower {
                ">"
            } else {
                "<"
            };
            format!(
                "{better} is better; hotfix if {worse} {}, rollback if {worse} {}",
                fmt_num(hotfix),
                fmt_num(rollback)
            )
        }
    }
}

/// `(current - baseline) / |baseline|`, with infinities when the baseline is zero.
pub fn relative_change(baseline: f64, current: f64) -> f64 {
    if baseline == 0.0 {
        if current == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(current)
        }
    } else {
        (current - baseline) / baseline.abs()
    }
}

fn dir_word(d: Direction) -> &'static str {
    match d {
        Direction::Lower => "lower",
        Direction::Higher => "higher",
    }
}

/// Formats a number compactly for tables: integers without decimals, one decimal from 10
/// up, four significant decimals below.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}
