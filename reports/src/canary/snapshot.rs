//! One side's cumulative counters at one moment: what the judge takes from a scrape of
//! every instance of the side, or from one step of a Prometheus range query.
//!
//! Counters are summed over the side's instances (CPU seconds and requests add up); the
//! resident memory is the mean per instance, since sides may have different instance
//! counts. Latency buckets are kept per `decision` (the by-decision histogram); a proxy
//! without it (older builds) gives the whole-proxy class only, from its one histogram.

use std::collections::BTreeMap;

use super::exposition::Sample;

/// Metric families the judge reads (names as the proxy exposes them).
pub mod names {
    /// Requests by `decision` and `status`.
    pub const REQUESTS: &str = "filter_proxy_requests_total";
    /// Latency histogram, by `decision`.
    pub const LATENCY_BY_DECISION_BUCKET: &str =
        "filter_proxy_request_duration_by_decision_seconds_bucket";
    /// Latency histogram of every request (the only one of older builds).
    pub const LATENCY_BUCKET: &str = "filter_proxy_request_duration_seconds_bucket";
    /// Pool acquisitions that timed out: each one a 503 to a client.
    pub const POOL_EXHAUSTED: &str = "filter_proxy_pool_exhausted_total";
    /// Requests decided by the store's fail mode, by `mode`.
    pub const STORE_UNAVAILABLE: &str = "filter_proxy_store_unavailable_total";
    /// CONNECT tunnels opened (the mix's tunnel share).
    pub const TUNNELS_OPENED: &str = "filter_proxy_tunnels_opened_total";
    /// Process CPU time.
    pub const CPU_SECONDS: &str = "process_cpu_seconds_total";
    /// Process resident memory.
    pub const RSS_BYTES: &str = "process_resident_memory_bytes";
}

/// The class name of the whole proxy's latency (every decision together).
pub const ALL_CLASSES: &str = "all";
/// The key of a histogram without a `decision` label.
pub const UNLABELLED: &str = "";

/// Cumulative figures of one side at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Seconds since the Unix epoch (or since the session's start for direct scrapes).
    pub at_s: f64,
    /// Instances summed.
    pub instances: usize,
    /// Requests by decision (`allowed`, `blocked`, `error`).
    pub requests: BTreeMap<String, f64>,
    /// Cumulative latency bucket counts by decision, then by upper bound (seconds).
    pub buckets: BTreeMap<String, BTreeMap<Bound, f64>>,
    /// 503s from pool exhaustion.
    pub pool_exhausted: f64,
    /// Lookups decided by failing open.
    pub fail_open: f64,
    /// Tunnels opened.
    pub tunnels: f64,
    /// CPU seconds of the side's processes (None when not exposed).
    pub cpu_seconds: Option<f64>,
    /// Mean resident memory per instance (None when not exposed).
    pub rss_bytes: Option<f64>,
}

/// A bucket's upper bound, ordered (`+Inf` last).
#[derive(Debug, Clone, Copy)]
pub struct Bound(pub f64);

impl PartialEq for Bound {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Snapshot {
    /// One instance's snapshot from its scrape.
    pub fn from_samples(at_s: f64, samples: &[Sample]) -> Self {
        let mut snap = Snapshot {
            at_s,
            instances: 1,
            ..Snapshot::default()
        };
        for s in samples {
            match s.name.as_str() {
                names::REQUESTS => {
                    let decision = s.label("decision").unwrap_or(UNLABELLED);
                    *snap.requests.entry(decision.to_string()).or_default() += s.value;
                }
                names::LATENCY_BY_DECISION_BUCKET | names::LATENCY_BUCKET => {
                    let Some(le) = s.label("le").and_then(parse_bound) else {
                        continue;
                    };
                    let decision = match s.name.as_str() {
                        names::LATENCY_BUCKET => UNLABELLED,
                        _ => s.label("decision").unwrap_or(UNLABELLED),
                    };
                    snap.add_bucket(decision, le, s.value);
                }
                names::POOL_EXHAUSTED => snap.pool_exhausted += s.value,
                names::STORE_UNAVAILABLE if s.label("mode") == Some("open") => {
                    snap.fail_open += s.value;
                }
                names::TUNNELS_OPENED => snap.tunnels += s.value,
                names::CPU_SECONDS => *snap.cpu_seconds.get_or_insert(0.0) += s.value,
                names::RSS_BYTES => *snap.rss_bytes.get_or_insert(0.0) += s.value,
                _ => {}
            }
        }
        snap
    }

