//! The appliance results of a run (`run.json` → `appliance`, written by appliance runs of
//! the load generator): the latency the appliance hop adds, identity correctness, the
//! RADIUS stream and the appliance's counters. Every field is optional so runs of other
//! profiles, and older appliance runs, still load.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::class::ClassStats;
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
    /// The requests straight to the proxy, per class (`classes` holds the ones through
    /// the appliance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub direct_classes: BTreeMap<String, ClassStats>,
    /// How well the load generator kept to its schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The appliance's CPU time per connection over the measured window, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance_cpu_us_per_connection: Option<f64>,
    /// Requests sent through the appliance over the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_through_appliance: Option<u64>,
    /// Whether the run gave the appliance a wrong HMAC key on purpose (every PROXY
    /// header must then be refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrong_hmac_key: Option<bool>,
}

/// The appliance run's schedule against its clock: a saturated load generator shows
/// here, not as the system's latency.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Schedule {
    /// Requests scheduled.
    #[serde(default)]
    pub scheduled: u64,
    /// Requests that started more than 100 ms after they were due.
    #[serde(default)]
    pub late_over_100ms: u64,
    /// Scheduled start to actual start (µs).
    #[serde(default)]
    pub lag_us: Option<Percentiles>,
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
    /// Requests sent of all types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_total: Option<u64>,
    /// Answers of all types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_total: Option<u64>,
    /// Requests never answered.
    #[serde(default)]
    pub unanswered: u64,
    /// Answers that did not verify or matched no request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_answers: Option<u64>,
    /// Interim-Updates and churn packets sent more than a second after they were due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<u64>,
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
    /// RADIUS packets by `type/result`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub radius_packets: BTreeMap<String, f64>,
    /// RADIUS sessions in the appliance's table at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_sessions: Option<f64>,
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
