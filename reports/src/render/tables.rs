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

/// Header of [`class_rows`].
pub const CLASS_HEADER: [&str; 11] = [
    "class",
    "requests",
    "failures",
    "rps",
    "min µs",
    "p50 µs",
    "p90 µs",
    "p99 µs",
    "p99.9 µs",
    "max µs",
    "ttfb p99 µs",
];

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
                opt(p.min),
                opt(p.p50),
                opt(p.p90),
                opt(p.p99),
                opt(p.p999),
                opt(p.max),
                opt(stats.and_then(|s| s.ttfb_us).and_then(|t| t.p99)),
            ]
        })
        .collect()
}

/// Rows `(metric, whole-run value)` of the global metrics, "not measured" when absent.
pub fn global_metric_rows(metrics: &MetricSet) -> Vec<Vec<String>> {
    Metric::ALL
        .iter()
        .filter(|m| !m.per_class())
        .map(|&metric| {
            let key = MetricKey {
                metric,
                class: None,
            }
            .to_string();
            let value = metrics.get(&key).and_then(|v| v.value());
            vec![key, opt(value)]
        })
        .collect()
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