    /// Adds a cumulative bucket count.
    pub fn add_bucket(&mut self, decision: &str, le: f64, count: f64) {
        *self
            .buckets
            .entry(decision.to_string())
            .or_default()
            .entry(Bound(le))
            .or_default() += count;
    }

    /// The side's snapshot: instances' counters summed, memory averaged.
    pub fn merge(at_s: f64, parts: &[Snapshot]) -> Self {
        let mut out = Snapshot {
            at_s,
            ..Snapshot::default()
        };
        let mut rss_sum = None::<f64>;
        for p in parts {
            out.instances += p.instances;
            for (k, v) in &p.requests {
                *out.requests.entry(k.clone()).or_default() += v;
            }
            for (k, bounds) in &p.buckets {
                for (le, v) in bounds {
                    out.add_bucket(k, le.0, *v);
                }
            }
            out.pool_exhausted += p.pool_exhausted;
            out.fail_open += p.fail_open;
            out.tunnels += p.tunnels;
            if let Some(c) = p.cpu_seconds {
                *out.cpu_seconds.get_or_insert(0.0) += c;
            }
            if let Some(r) = p.rss_bytes {
                *rss_sum.get_or_insert(0.0) += r * p.instances as f64;
            }
        }
        out.rss_bytes = rss_sum.map(|s| s / out.instances.max(1) as f64);
        out
    }

    /// Cumulative buckets of a latency class: a decision, or [`ALL_CLASSES`] (the
    /// decisions' histograms summed; the whole-proxy histogram when there are none).
    pub fn class_buckets(&self, class: &str) -> Option<BTreeMap<Bound, f64>> {
        if class != ALL_CLASSES {
            return self.buckets.get(class).cloned();
        }
        let labelled = self.buckets.keys().any(|k| k != UNLABELLED);
        let mut all = BTreeMap::new();
        for (_, bounds) in self
            .buckets
            .iter()
            .filter(|(k, _)| !labelled || k.as_str() != UNLABELLED)
        {
            for (le, v) in bounds {
                *all.entry(*le).or_default() += v;
            }
        }
        (!all.is_empty()).then_some(all)
    }

    /// The latency classes present: every labelled decision, and `all`.
    pub fn classes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .buckets
            .keys()
            .filter(|k| k.as_str() != UNLABELLED)
            .cloned()
            .collect();
        if !self.buckets.is_empty() {
            out.push(ALL_CLASSES.to_string());
        }
        out
    }
}

/// Parses an `le` label value.
pub fn parse_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        v => v.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::exposition::parse;

    const SCRAPE: &str = "filter_proxy_requests_total{decision=\"allowed\",status=\"2xx\"} 10\n\
        filter_proxy_requests_total{decision=\"blocked\",status=\"4xx\"} 4\n\
        filter_proxy_request_duration_by_decision_seconds_bucket{decision=\"allowed\",le=\"0.001\"} 6\n\
        filter_proxy_request_duration_by_decision_seconds_bucket{decision=\"allowed\",le=\"+Inf\"} 10\n\
        filter_proxy_request_duration_by_decision_seconds_bucket{decision=\"blocked\",le=\"0.001\"} 4\n\
        filter_proxy_request_duration_by_decision_seconds_bucket{decision=\"blocked\",le=\"+Inf\"} 4\n\
        filter_proxy_request_duration_seconds_bucket{le=\"0.001\"} 10\n\
        filter_proxy_request_duration_seconds_bucket{le=\"+Inf\"} 14\n\
        filter_proxy_store_unavailable_total{mode=\"open\"} 2\n\
        filter_proxy_store_unavailable_total{mode=\"closed\"} 5\n\
        process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 1000\n";

    #[test]
    fn reads_a_scrape_and_merges_instances() {
        let one = Snapshot::from_samples(0.0, &parse(SCRAPE, "t").unwrap());
        assert_eq!(one.requests["allowed"], 10.0);
        assert_eq!(one.fail_open, 2.0);
        let all = one.class_buckets(ALL_CLASSES).unwrap();
        assert_eq!(all[&Bound(0.001)], 10.0);
        assert_eq!(all[&Bound(f64::INFINITY)], 14.0);
        assert_eq!(one.classes(), ["allowed", "blocked", "all"]);
        let mut other = one.clone();
        other.rss_bytes = Some(3000.0);
        let side = Snapshot::merge(5.0, &[one, other]);
        assert_eq!(side.instances, 2);
        assert_eq!(side.requests["blocked"], 8.0);
        assert_eq!(side.cpu_seconds, Some(3.0));
        assert_eq!(
            side.rss_bytes,
            Some(2000.0),
            "memory is a mean per instance"
        );
    }
}
