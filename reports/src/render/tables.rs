//! Tables shared by the run report, the baseline document and the diff: per-class latency,
//! resources, and top CPU frames. Anything not recorded prints as "not measured".

use crate::metrics::{Metric, MetricKey};
use crate::rules::fmt_num;
use hdrhistogram::Histogram;
use rundir::baseline::MetricSet;
use rundir::columns::CLASSES;
use rundir::folded::Frame;
use rundir::run::{ClassStats, Percentiles};
use rundir::verdict::Verdict;
use std::collections::BTreeMap;

/// The text printed for a metric that was not recorded.
pub const NOT_MEASURED: &str = "not measured";

/// Formats an optional number, "not measured" when absent.
pub fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| NOT_MEASURED.to_owned(), fmt_num)
}

/// A class's latency percentiles: from `run.json`, else from its HDR histogram.
pub fn class_latency(stats: Option<&ClassStats>, hist: Option<&Histogram<u64>>) -> Percentiles {
    if let Some(p) = stats.and_then(|s| s.latency_us) {
        return p;
    }
    hist.map(|h| Percentiles {
        count: Some(h.len()),
        min: Some(h.min() as f64),
        p50: Some(h.value_at_quantile(0.5) as f64),
        p90: Some(h.value_at_quantile(0.9) as f64),
        p99: Some(h.value_at_quantile(0.99) as f64),
        p999: Some(h.value_at_quantile(0.999) as f64),
        max: Some(h.max() as f64),
    })
    .unwrap_or_default()
}

/// Class names in display order: the known classes first, then any others.
pub fn ordered_classes<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort_by_key(|n| {
        (
            CLASSES.iter().position(|c| c == n).unwrap_or(CLASSES.len()),
            n.clone(),
        )
    });
    names.dedup();
    names
}

/// Header of [`class_rows`]. Latencies read in human units (µs, ms, s); `summary.csv` and
/// `run.json` keep them in µs.
pub const CLASS_HEADER: [&str; 11] = [
    "class", "requests", "failures", "rps", "min", "p50", "p90", "p99", "p99.9", "max", "ttfb p99",
];

/// A latency in µs in human units, "not measured" when absent.
pub fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| NOT_MEASURED.to_owned(), crate::units::micros)
}

/// One row per class: counts, throughput, latency percentiles, time to first byte.
pub fn class_rows(
    classes: &BTreeMap<String, ClassStats>,
    hists: &BTreeMap<String, Histogram<u64>>,
) -> Vec<Vec<String>> {
    ordered_classes(classes.keys().chain(hists.keys()))
        .into_iter()
        .map(|name| {
            let stats = classes.get(&name);
            let p = class_latency(stats, hists.get(&name));
            let count = stats.map(|s| s.count as f64);
            let failures = stats.map(|s| {
                let kinds: Vec<String> =
                    s.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                if kinds.is_empty() {
                    s.failures.to_string()
                } else {
                    format!("{} ({})", s.failures, kinds.join(", "))
                }
            });
            vec![
                name,
                opt(count),
                failures.unwrap_or_else(|| NOT_MEASURED.to_owned()),
                opt(stats.and_then(|s| s.rps)),
                opt_us(p.min),
                opt_us(p.p50),
                opt_us(p.p90),
                opt_us(p.p99),
                opt_us(p.p999),
                opt_us(p.max),
                opt_us(stats.and_then(|s| s.ttfb_us).and_then(|t| t.p99)),
            ]
        })
        .collect()
}

/// The global (not per-class) figures a document shows, and those it leaves out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlobalFigures {
    /// `(metric, value in human units)`: every figure measured, and every figure a rule
    /// of the profile gates on (an unmeasured gated figure is a finding, so it stays).
    pub rows: Vec<Vec<String>>,
    /// Figures neither measured nor gated: they do not apply to this kind of run (a soak
    /// slope in a short run, the appliance's figures without an appliance).
    pub skipped: Vec<&'static str>,
}

impl GlobalFigures {
    /// The one line naming the skipped figures; None when nothing was skipped.
    pub fn skipped_line(&self) -> Option<String> {
        (!self.skipped.is_empty()).then(|| {
            format!(
                "Not shown (neither measured in this run nor gated for its profile): {}.",
                self.skipped.join(", ")
            )
        })
    }
}

/// The global figures of `metrics` in human units, `gated` being the metrics the
/// profile's rules name. Raw values stay in the JSON documents.
pub fn global_figures(metrics: &MetricSet, gated: &[Metric]) -> GlobalFigures {
    let mut figures = GlobalFigures::default();
    for metric in Metric::ALL.into_iter().filter(|m| !m.per_class()) {
        let key = MetricKey {
            metric,
            class: None,
        }
        .to_string();
        match metrics.get(&key).and_then(|v| v.value()) {
            Some(v) => figures
                .rows
                .push(vec![key, crate::units::metric_value(metric, v)]),
            None if gated.contains(&metric) => figures.rows.push(vec![key, opt(None)]),
            None => figures.skipped.push(metric.name()),
        }
    }
    figures
}

/// Header of [`frame_rows`].
pub const FRAME_HEADER: [&str; 3] = ["frame", "self %", "total %"];

/// Rows of a top-frames table.
pub fn frame_rows(frames: &[Frame]) -> Vec<Vec<String>> {
    frames
        .iter()
        .map(|f| {
            vec![
                f.name.clone(),
                format!("{:.1}", f.self_fraction * 100.0),
                format!("{:.1}", f.total_fraction * 100.0),
            ]
        })
        .collect()
}
/// The verdict in words.
pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::NotApplicable => "does not apply",
        Verdict::Pass => "PASS",
        Verdict::Inconclusive => "INCONCLUSIVE (machine)",
        Verdict::Hotfix => "HOTFIX",
        Verdict::Rollback => "ROLLBACK",
        Verdict::Missing => "MISSING",
    }
}
