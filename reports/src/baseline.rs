//! The machine-readable baseline document (`baselines/NAME.json`).
//!
//! It holds exactly what the gate needs to compare a later run without the original run
//! directory: the metric set (whole-run values and per-second samples), the per-class HDR
//! histograms (base64 of V2) for the overlaid spectra, a reference to the folded CPU stacks
//! committed beside it, and provenance so a review can tell which build and machine the
//! numbers came from.

use crate::error::Result;
use crate::metrics::MetricSet;
use crate::rundir::read_versioned_json;
use crate::runjson::{ClassStats, Provenance};
use hdrhistogram::Histogram;
use rundir::folded::Frame;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The baseline document schema version this build reads and writes.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// A promoted baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Baseline {
    /// Reads a baseline document, refusing other schema versions.
    pub fn read(path: &Path) -> Result<Self> {
        read_versioned_json(path, BASELINE_SCHEMA_VERSION)
    }

    /// The decoded histograms; a corrupt entry is an error naming the class.
    pub fn decoded_histograms(&self, path: &Path) -> Result<BTreeMap<String, Histogram<u64>>> {
        self.histograms
            .iter()
            .map(|(class, text)| {
                rundir::hdr::from_base64(text)
                    .map(|h| (class.clone(), h))
                    .map_err(|e| crate::ReportError::Malformed {
                        path: path.to_owned(),
                        detail: format!("histograms.{class}: {e}"),
                    })
            })
            .collect()
    }

    /// The collapsed stacks beside the document, if referenced and present.
    pub fn folded_stacks(&self, path: &Path) -> Result<Option<String>> {
        let Some(name) = &self.folded else {
            return Ok(None);
        };
        let file = path.parent().unwrap_or(Path::new(".")).join(name);
        if file.is_file() {
            crate::rundir::read_to_string(&file).map(Some)
        } else {
            Ok(None)
        }
    }
}
