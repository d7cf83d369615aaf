//! Latency figures as `run.json` holds them: percentiles and the latency the proxy adds
//! (shared by the run's classes and the appliance results).

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

/// Latency the proxy adds.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct AddedLatency {
    /// Median added latency, µs.
    #[serde(default)]
    pub p50: Option<f64>,
    /// 99th percentile added latency, µs.
    #[serde(default)]
    pub p99: Option<f64>,
}
