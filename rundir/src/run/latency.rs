//! Latency figures as `run.json` holds them: percentiles and the latency the proxy adds
//! (shared by the run's classes and the appliance results).

use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Percentiles {
    /// Values recorded, when the writer says (zero: the percentiles mean nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Minimum.
    #[serde(default)]
    pub min: Option<f64>,
    /// Median.
    #[serde(default)]
    pub p50: Option<f64>,
    /// 90th percentile.
    #[serde(default)]
    pub p90: Option<f64>,
    /// 99th percentile.
    #[serde(default)]
    pub p99: Option<f64>,
    /// 99.9th percentile.
    #[serde(default)]
    pub p999: Option<f64>,
    /// Maximum.
    #[serde(default)]
    pub max: Option<f64>,
}

impl Percentiles {
    /// The percentiles of a recorded histogram; `None` when it is empty (nothing was
    /// measured, and zeros would read as a measurement).
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        let q = |q: f64| Some(h.value_at_quantile(q) as f64);
        Some(Self {
            count: Some(h.len()),
            min: Some(h.min() as f64),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: Some(h.max() as f64),
        })
    }
}

/// Latency the proxy adds.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct AddedLatency {
    /// Median added latency, µs.
    #[serde(default)]
    pub p50: Option<f64>,
    /// 99th percentile added latency, µs.
    #[serde(default)]
    pub p99: Option<f64>,
    /// The histogram compared, relative to the run directory (e.g.
    /// `hist/ttfb/allowed.hdr`), when the writer names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}
