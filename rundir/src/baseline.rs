//! The machine-readable baseline document (`baselines/NAME.json`).
//!
//! It holds exactly what the gate needs to compare a later run without the original run
//! directory: the metric set (whole-run values and per-second samples), the per-class HDR
//! histograms (base64 of V2) for the overlaid spectra, a reference to the folded CPU stacks
//! committed beside it, and provenance so a review can tell which build and machine the
//! numbers came from.
//!
//! # Versions
//! - **1** (current): every committed baseline. A later version adds a migration step from
//!   version 1 in [`Baseline::from_json`], so committed baselines keep loading.

use crate::folded::Frame;
use crate::hdr::{self, Base64Error};
use crate::run::migrate::{check_version, DocError};
use crate::run::{ClassStats, Provenance};
use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The baseline document schema version this build reads and writes.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// A promoted baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Baseline {
    /// Document schema version.
    pub schema_version: u32,
    /// Load profile name; a run of another profile is refused.
    pub profile: String,
    /// The profile's resolved settings at the time of the run.
    #[serde(default)]
    pub profile_settings: serde_json::Value,
    /// When the baseline was promoted (UTC, RFC 3339).
    pub promoted_at: String,
    /// Run start and end as recorded by the load generator.
    pub run_started_at: Option<String>,
    /// Run end.
    pub run_ended_at: Option<String>,
    /// Why the baseline was promoted (required when forced).
    #[serde(default)]
    pub note: Option<String>,
    /// Whether promotion overrode a refusal (incomplete, failures, saturated).
    #[serde(default)]
    pub forced: bool,
    /// The reasons that were overridden.
    #[serde(default)]
    pub overridden: Vec<String>,
    /// Build and machine provenance.
    #[serde(default)]
    pub provenance: Provenance,
    /// A short description of the machine; runs are comparable only on like machines.
    pub machine_fingerprint: String,
    /// The gated numbers.
    pub metrics: MetricSet,
    /// Per-class summary from the run.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassStats>,
    /// Per-class latency histograms: base64 of the HDR V2 serialisation (µs).
    #[serde(default)]
    pub histograms: BTreeMap<String, String>,
    /// File name of the collapsed CPU stacks beside this document, if any.
    #[serde(default)]
    pub folded: Option<String>,
    /// Hottest frames by self time.
    #[serde(default)]
    pub top_frames: Vec<Frame>,
    /// What this document changed against the one it replaced (absent: it replaced none,
    /// or it was promoted before documents recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<Replaced>,
}

/// The document a promotion replaced, and what changed: kept in the new document so a
/// reviewer sees the step without digging in history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Replaced {
    /// When the replaced document was promoted.
    pub old_promoted_at: String,
    /// Rows: machine, commit, then the headline figures either side measured.
    pub rows: Vec<ReplacedRow>,
}

/// One figure of [`Replaced`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplacedRow {
    /// What is compared (`machine`, `throughput`, `p99 allowed`, ...).
    pub what: String,
    /// The replaced document's value, in human units.
    pub old: String,
    /// The new document's value.
    pub new: String,
    /// new / old for a figure both measured (`None` for the machine and the commit).
    pub ratio: Option<f64>,
}

impl Baseline {
    /// Reads a baseline document, refusing other schema versions.
    pub fn from_json(doc: serde_json::Value) -> Result<Self, DocError> {
        check_version(&doc, BASELINE_SCHEMA_VERSION)?;
        Ok(serde_json::from_value(doc)?)
    }

    /// The decoded histograms; a corrupt entry is an error naming the class.
    pub fn decoded_histograms(
        &self,
    ) -> Result<BTreeMap<String, Histogram<u64>>, (String, Base64Error)> {
        self.histograms
            .iter()
            .map(|(class, text)| {
                hdr::from_base64(text)
                    .map(|h| (class.clone(), h))
                    .map_err(|e| (class.clone(), e))
            })
            .collect()
    }
}

/// A measured metric: whole-run value and per-second samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricValue {
    /// The whole-run value, when measured.
    #[serde(default)]
    pub point: Option<f64>,
    /// Per-second values over the steady window (may be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl MetricValue {
    /// The value to show: the point, else the median of the samples.
    pub fn value(&self) -> Option<f64> {
        self.point.or_else(|| median(&self.samples))
    }
}

/// The median (mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Measured metrics by key (the metric's name, then `.class` for per-class metrics, e.g.
/// `p99_us.allowed`).
pub type MetricSet = BTreeMap<String, MetricValue>;
