//! The library's error type.
//!
//! Errors are split into "bad input" (the caller handed us something we must refuse: a
//! missing file, a schema mismatch, a baseline of another profile, an unfit run) and
//! everything else, because the gate's exit code distinguishes them: bad input is exit 2,
//! never a silent pass.

use std::path::PathBuf;

/// Everything that can go wrong while reading runs, writing reports or evaluating gates.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file the command needs does not exist or cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON, TOML, CSV or HDR file is malformed.
    #[error("{path} is malformed: {detail}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the parser's position where it has one.
        detail: String,
    },
    /// A document carries a schema version this build does not read.
    #[error(
        "{path} has schema_version {found}, this perf-report reads version {expected}; \
         regenerate it with a matching tool version"
    )]
    SchemaMismatch {
        /// The file.
        path: PathBuf,
        /// The version found in the file (or "missing").
        found: String,
        /// The version this build understands.
        expected: u32,
    },
    /// The baseline was promoted from another load profile than the run.
    #[error(
        "baseline {path} is for profile '{baseline}' but the run used profile '{run}'; \
         compare runs against a baseline of the same profile"
    )]
    ProfileMismatch {
        /// The baseline file.
        path: PathBuf,
        /// Profile named in the baseline.
        baseline: String,
        /// Profile named in the run.
        run: String,
    },
    /// The gate rules file failed validation; every problem is listed.
    #[error("{path} is invalid:\n  - {}", problems.join("\n  - "))]
    InvalidGates {
        /// The rules file.
        path: PathBuf,
        /// One line per problem, each naming its key.
        problems: Vec<String>,
    },
    /// The run is not fit to become a baseline.
    #[error("refusing to promote {path}: {}; to promote it anyway, run: {instead}", reasons.join("; "))]
    UnfitRun {
        /// The run directory.
        path: PathBuf,
        /// Why it is refused.
        reasons: Vec<String>,
        /// The one command that promotes it anyway, with `--force --note`.
        instead: String,
    },
    /// The run cannot be compared: its numbers are not a measurement.
    #[error("cannot gate {path}: {reason}")]
    NotAMeasurement {
        /// The run directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An A/B gate session could not be run (no arm to compare, a build or trial failed).
    #[error("gate session: {0}")]
    Session(String),
    /// A command-line combination that makes no sense.
    #[error("{0}")]
    Usage(String),
    /// Drawing a plot or a flame graph failed.
    #[error("cannot draw {what}: {detail}")]
    Draw {
        /// Which figure.
        what: String,
        /// The drawing library's message.
        detail: String,
    },
}

impl ReportError {
    /// Whether the error is the caller's input being refused (exit code 2 in the gate)
    /// rather than a failure of ours to write output.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ReportError::Write { .. } | ReportError::Draw { .. })
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

impl From<rundir::flame::FlameError> for ReportError {
    fn from(e: rundir::flame::FlameError) -> Self {
        ReportError::Draw {
            what: e.what.to_owned(),
            detail: e.source.to_string(),
        }
    }
}
