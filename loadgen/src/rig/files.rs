//! Files the rig writes (generated configs, run documents): atomically, through the run
//! directory's one writer ([`rundir::atomic`]), so no reader ever sees half a file.

use std::path::Path;

use super::error::RigError;

/// Writes `bytes` to `path` atomically (same-directory temp file, synced, renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), RigError> {
    rundir::atomic::write_atomic(path, bytes).map_err(|e| RigError::Io {
        what: format!("write {}", e.path.display()),
        cause: e.cause,
    })
}
