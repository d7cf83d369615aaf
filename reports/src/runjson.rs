//! Our own typed view of a run's `run.json`.
//!
//! The load generator and the harness write `run.json`; this crate reads only the fields it
//! uses and tolerates any others, so the writers can add fields without breaking reports.
//! Everything the harness adds is optional: a missing figure is "not measured", which the
//! reports print as such and the gate treats as an explicit state, never as zero.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `run.json` schema version this build reads.
pub const RUN_SCHEMA_VERSION: u32 = 1;

/// The request classes the load generator records, in display order.
pub const CLASSES: [&str; 6] = [
    "allowed", "blocked", "tunnel", "cors", "identity", "download",
];

/// A run's summary document.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RunJson {
    /// Schema version; checked before the rest is read.
    pub schema_version: u32,
    /// The load profile: its name and resolved settings.
    pub profile: ProfileInfo,
    /// False (or absent) when the run was interrupted.
    #[serde(default)]
    pub complete: Option<bool>,
    /// Wall-clock start, as written by the load generator (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Wall-clock end.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// Per request class statistics, keyed by class name.
    #[serde(default)]
    pub classes: BTreeMap<String, ClassStats>,
    /// Whole-run totals.
    #[serde(default)]
    pub totals: Option<Totals>,
    /// Where and what was built and run (harness).
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// Proxy resource use (harness).
    #[serde(default)]
    pub resources: Option<Resources>,
    /// Latency the proxy adds over a direct request (harness).
    #[serde(default)]
    pub proxy_added_latency_us: Option<AddedLatency>,
    /// Whether the load generator itself ran out of headroom (harness).
    #[serde(default)]
    pub load_generator_saturated: Option<bool>,
    /// The steady-state window, in seconds from the start (harness).
    #[serde(default)]
    pub steady_window: Option<SteadyWindow>,
}

/// The load profile a run used.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProfileInfo {
    /// Profile name (`ci`, `peak`, `soak`, ...).
    pub name: String,
    /// The resolved settings, kept verbatim for the baseline document.
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// Statistics of one request class.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ClassStats {
    /// Requests issued.
    #[serde(default)]
    pub count: u64,
    /// Unexpected outcomes (a blocked page where one is expected is not a failure).
    #[serde(default)]
    pub failures: u64,
    /// Failures by kind (timeout, connect, status, ...).
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Achieved throughput in requests per second.
    #[serde(default)]
    pub rps: Option<f64>,
    /// Whole-request latency percentiles (µs).
    #[serde(default)]
    pub latency_us: Option<Percentiles>,
    /// Time to first byte percentiles (µs).
    #[serde(default)]
    pub ttfb_us: Option<Percentiles>,
    /// Time to last byte percentiles (µs).
    #[serde(default)]
    pub ttlb_us: Option<Percentiles>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
pub struct Percentiles {
    /// Minimum.
    #[serde(default)]
    pub min: Option<f64>,
    /// Median.
    #[serde(default)]
    pub p50: Option<f64>,
    /// 90th percentile.
    #[serde(default)]
    pub p90: Option<f64>,
    /// 99th percentile.
    #[serde(default)]
    pub p99: Option<f64>,
    /// 99.9th percentile.
    #[serde(default, alias = "p99_9", alias = "p99.9")]
    pub p999: Option<f64>,
    /// Maximum.
    #[serde(default)]
    pub max: Option<f64>,
}

/// Whole-run totals.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Totals {
    /// Requests issued.
    #[serde(default)]
    pub requests: u64,
    /// Unexpected outcomes.
    #[serde(default)]
    pub failures: u64,
    /// Achieved requests per second.
    #[serde(default)]
    pub rps: Option<f64>,
    /// Offered request rate, when the profile drives a target rate.
    #[serde(default, alias = "target_rps")]
    pub offered_rps: Option<f64>,
}

/// Build and machine provenance.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Provenance {
    /// Git commit of the proxy under test.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    #[serde(default)]
    pub git_dirty: Option<bool>,
    /// `rustc --version`.
    #[serde(default)]
    pub rustc: Option<String>,
    /// Cargo build profile (`release`, ...).
    #[serde(default)]
    pub build_profile: Option<String>,
    /// CPU model name.
    #[serde(default)]
    pub cpu_model: Option<String>,
    /// Logical cores.
    #[serde(default)]
    pub cores: Option<u32>,
    /// Kernel release.
    #[serde(default)]
    pub kernel: Option<String>,
}

impl Provenance {
    /// A short machine fingerprint: runs are only comparable on like machines.
    pub fn machine_fingerprint(&self) -> String {
        format!(
            "{} | {} cores | kernel {}",
            self.cpu_model.as_deref().unwrap_or("unknown cpu"),
            self.cores.map_or_else(|| "?".to_owned(), |c| c.to_string()),
            self.kernel.as_deref().unwrap_or("unknown")
        )
    }
}

/// Proxy resource use, per request where it says so.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
pub struct Resources {
    /// Proxy CPU time (user + system) per request, µs.
    #[serde(default)]
    pub proxy_cpu_us_per_request: Option<f64>,
    /// Heap allocations per request.
    #[serde(default)]
    pub allocs_per_request: Option<f64>,
    /// Heap bytes allocated per request.
    #[serde(default)]
    pub bytes_allocated_per_request: Option<f64>,
    /// Peak resident set size.
    #[serde(default)]
    pub peak_rss_bytes: Option<f64>,
    /// Least-squares slope of RSS over the steady window (a leak shows as a positive slope).
    #[serde(default)]
    pub rss_slope_bytes_per_s: Option<f64>,
    /// Peak open file descriptors.
    #[serde(default)]
    pub fds: Option<f64>,
}

/// Latency the proxy adds.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq)]
pub struct AddedLatency {
    /// Median added latency, µs.
    #[serde(default)]
    pub p50: Option<f64>,
    /// 99th percentile added latency, µs.
    #[serde(default)]
    pub p99: Option<f64>,
}

/// The steady-state window of a run, in seconds since its start.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub struct SteadyWindow {
    /// First second of the window (inclusive).
    pub start: f64,
    /// Last second of the window (inclusive).
    pub end: f64,
}
