//! What `loadgen storm` writes: `storm.json` (the report, read by the bench script with
//! `jq`), `connection-samples.csv` (every sample, to check a fit by eye) and the summary
//! it prints.

use std::path::{Path, PathBuf};

use rundir::run::connections::{ConnectionKind, Slope};
use serde::Serialize;

use crate::rig::files::write_atomic;

use super::samples::{self, Sample};
use super::storm_error::StormError;

/// The report file in the output directory.
pub const REPORT_FILE: &str = "storm.json";
/// The samples file in the output directory.
pub const SAMPLES_FILE: &str = "connection-samples.csv";

/// One storm against one proxy.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    /// The proxy's name as given.
    pub label: String,
    /// Its address.
    pub proxy: String,
    /// Its process, whose `/proc` was sampled.
    pub pid: u32,
    /// What the slopes are fitted over.
    pub x_axis: String,
    /// Where the live heap came from, or "not measured".
    pub heap: String,
    /// The idle keep-alive connections: ramp account and costs.
    pub keep_alive: ConnectionKind,
    /// The idle tunnels: ramp account and costs.
    pub tunnel: ConnectionKind,
    /// Held connections the proxy still had open at the end of the hold.
    pub still_open: u64,
    /// Held connections the proxy had closed by then.
    pub closed_by_proxy: u64,
    /// This process's fd limit during the storm.
    pub fd_limit: u64,
    /// The proxy's peak RSS (`VmHWM`) at the end, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Samples taken.
    pub samples: u64,
    /// The samples file, beside the report.
    pub samples_file: String,
}

/// Makes `dir`, refusing one that already holds a report: two storms' samples must not mix.
pub fn prepare_out(dir: &Path) -> Result<(), StormError> {
    let err = |detail: String| StormError::Out {
        path: dir.to_path_buf(),
        detail,
    };
    if dir.join(REPORT_FILE).exists() {
        return Err(err(format!("already holds a {REPORT_FILE}")));
    }
    std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))
}

/// Writes the report and the samples into `dir`.
pub fn write(dir: &Path, report: &StormReport, samples: &[Sample]) -> Result<(), StormError> {
    let path: PathBuf = dir.join(REPORT_FILE);
    let json = serde_json::to_string_pretty(report).expect("the report serializes");
    write_atomic(&path, json.as_bytes()).map_err(|source| StormError::Write { path, source })?;
    let path = dir.join(SAMPLES_FILE);
    samples::write_csv(&path, samples).map_err(|source| StormError::Write { path, source })
}

fn slope(s: Option<&Slope>, unit: &str) -> String {
    s.map_or_else(
        || "-".to_owned(),
        |s| {
            format!(
                "{:.1}{unit} [{:.1}, {:.1}]",
                s.per_connection, s.lower, s.upper
            )
        },
    )
}

/// The lines printed at the end: per kind, what opened and what each cost.
pub fn summary(r: &StormReport, dir: &Path) -> String {
    let kind = |name: &str, k: &ConnectionKind| {
        format!(
            "  {name}: {} of {} opened at {:.0}/s; RSS {} per connection, fds {}, heap {}",
            k.opened,
            k.planned,
            k.accept_rate_per_s,
            slope(k.rss_bytes.as_ref(), " B"),
            slope(k.fds.as_ref(), ""),
            slope(k.heap_bytes.as_ref(), " B"),
        )
    };
    format!(
        "storm against {} ({}, pid {}) -> {}\n{}\n{}\n  x-axis: {}; {} of {} held connections still open at the end",
        r.label,
        r.proxy,
        r.pid,
        dir.display(),
        kind("keep-alive", &r.keep_alive),
        kind("tunnels", &r.tunnel),
        r.x_axis,
        r.still_open,
        r.still_open + r.closed_by_proxy,
    )
}
