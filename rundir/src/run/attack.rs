//! The sections of `run.json` only the attack writes: its coordinated-omission setting,
//! the samples it left out and the other files of the run directory.
//!
//! Since schema version 2 the attack builds the whole document as a
//! [`RunJson`](super::RunJson) and serialises it: the file as written is the layout the
//! reports read, with no renaming in between.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Coordinated-omission correction of a run.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct CoordinatedOmission {
    /// Whether corrected histograms were recorded (paced runs).
    #[serde(default)]
    pub corrected: bool,
    /// The rate the correction assumes.
    #[serde(default)]
    pub target_rps: Option<f64>,
}

/// Samples left out of the per-second rows.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Samples {
    /// Inside the warm-up.
    #[serde(default)]
    pub warmup: u64,
    /// For a second already closed.
    #[serde(default)]
    pub late: u64,
}

/// The run directory's other files, relative to it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Files {
    /// The per-second rows.
    #[serde(default)]
    pub timeseries: String,
    /// Time to last byte histograms by class.
    #[serde(default)]
    pub histograms: BTreeMap<String, String>,
    /// Time to first byte histograms by class.
    #[serde(default)]
    pub ttfb_histograms: BTreeMap<String, String>,
    /// Corrected histograms by class.
    #[serde(default)]
    pub corrected_histograms: BTreeMap<String, String>,
    /// Goose's reports, when written.
    #[serde(default)]
    pub goose_report: Vec<String>,
    /// Per-second time-to-last-byte histograms of every class, as an HdrHistogram
    /// interval log (`.hlog`, V2-deflate; readable by other HdrHistogram tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_log: Option<String>,
}

/// What one driver adds about itself (`run.json` `extra`): the Goose driver its roster,
/// scenarios and Goose's own count, the open-loop driver its connections and the sends
/// its schedule never made; the appliance run which route the classes describe.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct DriverFacts {
    /// Roster users by group (Goose).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roster_groups: BTreeMap<String, u64>,
    /// Scenarios of the mix that cannot run on this route (Goose).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_scenarios: Vec<String>,
    /// Users given to each scenario by the mix's weights (Goose).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users_per_scenario: BTreeMap<String, u64>,
    /// Goose's own totals, when it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goose: Option<GooseTotals>,
    /// Why Goose failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goose_error: Option<String>,
    /// Keep-alive connections the open-loop driver sent on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    /// Scheduled sends the open-loop driver never made (it fell behind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent: Option<u64>,
    /// Which requests `classes`, `hist/` and `timeseries.csv` describe (appliance runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance_route: Option<String>,
}

/// Goose's own count of a run, beside the load generator's.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct GooseTotals {
    /// Requests Goose made.
    pub requests: u64,
    /// Of which Goose counted as failed.
    pub failures: u64,
    /// Goose's run time, seconds.
    pub duration_s: u64,
}
