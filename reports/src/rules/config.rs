//! Parsing and validating `gates.toml`: strict serde (`deny_unknown_fields`), then a
//! validation pass that collects every problem, each naming its key, so a typo cannot
//! silently disable a gate.

use super::rule::{Comparison, Rule};
use crate::error::{ReportError, Result};
use crate::metrics::Metric;
use rundir::verdict::{Direction, Kind, Verdict};
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
    pairs: Option<u32>,
    #[serde(default)]
    gate: Vec<RawRule>,
    #[serde(default)]
    profile: BTreeMap<String, RawProfile>,
    /// The canary judge's section, read by `perf-report canary` (`canary::config`); the
    /// gate's rules do not use it.
    #[serde(default)]
    #[allow(dead_code)]
    canary: Option<toml::Table>,
    /// The Sizing section's instance and sources, read by `sizing::SizingConfig`.
    #[serde(default)]
    #[allow(dead_code)]
    sizing: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    #[serde(default)]
    pairs: Option<u32>,
    #[serde(default)]
    trial_duration_s: Option<u64>,
    #[serde(default)]
    gate: Vec<RawRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    metric: String,
    direction: Direction,
    kind: Kind,
    /// The scaling metric of a `shift` rule.
    #[serde(default)]
    of: Option<String>,
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
    sessions: BTreeMap<String, Session>,
    default_pairs: u32,
}

/// How an interleaved A/B session of a profile is run (`pairs`, `trial_duration_s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Control/candidate trial pairs, run A B A B ...
    pub pairs: u32,
    /// Each trial's duration in seconds; None: the profile's own duration.
    pub trial_duration_s: Option<u64>,
}

/// Pairs an A/B session runs when neither the file nor the profile says.
pub const DEFAULT_PAIRS: u32 = 3;

fn check_pairs(key: &str, pairs: Option<u32>, problems: &mut Vec<String>) {
    if let Some(n) = pairs.filter(|&n| n < 2) {
        problems.push(format!(
            "{key}: {n} pairs cannot show that a change is consistent (>= 2)"
        ));
    }
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
        check_pairs("pairs", raw.pairs, &mut problems);
        let default_pairs = raw.pairs.unwrap_or(DEFAULT_PAIRS);
        let mut sessions = BTreeMap::new();
        for (name, p) in &raw.profile {
            check_pairs(&format!("profile.{name}.pairs"), p.pairs, &mut problems);
            if p.trial_duration_s == Some(0) {
                problems.push(format!("profile.{name}.trial_duration_s: must be > 0"));
            }
            sessions.insert(
                name.clone(),
                Session {
                    pairs: p.pairs.unwrap_or(default_pairs),
                    trial_duration_s: p.trial_duration_s,
                },
            );
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
                sessions,
                default_pairs,
            })
        } else {
            Err(problems)
        }
    }

    /// How an A/B session of `profile` is run.
    pub fn session(&self, profile: &str) -> Session {
        self.sessions.get(profile).copied().unwrap_or(Session {
            pairs: self.default_pairs,
            trial_duration_s: None,
        })
    }

    /// The rules that apply to a profile: the defaults, each replaced by a profile rule
    /// for the same metric, class and kind, plus the profile's own additions.
    pub fn for_profile(&self, profile: &str) -> Vec<Rule> {
        let mut rules = self.defaults.clone();
        for rule in self.profiles.get(profile).into_iter().flatten() {
            match rules
                .iter_mut()
                .find(|r| r.metric == rule.metric && r.class == rule.class && r.kind == rule.kind)
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
            (false, Some(_)) if !metric.also_per_class() => {
                problems.push(format!("{at}.metric: '{name}' is not per class"));
                continue;
            }
            // Whole and per class: no suffix is the whole-run figure, `.*` every class.
            (false, Some(c)) => Some(c.to_owned()),
            (_, Some("*")) | (_, None) => None,
            (_, Some(c)) => Some(c.to_owned()),
        };
        let mut ok = true;
        for (key, v) in [("hotfix", r.hotfix), ("rollback", r.rollback)] {
            if !v.is_finite() || (r.kind != Kind::Absolute && v < 0.0) {
                problems.push(format!(
                    "{at}.{key}: {v} must be a finite, non-negative number"
                ));
                ok = false;
            }
        }
        let of = match (r.kind, r.of.as_deref()) {
            (Kind::Shift, None) => {
                problems.push(format!(
                    "{at}.of: a shift rule names the metric that scales it (e.g. of = \"clean_p99_us\")"
                ));
                ok = false;
                None
            }
            (Kind::Shift, Some(of)) => match Metric::from_name(of) {
                Some(m) if m.per_class() == metric.per_class() => Some(m),
                Some(_) => {
                    problems.push(format!(
                        "{at}.of: '{of}' and '{name}' must both be per class or both not"
                    ));
                    ok = false;
                    None
                }
                None => {
                    problems.push(format!("{at}.of: unknown metric '{of}'"));
                    ok = false;
                    None
                }
            },
            (_, Some(_)) => {
                problems.push(format!(
                    "{at}.of: only a shift rule is scaled by another metric"
                ));
                ok = false;
                None
            }
            (_, None) => None,
        };
        let ordered = match (r.kind, r.direction) {
            (Kind::Relative | Kind::Delta | Kind::Shift, _)
            | (Kind::Absolute, Direction::Lower) => r.rollback >= r.hotfix,
            (Kind::Absolute, Direction::Higher) => r.rollback <= r.hotfix,
        };
        if ok && !ordered {
            problems.push(format!(
                "{at}.rollback: {} is less severe than hotfix {}",
                r.rollback, r.hotfix
            ));
            ok = false;
        }
        if rules
            .iter()
            .any(|x| x.metric == metric && x.class == class && x.kind == r.kind)
        {
            problems.push(format!("{at}.metric: duplicate rule"));
            ok = false;
        }
        if ok {
            rules.push(Rule {
                metric,
                class,
                direction: r.direction,
                kind: r.kind,
                of,
                hotfix: r.hotfix,
                rollback: r.rollback,
                enforce: r.enforce,
                why: r.why.clone(),
            });
        }
    }
    rules
}
