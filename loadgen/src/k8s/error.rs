//! Why a render failed.

/// Why the manifests could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// A file could not be read or written.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        cause: std::io::Error,
    },
    /// The profile or its inputs cannot be used.
    #[error("{0}")]
    Input(String),
    /// An argument cannot be used.
    #[error("{0}")]
    Argument(String),
    /// The measured cost cannot be read.
    #[error("--cost-from: {0}")]
    Cost(String),
    /// A manifest could not be written whole.
    #[error(transparent)]
    Write(#[from] rundir::atomic::WriteError),
}
