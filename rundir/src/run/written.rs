//! `run.json` as `loadgen attack` writes it, before the harness adds its keys.
//!
//! The load generator builds this value and serialises it; nothing assembles the document
//! key by key. The reports read the same file through [`RunJson`](super::RunJson) after
//! [`migrate`](super::migrate): the written form keeps the load generator's own
//! percentile record (integers, `p99_9`, `mean`), which the migration renames to the
//! reading layout. `rundir/schemas/run-written.schema.json` (written by hand) describes the file as written,
//! harness keys included; `rundir/schemas/run.schema.json` the layout the reports read.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use super::{ProfileInfo, Totals};

/// The attack's `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct AttackRun {
    /// [`RUN_SCHEMA_VERSION`](super::RUN_SCHEMA_VERSION).
    pub schema_version: u32,
    /// Always `loadgen`.
    pub tool: &'static str,
    /// `goose` or `open-loop`.
    pub driver: &'static str,
    /// Whether the attack ran to its end.
    pub complete: bool,
    /// Wall-clock start (UTC, RFC 3339).
    pub started_at: String,
    /// Wall-clock end.
    pub ended_at: String,
    /// `proxy` when the traffic went through the proxy, `direct` when straight to the origin.
    pub route: &'static str,
    /// Proxy address, when proxied.
    pub proxy: Option<String>,
    /// Origin address.
    pub origin: String,
    /// The profile's name and resolved settings.
    pub profile: ProfileInfo,
    /// The scenario mix (null for the open-loop driver).
    pub scenario_mix: Value,
    /// Length of the attack, seconds.
    pub elapsed_s: f64,
    /// Warm-up, seconds.
    pub warmup_s: f64,
    /// From the end of the warm-up to the last answer, seconds.
    pub measured_s: f64,
    /// Whole-run totals.
    pub totals: Totals,
    /// Per class, by name.
    pub classes: BTreeMap<String, WrittenClass>,
    /// Failures by kind over all classes (kinds with none left out).
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Whether latencies were also recorded from the intended send time.
    pub coordinated_omission: CoordinatedOmission,
    /// Samples outside the measurement.
    pub samples: Samples,
    /// The other files of the run directory, relative to it.
    pub files: Files,
    /// Driver-specific facts (Goose totals, roster groups, ...).
    pub extra: BTreeMap<String, Value>,
}

/// One class as the attack writes it.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenClass {
    /// Requests issued.
    pub count: u64,
    /// Unexpected outcomes.
    pub failures: u64,
    /// Failures by kind (kinds with none left out).
    pub errors: BTreeMap<String, u64>,
    /// Achieved requests per second over the measured time.
    pub rps: f64,
    /// Whole-request latency: time to last byte.
    pub latency_us: RecordedPercentiles,
    /// Time to first byte.
    pub ttfb_us: RecordedPercentiles,
    /// Time to last byte.
    pub ttlb_us: RecordedPercentiles,
    /// From the intended send time (paced runs).
    pub corrected_us: Option<RecordedPercentiles>,
}

/// Percentiles of one histogram as the load generator records them, µs (all zero when
/// the histogram is empty: `count` says so).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecordedPercentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl RecordedPercentiles {
    /// Reads the percentiles of `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                count: 0,
                min: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p99_9: 0,
                max: 0,
                mean: 0.0,
            };
        }
        Self {
            count: h.len(),
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Coordinated-omission correction of a run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CoordinatedOmission {
    /// Whether corrected histograms were recorded (paced runs).
    pub corrected: bool,
    /// The rate the correction assumes.
    pub target_rps: Option<f64>,
}

/// Samples left out of the per-second rows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Samples {
    /// Inside the warm-up.
    pub warmup: u64,
    /// For a second already closed.
    pub late: u64,
}

/// The run directory's other files, relative to it.
#[derive(Debug, Clone, Serialize)]
pub struct Files {
    /// The per-second rows.
    pub timeseries: &'static str,
    /// Time to last byte histograms by class.
    pub histograms: BTreeMap<String, String>,
    /// Time to first byte histograms by class.
    pub ttfb_histograms: BTreeMap<String, String>,
    /// Corrected histograms by class.
    pub corrected_histograms: BTreeMap<String, String>,
    /// Goose's reports, when written.
    pub goose_report: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunJson, RUN_SCHEMA_VERSION};

    #[test]
    fn what_the_attack_writes_the_reports_read() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in [100, 200, 900] {
            h.record(v).unwrap();
        }
        let recorded = RecordedPercentiles::of(&h);
        let empty = RecordedPercentiles::of(&Histogram::new(3).unwrap());
        let class = |count, p: RecordedPercentiles| WrittenClass {
            count,
            failures: 0,
            errors: BTreeMap::new(),
            rps: 1.5,
            latency_us: p,
            ttfb_us: p,
            ttlb_us: p,
            corrected_us: None,
        };
        let run = AttackRun {
            schema_version: RUN_SCHEMA_VERSION,
            tool: "loadgen",
            driver: "open-loop",
            complete: true,
            started_at: "2026-01-05T08:00:00Z".into(),
            ended_at: "2026-01-05T08:01:00Z".into(),
            route: "proxy",
            proxy: Some("127.0.0.1:3128".into()),
            origin: "127.0.0.1:8080".into(),
            profile: ProfileInfo {
                name: "ci".into(),
                settings: serde_json::json!({"users": 5}),
            },
            scenario_mix: Value::Null,
            elapsed_s: 60.0,
            warmup_s: 10.0,
            measured_s: 50.0,
            totals: Totals {
                requests: 3,
                failures: 0,
                rps: Some(0.06),
                offered_rps: Some(1.0),
            },
            classes: BTreeMap::from([
                ("allowed".to_owned(), class(3, recorded)),
                ("cors".to_owned(), class(0, empty)),
            ]),
            errors_by_kind: BTreeMap::new(),
            coordinated_omission: CoordinatedOmission {
                corrected: true,
                target_rps: Some(1.0),
            },
            samples: Samples { warmup: 0, late: 0 },
            files: Files {
                timeseries: "timeseries.csv",
                histograms: BTreeMap::new(),
                ttfb_histograms: BTreeMap::new(),
                corrected_histograms: BTreeMap::new(),
                goose_report: Vec::new(),
            },
            extra: BTreeMap::new(),
        };
        let read = RunJson::from_json(serde_json::to_value(&run).unwrap()).unwrap();
        let allowed = &read.classes["allowed"];
        assert_eq!(allowed.count, 3);
        assert_eq!(allowed.latency_us.unwrap().p999, Some(900.0));
        assert_eq!(
            read.classes["cors"].latency_us, None,
            "an empty class is not measured"
        );
        assert_eq!(read.totals.unwrap().offered_rps, Some(1.0));
    }
}
