//! Atomic file writes, as the run-directory crate does them ([`rundir::atomic`]), with the
//! reports' error.

use std::path::Path;

use crate::error::{ReportError, Result};

impl From<rundir::atomic::WriteError> for ReportError {
    fn from(e: rundir::atomic::WriteError) -> Self {
        ReportError::Write {
            path: e.path,
            source: e.cause,
        }
    }
}

/// Writes `bytes` to `path` atomically (same-directory temp file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(rundir::atomic::write_atomic(path, bytes)?)
}

/// Writes several files atomically, each staged before any is renamed.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<()> {
    Ok(rundir::atomic::write_all_atomic(files)?)
}
