//! The `[canary]` section of `gates.toml`: how the canary judge samples, what it judges
//! and where its hotfix and rollback lines are.
//!
//! It lives beside the gate's rules so that one file states the bar for CI and for
//! production. Its thresholds are the gate's where a gate rule measures the same thing
//! (CPU per request, memory, the proxy's added latency), and are stated per metric with
//! their reason where the canary measures something the gate does not (ratios per
//! interval). Parsed strictly: a misspelt key is an error, not a silently default bar.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::CanaryError;
use rundir::verdict::Verdict;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Lower is better: an increase is a regression.
    Lower,
    /// Higher is better: a decrease is a regression.
    Higher,
    /// Any change is a regression (e.g. the share of blocked requests: the same
    /// traffic must get the same decisions).
    Both,
}

/// How a metric's thresholds read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Fractions of the control's median (0.10 = the canary 10% worse).
    Relative,
    /// Differences in the metric's unit (for ratios near zero, where a relative change
    /// is meaningless).
    Delta,
}

/// One metric rule of `[[canary.metric]]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    /// Metric name; `name.*` covers every latency class (`name.CLASS`), and an exact name
    /// wins over it.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
    /// How the thresholds read.
    pub kind: Kind,
    /// Beyond this (strictly), with the shift significant: hotfix.
    pub hotfix: f64,
    /// Beyond this (strictly), with the shift significant: rollback.
    pub rollback: f64,
    /// Weight in the score (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// A critical metric decides the verdict on its own: beyond a threshold it is at
    /// least that verdict whatever the score, and without data it is the `missing`
    /// verdict of gates.toml.
    #[serde(default)]
    pub critical: bool,
    /// Why the thresholds are what they are.
    #[serde(default)]
    pub why: Option<String>,
}

/// Whether `x` is a finite number above zero (NaN is not).
pub fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    interval_s: f64,
    min_intervals: usize,
    confidence: f64,
    pass_score: f64,
    marginal_score: f64,
    rate_tolerance: f64,
    mix_tolerance: f64,
    metric: Vec<MetricRule>,
}

/// The validated `[canary]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryConfig {
    /// Seconds per judged interval.
    pub interval_s: f64,
    /// Intervals needed on both sides before a metric is judged; fewer is `nodata`.
    pub min_intervals: usize,
    /// Two-sided confidence of the shift's interval (Kayenta: 0.98).
    pub confidence: f64,
    /// Score at or above which the canary passes.
    pub pass_score: f64,
    /// Score at or above which a failing canary is a hotfix, not a rollback.
    pub marginal_score: f64,
    /// Largest relative difference of the request rate per instance.
    pub rate_tolerance: f64,
    /// Largest absolute difference of any share of the request mix.
    pub mix_tolerance: f64,
    /// The rules, in file order.
    pub rules: Vec<MetricRule>,
    /// The verdict of a critical metric without data (`missing` of gates.toml).
    pub missing: Verdict,
}

impl CanaryConfig {
    /// The unit tests' settings: Kayenta's confidence, the committed scores, no rules.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        CanaryConfig {
            interval_s: 10.0,
            min_intervals: 8,
            confidence: 0.98,
            pass_score: 95.0,
            marginal_score: 75.0,
            rate_tolerance: 0.2,
            mix_tolerance: 0.05,
            rules: Vec::new(),
            missing: Verdict::Rollback,
        }
    }

    /// Reads the `[canary]` section (and `missing`) of the gates file at `path`.
    pub fn load(path: &Path) -> Result<Self, CanaryError> {
        let text = std::fs::read_to_string(path).map_err(|e| CanaryError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse(&text).map_err(|message| CanaryError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses the gates file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let missing = match doc.get("missing").and_then(toml::Value::as_str) {
            None | Some("rollback") => Verdict::Rollback,
            Some("hotfix") => Verdict::Hotfix,
            Some(other) => return Err(format!("missing = {other:?}: rollback or hotfix")),
        };
        let section = doc
            .remove("canary")
            .ok_or("no [canary] section: the canary judge's bar is not set")?;
        let raw: RawCanary = section
            .try_into()
            .map_err(|e: toml::de::Error| format!("[canary]: {e}"))?;
        let config = CanaryConfig {
            interval_s: raw.interval_s,
            min_intervals: raw.min_intervals,
            confidence: raw.confidence,
            pass_score: raw.pass_score,
            marginal_score: raw.marginal_score,
            rate_tolerance: raw.rate_tolerance,
            mix_tolerance: raw.mix_tolerance,
            rules: raw.metric,
            missing,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if !positive(self.interval_s) {
            problems.push("interval_s must be positive".to_string());
        }
        if self.min_intervals < 3 {
            problems.push("min_intervals must be at least 3".to_string());
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            problems.push("confidence must be in (0.5, 1)".to_string());
        }
        if !(0.0..=100.0).contains(&self.marginal_score) || self.marginal_score > self.pass_score {
            problems.push("need 0 <= marginal_score <= pass_score <= 100".to_string());
        }
        let mut seen = BTreeMap::new();
        for r in &self.rules {
            if seen.insert(r.metric.as_str(), ()).is_some() {
                problems.push(format!("{}: two rules", r.metric));
            }
            if !(r.hotfix >= 0.0 && r.rollback >= r.hotfix) {
                problems.push(format!("{}: need 0 <= hotfix <= rollback", r.metric));
            }
            if !positive(r.weight) {
                problems.push(format!("{}: weight must be positive", r.metric));
            }
        }
        if self.rules.is_empty() {
            problems.push("no [[canary.metric]] rule".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("[canary]: {}", problems.join("; ")))
        }
    }

    /// The rule for a metric series (`name` or `name.CLASS`): an exact rule, else the
    /// `name.*` rule.
    pub fn rule_for(&self, series: &str) -> Option<&MetricRule> {
        self.rules.iter().find(|r| r.metric == series).or_else(|| {
            let (base, _class) = series.split_once('.')?;
            self.rules
                .iter()
                .find(|r| r.metric.strip_suffix(".*") == Some(base))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_gates_file_has_a_valid_canary_section() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/gates.toml");
        let c = CanaryConfig::load(&path).unwrap();
        assert_eq!(c.confidence, 0.98);
        assert!(c.rule_for("latency_p99_ms.allowed").is_some());
        assert!(c.rule_for("latency_p99_ms.all").unwrap().critical);
        assert!(c.rule_for("cpu_s_per_request").is_some());
    }

    #[test]
    fn unknown_keys_and_bad_thresholds_are_errors() {
        let base = "schema_version = 1\n[canary]\ninterval_s = 10\nmin_intervals = 8\n\
            confidence = 0.98\npass_score = 95\nmarginal_score = 75\nrate_tolerance = 0.2\n\
            mix_tolerance = 0.05\n";
        let rule = "[[canary.metric]]\nmetric = \"x\"\ndirection = \"lower\"\nkind = \"delta\"\n";
        assert!(CanaryConfig::parse(&format!("{base}{rule}hotfix = 1\nrollback = 2\n")).is_ok());
        let err = CanaryConfig::parse(&format!("{base}{rule}hotfix = 2\nrollback = 1\n"));
        assert!(err.unwrap_err().contains("hotfix <= rollback"));
        let err = CanaryConfig::parse(&format!(
            "{base}{rule}hotfix = 1\nrollback = 2\nhotifx = 1\n"
        ));
        assert!(err.unwrap_err().contains("hotifx"));
        assert!(CanaryConfig::parse("schema_version = 1\n")
            .unwrap_err()
            .contains("no [canary]"));
    }
}
