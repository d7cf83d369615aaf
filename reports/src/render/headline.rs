//! The top of the run report, readable in a minute: the verdict against the committed
//! baseline of the run's profile (the same gate evaluation `perf-report diff` makes), the
//! five key figures with their change from the baseline, and a warning when the machine
//! itself was contended.
//!
//! Without a committed baseline or gates file the headline says so in one line instead of a
//! verdict. It never claims a pass the gate does not give: an enforced figure that was not
//! measured is named, with the verdict the gate gives it.

use super::doc::{Block, Doc, Tone};
use super::tables::{verdict_word, NOT_MEASURED};
use crate::gate::{self, GateReport};
use crate::machine::{self, CONTENDED_PRESSURE_MS, CONTENDED_STEAL_MS};
use crate::metrics::{self, Metric, MetricKey};
use crate::rules::{relative_change, Gates, Rule, Verdict};
use crate::rundir::RunDir;
use crate::units;
use rundir::baseline::{Baseline, MetricSet};
use std::path::{Path, PathBuf};

/// Where committed baselines live, relative to the checkout (as `promote` writes them).
pub const DEFAULT_BASELINES: &str = "baselines";

/// File name of the gate rules in the baselines directory.
pub const GATES_FILE: &str = "gates.toml";

/// Failing figures named in the verdict line; the rest are counted.
const NAMED: usize = 4;

/// The run measured against its profile's committed baseline.
#[derive(Debug, Clone, Default)]
pub struct Against {
    /// The baseline document and its path, when one was read.
    pub baseline: Option<(PathBuf, Baseline)>,
    /// The profile's rules, when a gates file was read (empty otherwise).
    pub rules: Vec<Rule>,
    /// The gate's report, when both a baseline and rules were read and the run is fit.
    pub report: Option<GateReport>,
    /// Why there is no verdict, in one line, when `report` is None.
    pub no_verdict: Option<String>,
    /// The gate's verdict for an enforced figure that was not measured.
    pub missing: Option<Verdict>,
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads `DIR/PROFILE.json` and `DIR/gates.toml` and evaluates the gate on the run. A file
/// that is absent, unreadable or of another profile gives no verdict and says why; it does
/// not fail the report, which is still worth reading.
pub fn against(run: &RunDir, dir: &Path) -> Against {
    let profile = run.profile();
    let mut out = Against::default();
    let gates_path = dir.join(GATES_FILE);
    let baseline_path = dir.join(format!("{profile}.json"));
    let gates = if gates_path.is_file() {
        match Gates::load(&gates_path) {
            Ok(g) => Some(g),
            Err(e) => {
                out.no_verdict = Some(format!("the gates file cannot be used: {}", chain(&e)));
                None
            }
        }
    } else {
        out.no_verdict = Some(format!(
            "no gates file ({}) to judge it by",
            gates_path.display()
        ));
        None
    };
    if let Some(g) = &gates {
        out.rules = g.for_profile(profile);
        out.missing = Some(g.missing);
    }
    if baseline_path.is_file() {
        match crate::baseline::read(&baseline_path) {
            Ok(b) if b.profile != profile => {
                out.no_verdict = Some(format!(
                    "{} is a baseline of profile {}, not {profile}",
                    baseline_path.display(),
                    b.profile
                ));
            }
            Ok(b) => out.baseline = Some((baseline_path, b)),
            Err(e) => {
                out.no_verdict = Some(format!("the baseline cannot be used: {}", chain(&e)));
            }
        }
    } else {
        // The baseline's absence is the more useful thing to say: a profile gets a gates
        // file's rules for free, a baseline only by promotion.
        out.no_verdict = Some(format!(
            "no committed baseline for profile {profile} ({})",
            baseline_path.display()
        ));
    }
    if run.run.complete != Some(true) && out.no_verdict.is_none() {
        out.no_verdict = Some("the run is incomplete, so the gate does not judge it".to_owned());
    }
    if let (None, Some(why)) = (
        &out.no_verdict,
        run.run.merge.as_ref().and_then(|m| m.invalid.first()),
    ) {
        out.no_verdict = Some(format!(
            "the merged run is invalid ({why}), so the gate does not judge it"
        ));
    }
    if let (None, Some(gates), Some((_, b))) = (&out.no_verdict, &gates, &out.baseline) {
        let current = metrics::extract(run);
        out.report = Some(gate::evaluate(gates, &out.rules, &b.metrics, &current));
    }
    out
}

/// One of the figures the headline leads with.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFigure {
    /// What it is, in words.
    pub label: String,
    /// The metric (for its unit).
    pub metric: Metric,
    /// The baseline's value.
    pub baseline: Option<f64>,
    /// This run's value.
    pub current: Option<f64>,
}

