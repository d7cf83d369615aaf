//! The sections of `run.json` that distributed runs add: a worker's slice of the load
//! ([`WorkerFacts`], written by `loadgen attack --segment`) and what a merge of workers'
//! run directories found ([`MergeFacts`], written by `perf-report merge`).
//!
//! A worker that starts after the shared start time measured a window the others did
//! not, so it says how late it was; the merge turns that (and a saturated or unfinished
//! worker) into a named reason the merged run is invalid or incomplete, because a
//! silently smaller or skewed total is the failure distributed load tests are known for.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One worker's slice of a distributed run.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct WorkerFacts {
    /// The segment, 1-based: this worker ran `(index-1)/count .. index/count` of the load.
    pub index: u32,
    /// Workers in the run.
    pub count: u32,
    /// The shared start time every worker waited for (RFC 3339, as given), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// How far past `start_at` this worker began, seconds (0 when on time); present only
    /// with `start_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_by_s: Option<f64>,
    /// Whether the worker was later than the tolerance and so measured another window.
    #[serde(default)]
    pub late: bool,
    /// When the worker's run clock started, ms since the Unix epoch: the origin of its
    /// `timeseries.csv` seconds and its interval log, which a merge aligns on.
    pub clock_start_unix_ms: u64,
    /// Users given to this worker.
    pub users: u64,
    /// Open-loop or pacing rate given to this worker, requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// This worker's share of the roster: identities `[start, end)` of the shuffled roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster_range: Option<[u64; 2]>,
    /// CPU seconds (user + system) this worker process used from its start to the end of
    /// its run: what one request costs the load generator, which `loadgen k8s render`
    /// sizes the workers' resource requests from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_s: Option<f64>,
    /// The worker process's peak resident set size, bytes (`VmHWM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// Whether the worker was an optimised build: a debug build's CPU per request is
    /// several times a release build's, so sizing from it overstates the need.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimized_build: Option<bool>,
}

/// What `perf-report merge` found in the workers' run directories.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct MergeFacts {
    /// Every worker directory given, in the order given.
    pub workers: Vec<MergedWorker>,
    /// Why the merged run is not a valid measurement (a saturated or late worker), each
    /// naming the worker; empty when valid.
    #[serde(default)]
    pub invalid: Vec<String>,
    /// Why the merged run is incomplete (a worker missing, killed or short), each naming
    /// the worker; empty when complete.
    #[serde(default)]
    pub incomplete: Vec<String>,
}

/// One worker as the merge saw it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct MergedWorker {
    /// The worker's run directory as given to the merge.
    pub dir: String,
    /// Its segment (`I/N`), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Whether its `run.json` was there and said it completed.
    pub complete: bool,
    /// Requests it counted (after warm-up).
    pub requests: u64,
    /// Seconds of its per-second series.
    pub seconds: u64,
    /// Its seconds' offset from the earliest worker's clock start.
    pub offset_s: u64,
    /// Its start and end (RFC 3339), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}
