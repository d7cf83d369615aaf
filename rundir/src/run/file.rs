//! `run.json` on disk: read through the migration, written whole and atomically.
//!
//! The attack writes the file first; the harness and the appliance run read it back,
//! set their sections and write it again. Going through [`RunJson`] both ways keeps every
//! writer to the one layout, and the atomic write means an interrupted run leaves the
//! previous whole document rather than half of the next.

use std::path::{Path, PathBuf};

use super::document::RunJson;
use super::migrate::DocError;
use crate::atomic::{write_atomic, WriteError};

/// `run.json` could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RunFileError {
    /// The file could not be read.
    #[error("reading {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not JSON.
    #[error("parsing {}: {cause}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: serde_json::Error,
    },
    /// The document is not a `run.json` this build reads.
    #[error("{}: {cause}", path.display())]
    Doc {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: DocError,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl RunJson {
    /// Reads `path` (any supported version, migrated to the current layout).
    pub fn load(path: &Path) -> Result<Self, RunFileError> {
        let bytes = std::fs::read(path).map_err(|cause| RunFileError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let doc = serde_json::from_slice(&bytes).map_err(|cause| RunFileError::Parse {
            path: path.to_owned(),
            cause,
        })?;
        Self::from_json(doc).map_err(|cause| RunFileError::Doc {
            path: path.to_owned(),
            cause,
        })
    }

    /// The document as the file holds it: pretty-printed, keys sorted (through a JSON
    /// value, whose maps are ordered), so files of any writer read alike.
    pub fn to_pretty_json(&self) -> String {
        let doc = serde_json::to_value(self).expect("run.json is plain data");
        serde_json::to_string_pretty(&doc).expect("a JSON value always serialises")
    }

    /// Writes the document to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), RunFileError> {
        write_atomic(path, self.to_pretty_json().as_bytes())?;
        Ok(())
    }
}
