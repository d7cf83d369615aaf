//! The rig's error: what went wrong starting, stopping or talking to a part of a run
//! (a file, a child process, a program that is not installed, the proxy's admin port).
//! Every command above the rig wraps it in its own error.

/// Why a part of a run could not be started, stopped or used.
#[derive(Debug, thiserror::Error)]
pub enum RigError {
    /// A file operation failed.
    #[error("{what}: {cause}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// A child process could not be started.
    #[error("cannot start {name} ({program}): {cause}")]
    Spawn {
        /// Which child.
        name: String,
        /// The program.
        program: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// A required program is not installed.
    #[error("{program} not found: {hint}")]
    MissingProgram {
        /// The program looked for.
        program: String,
        /// How to get it (the package to install, the command to build).
        hint: String,
    },
    /// A profile or config could not be used.
    #[error("{detail}")]
    Config {
        /// What is wrong.
        detail: String,
    },
    /// A child did not become ready in time.
    #[error("{name} not ready after {waited_s} s; its stderr ends with:\n{stderr}")]
    NotReady {
        /// Which child.
        name: String,
        /// How long the harness waited.
        waited_s: u64,
        /// The end of its stderr.
        stderr: String,
    },
    /// A child exited when it should not have, or failed.
    #[error("{name} exited with {status}; its output ends with:\n{stderr}")]
    ChildFailed {
        /// Which child.
        name: String,
        /// Its exit status.
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// The proxy's admin port answered badly.
    #[error("admin {what}: {detail}")]
    Admin {
        /// The request.
        what: String,
        /// What went wrong.
        detail: String,
    },
}
