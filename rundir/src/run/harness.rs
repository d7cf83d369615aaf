//! The sections of `run.json` the harness adds after the attack (`loadgen run`, and the
//! appliance run for the parts it shares): where the processes ran and the harness's own
//! account of the run. The figures the reports compare (provenance, resources, the added
//! latency, the steady window, stage spans, instructions) are typed in the parent module.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::window::SteadyWindow;

/// Where the harness placed the processes it ran (`run.json` `placement`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq, JsonSchema)]
pub struct Placement {
    /// CPUs the proxy may run on.
    #[serde(default)]
    pub proxy_cpus: Vec<usize>,
    /// CPUs the load generator, origin and harness may run on.
    #[serde(default)]
    pub loadgen_cpus: Vec<usize>,
}

/// The harness's account of the run (`run.json` `harness`): what went wrong, what it
/// noticed, and the inputs of its own judgements. Every figure is optional: an
/// interrupted run records only its error, an appliance run only what it measures.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct HarnessReport {
    /// Why the run did not complete (`interrupted`, or the failure); `null` when it did.
    #[serde(default)]
    pub error: Option<String>,
    /// Things worth knowing about the run (pinning off, a pass that failed, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Cores the load generator kept busy over the steady window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadgen_cores_busy: Option<f64>,
    /// Requests per second the proxy completed over the steady window, by its counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_achieved_rps: Option<f64>,
    /// The rate the profile offered, when paced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rps: Option<f64>,
    /// Requests the schedule offered inside the measured window (appliance runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_in_window: Option<f64>,
    /// Whether the policy store was Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_store: Option<bool>,
    /// Length of each light pass (direct and proxied), seconds; 0 when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_pass_s: Option<u64>,
    /// The steady window the profile asked for (before the CPU profile took its part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiled_window: Option<SteadyWindow>,
    /// The part of the window the CPU profile sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_profile_window: Option<SteadyWindow>,
    /// The proxy's hottest frames by self time, with their share of the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_self_frames: Option<Vec<(String, f64)>>,
    /// The proxy's own functions by inclusive time, with their share of the samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_proxy_frames: Option<Vec<(String, f64)>>,
}

/// One request class's count in the instruction pass.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ClassInstructions {
    /// Requests of the class counted.
    pub requests: u64,
    /// Instructions executed while they were served.
    pub instructions: u64,
    /// Instructions per request of the class.
    pub per_request: f64,
    /// The class's weight in the scenario mix.
    #[serde(default)]
    pub weight: Option<u64>,
}

/// The instruction pass of a run (`run.json` `instructions`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Instructions {
    /// The counting tool and its version.
    pub tool: String,
    /// Requests counted.
    pub requests: u64,
    /// Instructions executed while they were served.
    pub instructions: u64,
    /// Instructions per request: since the pass counts per class, the classes' figures
    /// weighted by the scenario mix (older runs: the whole sequence's total over its
    /// count).
    pub per_request: f64,
    /// How `per_request` is formed (`mix_weighted`; absent in older runs: total / count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighting: Option<String>,
    /// Per request class (absent in runs from before the pass counted per class).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<BTreeMap<String, ClassInstructions>>,
    /// Where the pass's proxy kept its policy (`memory`: no Redis-store lookups counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_store: Option<String>,
    /// Requests of the counted sequence by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<String, u64>,
    /// Requests whose answer was not the expected one (a pass with any is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexpected: Option<u64>,
    /// Keep-alive connections the sequence used, one request in flight at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
}
