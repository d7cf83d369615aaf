//! The appliance results of a run (`run.json` → `appliance`, written by appliance runs of
//! the load generator): the latency the appliance hop adds, identity correctness, the
//! RADIUS stream and the appliance's counters. Every field is optional so runs of other
//! profiles, and older appliance runs, still load.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::latency::{AddedLatency, Percentiles};

/// The `appliance` object of `run.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ApplianceResults {
    /// Through the appliance minus straight to the proxy, same run (µs).
    #[serde(default)]
    pub added_latency_us: Option<AddedLatency>,
    /// Whole-request latency through the appliance (µs).
    #[serde(default)]
    pub through_appliance_us: Option<Percentiles>,
    /// Whole-request latency of the same traffic straight to the proxy (µs).
    #[serde(default)]
    pub direct_to_proxy_us: Option<Percentiles>,
    /// Request counts per route.
    #[serde(default)]
    pub requests: Option<RouteCounts>,
    /// Whether answers through the appliance named the right user.
    #[serde(default)]
    pub identity: Option<IdentityCounts>,
    /// The RADIUS accounting stream.
    #[serde(default)]
    pub radius: Option<RadiusCounts>,
    /// The appliance's own counters at the end of the run.
    #[serde(default)]
    pub appliance_metrics: Option<ApplianceCounters>,
    /// PROXY v2 headers the proxy accepted and refused.
    #[serde(default)]
    pub proxy_protocol: Option<HeaderCounts>,
    /// The run's own verdict on its checks.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// PROXY v2 headers at the proxy.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct HeaderCounts {
    /// Headers that verified.
    #[serde(default)]
    pub accepted: Option<f64>,
    /// Refusals by reason.
    #[serde(default)]
    pub refused: BTreeMap<String, f64>,
}

/// Requests and failures per route.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct RouteCounts {
    /// Requests through the appliance.
    #[serde(default)]
    pub through_appliance: u64,
    /// Of which failed.
    #[serde(default)]
    pub through_appliance_failures: u64,
    /// Requests straight to the proxy.
    #[serde(default)]
    pub direct: u64,
    /// Of which failed.
    #[serde(default)]
    pub direct_failures: u64,
}

/// Identity correctness through the appliance.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct IdentityCounts {
    /// Answers from the origin that were checked.
    #[serde(default)]
    pub checked: u64,
    /// The origin saw the registered user.
    #[serde(default)]
    pub matched: u64,
    /// The origin saw another user.
    #[serde(default)]
    pub mismatched: u64,
    /// The origin saw no user.
    #[serde(default)]
    pub missing: u64,
    /// A few mismatches, `expected -> seen`.
    #[serde(default)]
    pub examples: Vec<String>,
}

impl IdentityCounts {
    /// Answers without a user / answers checked; `None` when nothing was checked.
    pub fn missing_rate(&self) -> Option<f64> {
        (self.checked > 0).then(|| self.missing as f64 / self.checked as f64)
    }
}

/// The RADIUS stream's packets.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct RadiusCounts {
    /// Users with traffic (each registered).
    #[serde(default)]
    pub users: u64,
    /// Sessions without traffic, started and stopped during the run.
    #[serde(default)]
    pub churn_users: u64,
    /// Requests sent by type.
    #[serde(default)]
    pub sent: BTreeMap<String, u64>,
    /// Answers by type.
    #[serde(default)]
    pub acked: BTreeMap<String, u64>,
    /// Requests never answered.
    #[serde(default)]
    pub unanswered: u64,
}

/// The appliance's counters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ApplianceCounters {
    /// Connections accepted.
    #[serde(default)]
    pub connections: Option<f64>,
    /// Connections refused.
    #[serde(default)]
    pub connections_rejected: Option<f64>,
    /// Bytes client → cloud proxy.
    #[serde(default)]
    pub bytes_up: Option<f64>,
    /// Bytes cloud proxy → client.
    #[serde(default)]
    pub bytes_down: Option<f64>,
    /// Identity lookups by result.
    #[serde(default)]
    pub identity_lookups: BTreeMap<String, f64>,
}

/// The run's verdict on its own checks.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Verdict {
    /// All checks held.
    #[serde(default)]
    pub pass: bool,
    /// What failed.
    #[serde(default)]
    pub reasons: Vec<String>,
}
