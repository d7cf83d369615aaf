//! Why a parity run could not be made.

use crate::rig::error::RigError;

/// How to install the reference filter (named in the error when it is missing).
pub const INSTALL_HINT: &str =
    "e2guardian is not installed: run `apt-get install -y e2guardian` (or scripts/parity.sh, which installs it)";

/// Errors of a parity run (all exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// A corpus file is malformed (every bad line listed).
    #[error("corpus: {0}")]
    Corpus(String),
    /// Another input (database, policy, arguments) is unusable.
    #[error("{0}")]
    Input(String),
    /// A file operation failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// e2guardian is not installed.
    #[error("{}", INSTALL_HINT)]
    MissingE2guardian,
    /// The reference filter failed to start.
    #[error("reference: {0}")]
    Reference(String),
    /// Starting or running a rig process failed.
    #[error(transparent)]
    Harness(#[from] RigError),
    /// Interrupted by SIGINT or SIGTERM (everything started was stopped).
    #[error("interrupted")]
    Interrupted,
}
