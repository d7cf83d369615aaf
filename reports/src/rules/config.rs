//! Parsing and validating `gates.toml`: strict serde (`deny_unknown_fields`), then a
//! validation pass that collects every problem, each naming its key, so a typo cannot
//! silently disable a gate.

use super::{Comparison, Direction, Kind, Rule, Verdict};
use crate::error::{ReportError, Result};
use crate::metrics::Metric;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `gates.toml` schema version this build reads.
pub const GATES_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGates {
    schema_version: u32,
    #[serde(default)]
    missing: Option<Verdict>,
    #[serde(default)]
    min_samples: Option<usize>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    gate: Vec<RawRule>,
    #[serde(default)]
    profile: BTreeMap<String, RawProfile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    gate: Vec<RawRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    metric: String,
    direction: Direction,
    kind: Kind,
    hotfix: f64,
    rollback: f64,
    #[serde(default = "enforce_default")]
    enforce: bool,
    #[serde(default)]
    why: String,
}

fn enforce_default() -> bool {
    true
}

/// The validated rules file.
#[derive(Debug, Clone)]
pub struct Gates {
    /// Verdict given to an enforced metric that is not measured (hotfix or rollback).
    pub missing: Verdict,
    /// Statistical settings.
    pub comparison: Comparison,
    defaults: Vec<Rule>,
    profiles: BTreeMap<String, Vec<Rule>>,
}

impl Gates {
    /// Reads and validates a rules file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::rundir::read_to_string(path)?;
        Self::parse(&text).map_err(|problems| ReportError::InvalidGates {
            path: path.to_owned(),
            problems,
        })
    }

    /// Parses and validates rules text; every problem is reported, each naming its key.
    pub fn parse(text: &str) -> std::result::Result<Self, Vec<String>> {
        let raw: RawGates = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Vec::new();
        if raw.schema_version != GATES_SCHEMA_VERSION {
            problems.push(format!(
                "schema_version: {} is not supported (expected {GATES_SCHEMA_VERSION})",
                raw.schema_version
            ));
        }
        let missing = raw.missing.unwrap_or(Verdict::Rollback);
        if !matches!(missing, Verdict::Hotfix | Verdict::Rollback) {
            problems.push("missing: must be \"hotfix\" or \"rollback\"".to_owned());
        }
        let mut comparison = Comparison::default();
        if let Some(n) = raw.min_samples {
            if n < 3 {
                problems.push(format!(
                    "min_samples: {n} is too small for a distribution (>= 3)"
                ));
            }
            comparison.min_samples = n;
        }
        if let Some(c) = raw.confidence {
            if !(0.5..1.0).contains(&c) {
                problems.push(format!("confidence: {c} must be in [0.5, 1)"));
            }
            comparison.bootstrap.confidence = c;
        }
        let defaults = validate_rules("gate", &raw.gate, &mut problems);
        let profiles = raw
            .profile
            .iter()
            .map(|(name, p)| {
                let rules = validate_rules(&format!("profile.{name}.gate"), &p.gate, &mut problems);
                (name.clone(), rules)
            })
            .collect();
        if problems.is_empty() {
            Ok(Self {
                missing,
                comparison,
                defaults,
                profiles,
            })
        } else {
            Err(problems)
        }
    }

    /// The rules that apply to a profile: the defaults, each replaced by a profile rule
    /// for the same metric and class, plus the profile's own additions.
    pub fn for_profile(&self, profile: &str) -> Vec<Rule> {
        let mut rules = self.defaults.clone();
        for rule in self.profiles.get(profile).into_iter().flatten() {
            match rules
                .iter_mut()
                .find(|r| r.metric == rule.metric && r.class == rule.class)
            {
                Some(slot) => *slot = rule.clone(),
                None => rules.push(rule.clone()),
            }
        }
        rules
    }
}

fn validate_rules(table: &str, raw: &[RawRule], problems: &mut Vec<String>) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let at = format!("{table}[{i}] ({})", r.metric);
        let (name, class) = match r.metric.split_once('.') {
            Some((name, class)) => (name, Some(class)),
            None => (r.metric.as_str(), None),
        };
        let Some(metric) = Metric::from_name(name) else {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            problems.push(format!(
                "{at}.metric: unknown metric '{name}' (known: {})",
                known.join(", ")
            ));
            continue;
        };
        let class = match (metric.per_class(), class) {
            (true, None) => {
                problems.push(format!(
                    "{at}.metric: per-class metric needs '.CLASS' or '.*'"
                ));
                continue;
            }
            (false, Some(_)) => {
                problems.push(format!("{at}.metric: '{name}' is not per class"));
                continue;
            }
            (_, Some("*")) | (_, None) => None,
            (_, Some(c)) => Some(c.to_owned()),
        };
        let mut ok = true;
        for (key, v) in [("hotfix", r.hotfix), ("rollback", r.rollback)] {
            if !v.is_finite() || (r.kind == Kind::Relative && v < 0.0) {
                problems.push(format!(
                    "{at}.{key}: {v} must be a finite, non-negative number"
                ));
                ok = false;
            }
        }
        let ordered = match (r.kind, r.direction) {
            (Kind::Relative, _) | (Kind::Absolute, Direction::Lower) => r.rollback >= r.hotfix,
            (Kind::Absolute, Direction::Higher) => r.rollback <= r.hotfix,
        };
        if ok && !ordered {
            problems.push(format!(
                "{at}.rollback: {} is less severe than hotfix {}",
                r.rollback, r.hotfix
            ));
            ok = false;
        }
        if rules.iter().any(|x| x.metric == metric && x.class == class) {
            problems.push(format!("{at}.metric: duplicate rule"));
            ok = false;
        }
        if ok {
            rules.push(Rule {
                metric,
                class,
                direction: r.direction,
                kind: r.kind,
                hotfix: r.hotfix,
                rollback: r.rollback,
                enforce: r.enforce,
                why: r.why.clone(),
            });
        }
    }
    rules
}