impl KeyFigure {
    /// `current` relative to `baseline` (0.05 = 5% higher).
    pub fn change(&self) -> Option<f64> {
        match (self.baseline, self.current) {
            (Some(b), Some(c)) => Some(relative_change(b, c)).filter(|c| c.is_finite()),
            _ => None,
        }
    }
}

fn value(set: Option<&MetricSet>, key: &str) -> Option<f64> {
    set?.get(key)?.value()
}

/// The five key figures: throughput, the slowest class's p99, the latency the proxy adds
/// at p99, proxy CPU per request and peak RSS. The slowest class is this run's (by p99),
/// compared with the same class in the baseline.
pub fn key_figures(current: &MetricSet, baseline: Option<&MetricSet>) -> Vec<KeyFigure> {
    let global = |metric: Metric, label: &str| {
        let key = MetricKey {
            metric,
            class: None,
        }
        .to_string();
        KeyFigure {
            label: label.to_owned(),
            metric,
            baseline: value(baseline, &key),
            current: value(Some(current), &key),
        }
    };
    let prefix = format!("{}.", Metric::P99Us.name());
    let slowest = current
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v.value()?)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let p99 = match slowest {
        Some((class, v)) => KeyFigure {
            label: format!("p99 latency, slowest class ({class})"),
            metric: Metric::P99Us,
            baseline: value(baseline, &format!("{prefix}{class}")),
            current: Some(v),
        },
        None => KeyFigure {
            label: "p99 latency, slowest class".to_owned(),
            metric: Metric::P99Us,
            baseline: None,
            current: None,
        },
    };
    vec![
        global(Metric::ThroughputRps, "throughput"),
        p99,
        global(Metric::ProxyAddedP99Us, "latency the proxy adds, p99"),
        global(Metric::ProxyCpuUsPerRequest, "proxy CPU per request"),
        global(Metric::PeakRssBytes, "proxy peak RSS"),
    ]
}

