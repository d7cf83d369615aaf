//! From one side's snapshots to its per-interval figures: one value per metric per
//! interval, the samples the judge compares, and the side's traffic over the window.
//!
//! Every figure is a difference of cumulative counters between consecutive snapshots, so
//! it measures only that interval. An interval with a counter that went backwards (a
//! restart) or without requests gives no figures: a gap, never a zero that would read as
//! a perfect interval.

use std::collections::BTreeMap;

use super::histogram::{delta, quantile};
use super::snapshot::Snapshot;

/// Metric names (latency ones take a `.CLASS` suffix).
pub mod metric {
    /// Median latency of a class in an interval, milliseconds.
    pub const P50_MS: &str = "latency_p50_ms";
    /// 99th percentile latency of a class in an interval, milliseconds.
    pub const P99_MS: &str = "latency_p99_ms";
    /// Failed requests / requests.
    pub const ERROR_RATIO: &str = "error_ratio";
    /// Blocked requests / requests.
    pub const BLOCK_RATIO: &str = "block_ratio";
    /// 503s from pool exhaustion / requests.
    pub const POOL_503_RATIO: &str = "pool_503_ratio";
    /// Store lookups decided by failing open / requests.
    pub const FAIL_OPEN_RATIO: &str = "fail_open_ratio";
    /// CPU seconds / requests.
    pub const CPU_S_PER_REQUEST: &str = "cpu_s_per_request";
    /// Mean resident memory per instance at the interval's end, MiB.
    pub const RSS_MIB: &str = "rss_mib";
    /// Change of resident memory over the interval, bytes per second.
    pub const RSS_SLOPE: &str = "rss_slope_bytes_per_s";
}

/// One side's samples: metric series -> one value per interval that measured it.
pub type Series = BTreeMap<String, Vec<f64>>;

/// What one side served over the window: the basis of the comparability check.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    /// Requests in the judged intervals.
    pub requests: f64,
    /// Seconds covered by the judged intervals.
    pub seconds: f64,
    /// Instances (the most seen in one snapshot).
    pub instances: usize,
    /// Requests per second per instance.
    pub rate_per_instance: f64,
    /// Share of requests by decision, and `tunnel` (CONNECTs): the request mix.
    pub mix: BTreeMap<String, f64>,
    /// Intervals with requests.
    pub intervals: usize,
}

/// The per-interval series and the traffic of one side's consecutive snapshots.
pub fn derive(snapshots: &[Snapshot]) -> (Series, Traffic) {
    let mut series = Series::new();
    let mut traffic = Traffic::default();
    let mut by_decision: BTreeMap<String, f64> = BTreeMap::new();
    let mut tunnels = 0.0;
    for pair in snapshots.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let dt = b.at_s - a.at_s;
        let Some(requests) = request_deltas(a, b) else {
            continue;
        };
        let total: f64 = requests.values().sum();
        if total <= 0.0 || dt <= 0.0 {
            continue;
        }
        traffic.requests += total;
        traffic.seconds += dt;
        traffic.intervals += 1;
        traffic.instances = traffic.instances.max(a.instances).max(b.instances);
        for (k, v) in &requests {
            *by_decision.entry(k.clone()).or_default() += v;
        }
        let share = |k: &str| requests.get(k).copied().unwrap_or(0.0) / total;
        let mut push = |name: String, v: f64| {
            if v.is_finite() {
                series.entry(name).or_default().push(v);
            }
        };
        push(metric::ERROR_RATIO.into(), share("error"));
        push(metric::BLOCK_RATIO.into(), share("blocked"));
        if let Some(d) = nonneg(b.pool_exhausted - a.pool_exhausted) {
            push(metric::POOL_503_RATIO.into(), d / total);
        }
        if let Some(d) = nonneg(b.fail_open - a.fail_open) {
            push(metric::FAIL_OPEN_RATIO.into(), d / total);
        }
        if let Some(d) = nonneg(b.tunnels - a.tunnels) {
            tunnels += d;
        }
        if let (Some(x), Some(y)) = (a.cpu_seconds, b.cpu_seconds) {
            if let Some(d) = nonneg(y - x) {
                push(metric::CPU_S_PER_REQUEST.into(), d / total);
            }
        }
        if let (Some(x), Some(y)) = (a.rss_bytes, b.rss_bytes) {
            push(metric::RSS_MIB.into(), y / f64::from(1 << 20));
            if a.instances == b.instances {
                push(metric::RSS_SLOPE.into(), (y - x) / dt);
            }
        }
        for class in b.classes() {
            let (Some(start), Some(end)) = (a.class_buckets(&class), b.class_buckets(&class))
            else {
                continue;
            };
            // The interval's counts, still cumulative over the bounds.
            let Some(cumulative) = delta(&start, &end) else {
                continue;
            };
            for (name, q) in [(metric::P50_MS, 0.5), (metric::P99_MS, 0.99)] {
                if let Some(v) = quantile(q, &cumulative) {
                    push(format!("{name}.{class}"), v * 1000.0);
                }
            }
        }
    }
    if traffic.requests > 0.0 {
        for (k, v) in by_decision {
            traffic.mix.insert(k, v / traffic.requests);
        }
        traffic
            .mix
            .insert("tunnel".into(), tunnels / traffic.requests);
        traffic.rate_per_instance =
            traffic.requests / traffic.seconds / traffic.instances.max(1) as f64;
    }
    (series, traffic)
}

