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
}
