//! Why identity data (the user table, the `[identity]` settings) could not be loaded.

/// Errors from loading identity data; each names the file and line or key.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The users file or the `[identity]` settings are invalid (all problems listed, one
    /// per line, each with its line or key).
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or `[identity]` for settings.
        origin: String,
        /// What is wrong.
        message: String,
    },
}