fn nonneg(d: f64) -> Option<f64> {
    (d >= 0.0).then_some(d)
}

/// Requests by decision in the interval; None on a counter reset.
fn request_deltas(a: &Snapshot, b: &Snapshot) -> Option<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (k, end) in &b.requests {
        let d = end - a.requests.get(k).copied().unwrap_or(0.0);
        if d < 0.0 {
            return None;
        }
        out.insert(k.clone(), d);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::snapshot::Bound;

    fn snap(at: f64, allowed: f64, blocked: f64, fast: f64, cpu: f64, rss: f64) -> Snapshot {
        let mut s = Snapshot {
            at_s: at,
            instances: 1,
            cpu_seconds: Some(cpu),
            rss_bytes: Some(rss),
            ..Snapshot::default()
        };
        s.requests.insert("allowed".into(), allowed);
        s.requests.insert("blocked".into(), blocked);
        s.buckets.insert(
            "allowed".into(),
            [(Bound(0.001), fast), (Bound(f64::INFINITY), allowed)].into(),
        );
        s
    }

    #[test]
    fn figures_are_per_interval_and_resets_leave_gaps() {
        let snaps = [
            snap(0.0, 0.0, 0.0, 0.0, 1.0, 1_048_576.0),
            snap(10.0, 90.0, 10.0, 90.0, 1.5, 2_097_152.0),
            // A restart: counters back near zero; this interval gives nothing.
            snap(20.0, 5.0, 0.0, 5.0, 0.1, 1_048_576.0),
            snap(30.0, 105.0, 0.0, 55.0, 0.3, 1_048_576.0),
        ];
        let (series, traffic) = derive(&snaps);
        assert_eq!(series[metric::BLOCK_RATIO], [0.1, 0.0]);
        assert_eq!(series[metric::CPU_S_PER_REQUEST], [0.005, 0.2 / 100.0]);
        assert_eq!(series[metric::RSS_SLOPE], [104_857.6, 0.0]);
        assert_eq!(series["latency_p50_ms.allowed"][0], 0.5);
        // Second interval: 50 of 100 under 1 ms, the rest beyond the last finite bound.
        assert_eq!(series["latency_p99_ms.allowed"][1], 1.0);
        assert_eq!(traffic.intervals, 2);
        assert_eq!(traffic.requests, 200.0);
        assert_eq!(traffic.rate_per_instance, 10.0);
        assert_eq!(traffic.mix["blocked"], 0.05);
    }
}
