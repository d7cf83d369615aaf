//! What an attack is asked to do and what it returns: the options, the report, the
//! errors. Its own file so the drivers (Goose in `attack/mod.rs`, the open-loop driver in
//! `attack/open_loop.rs`) share them without importing each other.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use goose::prelude::GooseError;
use serde_json::Value;

use crate::corpus::CorpusError;
use crate::get_loop::TargetError;
use crate::mix::MixError;
use crate::origin::OriginError;
use crate::output::OutputError;
use crate::profile::ProfileError;
use crate::record::Summary;
pub use crate::rig::origin::OriginAddrs;
use crate::roster::RosterError;
use crate::segment::SegmentError;

/// Errors of an attack.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// The profile is invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// The mix is invalid.
    #[error(transparent)]
    Mix(#[from] MixError),
    /// The roster could not be built.
    #[error(transparent)]
    Roster(#[from] RosterError),
    /// The corpus could not be built.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The in-process origin failed.
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// Goose refused the configuration or failed.
    #[error("goose: {0}")]
    Goose(String),
    /// Writing the run directory failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// A corpus URL cannot be sent.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// This worker's segment cannot be cut from the profile.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// Setup problem (arguments, files).
    #[error("{0}")]
    Setup(String),
}

impl From<GooseError> for AttackError {
    fn from(e: GooseError) -> Self {
        AttackError::Goose(e.to_string())
    }
}

/// Which load driver sends the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// Goose users running the scenario mix (closed loop, optionally paced).
    Goose,
    /// The lean open-loop driver (allowed browsing at a fixed rate).
    OpenLoop,
}

/// Options of one attack.
#[derive(Debug, Clone)]
pub struct AttackOptions {
    /// Profile file.
    pub profile: PathBuf,
    /// Proxy address; `None` sends straight to the origin.
    pub proxy: Option<SocketAddr>,
    /// An already running origin; `None` starts one in-process.
    pub origin: Option<OriginAddrs>,
    /// Run directory.
    pub out: PathBuf,
    /// `--duration` override.
    pub duration: Option<Duration>,
    /// `--users` override.
    pub users: Option<u64>,
    /// Which driver.
    pub driver: Driver,
    /// Open-loop only: requests per second (defaults to the profile's target rate).
    pub rate: Option<f64>,
    /// Keep Goose from printing its tables.
    pub quiet: bool,
}

/// What an attack produced.
#[derive(Debug)]
pub struct AttackReport {
    /// The run directory.
    pub dir: PathBuf,
    /// The `run.json` document.
    pub run_json: Value,
    /// The merged recording.
    pub summary: Summary,
}
