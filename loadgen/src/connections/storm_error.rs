//! Why `loadgen storm` could not measure: each cause with what it was about (the pid, the
//! limit, the file), so the bench script's log says what to fix.

use std::path::PathBuf;

use crate::rig::sample::SampleError;
use crate::rig::RigError;

/// Why a storm could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum StormError {
    /// The arguments describe no usable storm.
    #[error("bad arguments: {}", .0.join("; "))]
    Args(Vec<String>),
    /// The proxy's `/proc` entry cannot be read (wrong pid, or it has exited).
    #[error("proxy pid {pid}")]
    Pid {
        /// The pid given.
        pid: u32,
        /// What reading `/proc/PID` met.
        source: SampleError,
    },
    /// This process cannot hold the storm's connections.
    #[error("fd limit {have}, the storm needs {want} (raise `ulimit -n`, or fewer connections)")]
    FdLimit {
        /// The soft limit in force after trying to raise it.
        have: u64,
        /// What the storm needs.
        want: u64,
    },
    /// The origin CA or the admin client could not be set up (the cause says which).
    #[error("setup")]
    Setup(#[source] RigError),
    /// The output directory exists with a previous storm in it, or cannot be made.
    #[error("output directory {}: {detail}", path.display())]
    Out {
        /// The directory.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// Writing a result file failed.
    #[error("write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: RigError,
    },
    /// The proxy exited during the storm: its figures would describe a dead process.
    #[error("proxy pid {0} exited during the storm")]
    ProxyExited(u32),
    /// Ctrl-C or SIGTERM came first.
    #[error("interrupted")]
    Interrupted,
}
