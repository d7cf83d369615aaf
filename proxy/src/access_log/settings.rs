//! `[access_log]`, validated: where lines go, in which format, and how many may wait for
//! the writer.

use std::path::PathBuf;

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLogFormat {
    /// One JSON object per line.
    Json,
    /// One Splunk HEC event envelope per line.
    SplunkHec,
}

/// `[access_log]` settings, validated.
#[derive(Debug, Clone)]
pub struct AccessLogSettings {
    /// Where lines go: a file (appended to), or standard output when None.
    pub path: Option<PathBuf>,
    /// The line format.
    pub format: AccessLogFormat,
    /// Entries held for the writer; beyond it lines are dropped and counted.
    pub buffer: usize,
    /// HEC `host` (default: the machine's host name).
    pub host: String,
    /// HEC `source`.
    pub source: String,
    /// HEC `sourcetype`.
    pub sourcetype: String,
    /// HEC `index`, when set.
    pub index: Option<String>,
}