/// The verdict line: the gate's verdict and what made it, or why there is none.
pub fn verdict_line(against: &Against) -> (Tone, String) {
    let Some(report) = &against.report else {
        let why = against
            .no_verdict
            .clone()
            .unwrap_or_else(|| "nothing to judge it against".to_owned());
        return (Tone::Info, format!("No verdict: {why}."));
    };
    let (path, b) = against
        .baseline
        .as_ref()
        .expect("a gate report is only made against a baseline");
    let origin = format!(
        "against {} (promoted {}, commit {})",
        path.display(),
        b.promoted_at,
        b.provenance
            .git_commit
            .as_deref()
            .map_or("not recorded", |c| &c[..c.len().min(12)])
    );
    // A metric may have several rules (relative and delta): named once, at its worst.
    let mut worst: Vec<(&str, Verdict)> = Vec::new();
    for e in report.evaluations.iter().filter(|e| e.enforce) {
        match worst.iter_mut().find(|(m, _)| *m == e.metric) {
            Some((_, v)) => *v = (*v).max(e.verdict),
            None => worst.push((e.metric.as_str(), e.verdict)),
        }
    }
    let missing: Vec<&str> = worst
        .iter()
        .filter(|(_, v)| *v == Verdict::Missing)
        .map(|(m, _)| *m)
        .collect();
    let failing: Vec<String> = worst
        .iter()
        .filter(|(_, v)| *v > Verdict::Inconclusive && *v != Verdict::Missing)
        .map(|(m, v)| format!("{m} ({})", verdict_word(*v)))
        .collect();
    let inconclusive: Vec<String> = worst
        .iter()
        .filter(|(_, v)| *v == Verdict::Inconclusive)
        .map(|(m, _)| (*m).to_owned())
        .collect();
    let name = |items: &[String]| {
        let mut text = items
            .iter()
            .take(NAMED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if items.len() > NAMED {
            text.push_str(&format!(" and {} more", items.len() - NAMED));
        }
        text
    };
    let mut reasons = Vec::new();
    if !failing.is_empty() {
        reasons.push(format!(
            "{} enforced figure(s) beyond their rule: {}",
            failing.len(),
            name(&failing)
        ));
    }
    if !missing.is_empty() {
        let listed: Vec<String> = missing.iter().map(|m| (*m).to_owned()).collect();
        reasons.push(format!(
            "{} enforced figure(s) not measured, which the gate counts as {}: {}",
            missing.len(),
            against.missing.map_or("a failure", verdict_word),
            name(&listed)
        ));
    }
    if !inconclusive.is_empty() {
        reasons.push(format!(
            "{} enforced figure(s) not judged, too little uncontended time (inconclusive, \
             machine): {}",
            inconclusive.len(),
            name(&inconclusive)
        ));
    }
    let count = worst
        .iter()
        .filter(|(_, v)| *v != Verdict::NotApplicable)
        .count();
    let tone = match report.verdict {
        Verdict::NotApplicable | Verdict::Pass => Tone::Pass,
        Verdict::Inconclusive | Verdict::Hotfix => Tone::Warn,
        Verdict::Rollback | Verdict::Missing => Tone::Fail,
    };
    let detail = if reasons.is_empty() {
        format!("all {count} enforced figures within their rules")
    } else {
        reasons.join("; ")
    };
    (
        tone,
        format!("{} {origin}: {detail}.", verdict_word(report.verdict)),
    )
}

/// The warning line when the machine was contended in any second of the steady window.
pub fn contended_line(run: &RunDir) -> Option<String> {
    let m = machine::summarise(run.timeseries.as_ref()?, run.run.steady_window)?;
    (m.contended_seconds > 0).then(|| {
        format!(
            "Machine contended in {} of {} seconds (a task waited for a CPU at least {:.0} ms \
             of the second, or steal reached {:.0} ms): latency and CPU figures may measure \
             the machine rather than the proxy. See \"Machine during the run\".",
            m.contended_seconds, m.seconds, CONTENDED_PRESSURE_MS, CONTENDED_STEAL_MS
        )
    })
}

fn cell(metric: Metric, v: Option<f64>) -> String {
    v.map_or_else(
        || NOT_MEASURED.to_owned(),
        |v| units::metric_value(metric, v),
    )
}

/// Adds the headline: the verdict line, the contended warning, the key figures.
pub fn section(doc: &mut Doc, run: &RunDir, against: &Against) {
    let (tone, line) = verdict_line(against);
    doc.push(Block::Note { tone, text: line });
    if let Some(warning) = contended_line(run) {
        doc.push(Block::Note {
            tone: Tone::Warn,
            text: warning,
        });
    }
    let base = against.baseline.as_ref().map(|(_, b)| &b.metrics);
    let rows = key_figures(&metrics::extract(run), base)
        .into_iter()
        .map(|f| {
            let change = f
                .change()
                .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0));
            vec![
                f.label.clone(),
                if base.is_some() {
                    cell(f.metric, f.baseline)
                } else {
                    "no baseline".to_owned()
                },
                cell(f.metric, f.current),
                change,
            ]
        })
        .collect();
    doc.table(&["key figure", "baseline", "this run", "change"], rows);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rundir::baseline::MetricValue;

    fn set(values: &[(&str, f64)]) -> MetricSet {
        values
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    MetricValue {
                        point: Some(*v),
                        samples: Vec::new(),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn key_figures_follow_the_slowest_class_into_the_baseline() {
        let current = set(&[
            ("p99_us.allowed", 900.0),
            ("p99_us.download", 20_000.0),
            ("throughput_rps", 550.0),
        ]);
        let baseline = set(&[
            ("p99_us.allowed", 1_000.0),
            ("p99_us.download", 16_000.0),
            ("throughput_rps", 500.0),
        ]);
        let figures = key_figures(&current, Some(&baseline));
        assert_eq!(figures.len(), 5);
        assert_eq!(figures[0].change(), Some(0.1));
        assert!(figures[1].label.contains("download"));
        assert_eq!(figures[1].change(), Some(0.25));
        assert_eq!(figures[4].current, None, "peak RSS not measured");
        assert_eq!(figures[4].change(), None);
    }
}
