//! The `run.json` document itself ([`RunJson`]) and its small sections; the larger
//! sections live in the sibling modules it holds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::appliance::ApplianceResults;
use super::attack::{CoordinatedOmission, DriverFacts, Files, Samples};
use super::class::ClassStats;
use super::connections::ConnectionResults;
use super::harness::{HarnessReport, Instructions, Placement};
use super::latency::AddedLatency;
use super::window::SteadyWindow;
use super::worker::{MergeFacts, WorkerFacts};

/// The `run.json` schema version the load generator writes (this build also reads 1).
pub const RUN_SCHEMA_VERSION: u32 = 2;

/// A run's summary document.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct RunJson {
    /// Schema version; checked before the rest is read.
    pub schema_version: u32,
    /// The writer: always `loadgen` (absent when the attack never wrote the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `goose` or `open-loop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// The load profile: its name and resolved settings.
    #[serde(default)]
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
    /// `proxy` when the traffic went through the proxy, `direct` when straight to the origin.
    #[serde(default)]
    pub route: Option<String>,
    /// Proxy address, when proxied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Origin address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The scenario mix the attack ran (absent for the open-loop driver).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub scenario_mix: serde_json::Value,
    /// Length of the attack, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_s: Option<f64>,
    /// Warm-up, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup_s: Option<f64>,
    /// From the end of the warm-up to the last answer, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured_s: Option<f64>,
    /// Failures by kind over all classes (kinds with none left out).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Whether latencies were also recorded from the intended send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinated_omission: Option<CoordinatedOmission>,
    /// Samples outside the measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Samples>,
    /// The other files of the run directory, relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Files>,
    /// Driver-specific facts (Goose totals, roster groups, the appliance's route, ...).
    #[serde(default)]
    pub extra: DriverFacts,
    /// Where the harness placed the processes (absent when not pinned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The harness's account of the run: error, notes, the inputs of its judgements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harness: Option<HarnessReport>,
    /// The proxy's instructions per request of a fixed sequence, counted under callgrind
    /// after the load (harness, when the profile asks for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<Instructions>,
    /// The test plan's stages on the run's clock (harness; absent in older runs, see
    /// [`RunJson::stages`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_spans: Option<Vec<StageSpan>>,
    /// Appliance results: added latency, identity, RADIUS (appliance runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<ApplianceResults>,
    /// This run's slice of a distributed run (`loadgen attack --segment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerFacts>,
    /// The workers a merged run was made of (`perf-report merge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeFacts>,
    /// Connection-storm results: accept rate, active users' latency, refusals at the
    /// cap, cost per idle connection (runs of the `connections` profile only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionResults>,
}

/// One stage of the test plan on the run's clock (planned seconds since the attack
/// started).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct StageSpan {
    /// Stage name from the profile.
    pub name: String,
    /// Users at the end of the stage.
    #[serde(default)]
    pub users: u64,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
}

impl RunJson {
    /// A document of the current version for the profile `name`, with nothing measured
    /// yet: what the harness writes before the attack, so a run that dies early still
    /// leaves a readable `run.json`.
    pub fn begun(name: &str) -> Self {
        Self {
            schema_version: RUN_SCHEMA_VERSION,
            profile: ProfileInfo {
                name: name.to_owned(),
                settings: serde_json::Value::Null,
            },
            complete: Some(false),
            ..Self::default()
        }
    }
}

impl RunJson {
    /// The stages of the run: `stage_spans` when the harness recorded them, else laid
    /// back to back from the profile's `settings.stages` (runs made before the harness
    /// recorded spans); empty when neither says.
    pub fn stages(&self) -> Vec<StageSpan> {
        if let Some(spans) = &self.stage_spans {
            return spans.clone();
        }
        let Some(stages) = self
            .profile
            .settings
            .get("stages")
            .and_then(|s| s.as_array())
        else {
            return Vec::new();
        };
        let mut start = 0.0;
        let mut spans = Vec::new();
        for stage in stages {
            let (Some(name), Some(over)) = (
                stage.get("name").and_then(|v| v.as_str()),
                stage
                    .get("over")
                    .and_then(|v| v.as_str())
                    .and_then(parse_seconds),
            ) else {
                return Vec::new();
            };
            let users = stage.get("users").and_then(|v| v.as_u64()).unwrap_or(0);
            spans.push(StageSpan {
                name: name.to_owned(),
                users,
                start_s: start,
                end_s: start + over,
            });
            start += over;
        }
        spans
    }
}

/// Seconds in a duration as the load generator writes it: `90s`, `4m`, `1h`, `1m30s`.
pub fn parse_seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
    }
    if !number.is_empty() {
        total += number.parse::<f64>().ok()?;
    }
    Some(total)
}

/// The load profile a run used.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ProfileInfo {
    /// Profile name (`ci`, `peak`, `soak`, ...).
    pub name: String,
    /// The resolved settings, kept verbatim for the baseline document.
    #[serde(default)]
    pub settings: serde_json::Value,
}

/// Whole-run totals.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
    #[serde(default)]
    pub offered_rps: Option<f64>,
}

/// Build and machine provenance.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
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
    /// Open file descriptors (at the end of the run).
    #[serde(default)]
    pub fds: Option<f64>,
    /// Open file descriptors at the start of the steady window.
    #[serde(default)]
    pub fds_start: Option<f64>,
    /// Most proxy threads seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_max: Option<f64>,
}
