//! What a gate session returns: the enforced verdict, how it was reached, both reports and
//! the warnings to read it with.

use std::path::PathBuf;

use crate::gate::GateReport;
use rundir::verdict::{Mode, Verdict};

/// The session's result.
#[derive(Debug)]
pub struct GateOutcome {
    /// The enforced verdict: today's comparison, or the document's in fallback.
    pub verdict: Verdict,
    /// How the verdict was reached.
    pub mode: Mode,
    /// Candidate vs control today (interleaved mode).
    pub today: Option<GateReport>,
    /// Candidate vs the committed document (when there is one).
    pub document: Option<GateReport>,
    /// The session directory.
    pub out_dir: PathBuf,
    /// Reasons to read the verdict with care (saturated load generator in a trial, a
    /// baseline measured from uncommitted changes).
    pub warnings: Vec<String>,
}
