//! The statistics of one request class (`run.json` `classes`), shared by the attack's
//! classes and the appliance's direct ones.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::latency::Percentiles;

/// Statistics of one request class.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ClassStats {
    /// Requests issued.
    #[serde(default)]
    pub count: u64,
    /// Unexpected outcomes (a blocked page where one is expected is not a failure).
    #[serde(default)]
    pub failures: u64,
    /// Failures by kind (timeout, transport, status, ...); kinds with none are left out.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Achieved throughput in requests per second.
    #[serde(default)]
    pub rps: Option<f64>,
    /// Whole-request latency percentiles (µs): time to last byte where recorded.
    #[serde(default)]
    pub latency_us: Option<Percentiles>,
    /// Time to first byte percentiles (µs).
    #[serde(default)]
    pub ttfb_us: Option<Percentiles>,
    /// Time to last byte percentiles (µs).
    #[serde(default)]
    pub ttlb_us: Option<Percentiles>,
    /// Latency from the intended send time (µs; paced runs, coordinated omission
    /// corrected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_us: Option<Percentiles>,
}
