//! The typed `run.json`: what a run directory's summary document holds, as the reports
//! read it and as baselines store parts of it.
//!
//! One type for both sides: since schema version 2 the attack, the harness and the
//! appliance run build [`RunJson`] (and the section types it holds) and serialise it, so
//! the file as written is the layout the reports read and a document read and written
//! again is unchanged. Reading is two steps: [`migrate`] brings a document of an older
//! `schema_version` (and any of the shapes older writers gave version 1) to the current
//! layout, then serde reads it into [`RunJson`] with no further interpretation. Everything
//! beyond the profile is optional, and a missing figure is "not measured", never zero.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod appliance;
pub mod attack;
pub mod file;
pub mod harness;
pub mod latency;
pub mod migrate;

pub use appliance::ApplianceResults;
pub use attack::{CoordinatedOmission, DriverFacts, Files, GooseTotals, Samples};
pub use file::RunFileError;
pub use harness::{ClassInstructions, HarnessReport, Instructions, Placement};
pub use latency::{AddedLatency, Percentiles};
pub use migrate::{DocError, RUN_SCHEMA_VERSION};

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
    /// Reads a `run.json` document of any supported version (see [`migrate`]).
    pub fn from_json(doc: serde_json::Value) -> Result<Self, DocError> {
        let doc = migrate::to_current(doc)?;
        serde_json::from_value(doc).map_err(DocError::Shape)
    }

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

/// Statistics of one request class.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ClassStats {
    /// Requests issued.
    #[serde(default)]
    pub count: u64,
    /// Unexpected outcomes (a blocked page where one is expected is not a failure).
    #[serde(default)]
    pub failures: u64,
    /// Failures by kind (timeout, transport, status, ...); kinds with none are left out.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Achieved throughput in requests per second.
    #[serde(default)]
    pub rps: Option<f64>,
    /// Whole-request latency percentiles (µs): time to last byte where recorded.
    #[serde(default)]
    pub latency_us: Option<Percentiles>,
    /// Time to first byte percentiles (µs).
    #[serde(default)]
    pub ttfb_us: Option<Percentiles>,
    /// Time to last byte percentiles (µs).
    #[serde(default)]
    pub ttlb_us: Option<Percentiles>,
    /// Latency from the intended send time (µs; paced runs, coordinated omission
    /// corrected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_us: Option<Percentiles>,
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

/// The steady-state window of a run, in seconds since its start.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct SteadyWindow {
    /// First second of the window (inclusive).
    pub start: f64,
    /// Last second of the window (inclusive).
    pub end: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shape() {
        let doc = serde_json::json!({
            "schema_version": 1, "profile": {"name": "ci", "settings": {"users": 5}}, "complete": true,
            "classes": {"allowed": {"count": 10, "failures": 1, "errors": {"timeout": 1}, "rps": 2.0,
                        "latency_us": {"min": 1, "p50": 5, "p90": 9, "p99": 20, "p99.9": 30, "max": 40}}},
            "totals": {"requests": 10, "failures": 1, "rps": 2.0, "target_rps": 3.0},
            "steady_window": {"start": 1, "end": 9}, "unknown": [1, 2]
        });
        let run = RunJson::from_json(doc).unwrap();
        let c = &run.classes["allowed"];
        assert_eq!((c.count, c.failures, c.errors["timeout"]), (10, 1, 1));
        assert_eq!(c.latency_us.unwrap().p999, Some(30.0));
        assert_eq!(run.totals.unwrap().offered_rps, Some(3.0));
        assert_eq!(run.profile.settings["users"], 5);
        assert_eq!(
            run.steady_window,
            Some(SteadyWindow {
                start: 1.0,
                end: 9.0
            })
        );
    }

    #[test]
    fn stages_from_spans_or_from_the_profile_settings() {
        let doc = serde_json::json!({
            "schema_version": 1,
            "profile": {"name": "spike", "settings": {"stages": [
                {"name": "calm", "users": 2, "over": "10s"},
                {"name": "surge", "users": 8, "over": "1m30s"}]}}
        });
        let run: RunJson = serde_json::from_value(doc.clone()).unwrap();
        let spans: Vec<(String, u64, f64, f64)> = run
            .stages()
            .into_iter()
            .map(|s| (s.name, s.users, s.start_s, s.end_s))
            .collect();
        assert_eq!(
            spans,
            [
                ("calm".to_owned(), 2, 0.0, 10.0),
                ("surge".to_owned(), 8, 10.0, 100.0)
            ]
        );
        let mut with_spans = doc;
        with_spans["stage_spans"] =
            serde_json::json!([{"name": "x", "users": 1, "start_s": 0.5, "end_s": 3.0}]);
        let run: RunJson = serde_json::from_value(with_spans).unwrap();
        assert_eq!(run.stages().len(), 1);
        assert_eq!(run.stages()[0].start_s, 0.5);
        assert_eq!(parse_seconds("4m"), Some(240.0));
        assert_eq!(parse_seconds("12"), Some(12.0));
        assert_eq!(parse_seconds("5 parsecs"), None);
    }

    #[test]
    fn reads_the_load_generator_and_harness_shapes() {
        let doc = serde_json::json!({
            "schema_version": 1, "profile": "peak", "complete": false,
            "classes": [{"class": "cors", "count": 0, "latency_us": {"count": 0, "p99": 0}},
                        {"class": "blocked", "requests": 50, "errors": 2, "outcomes": [48, 1, 0, 0, 0, 1],
                         "ttfb": {"count": 50, "p50": 300, "p99": 900, "p99_9": 950, "mean": 310.5},
                         "ttlb": {"count": 50, "p50": 320, "p99": 990, "p99_9": 999}}],
            "throughput_rps": 12.5,
            "provenance": {"commit": "abc", "dirty": true, "cores": 2, "started_at": "t0", "ended_at": "t1"},
            "resources": {"peak_rss_bytes": 1048576, "fds_start": 10, "fds_end": 12, "threads_max": 9},
            "steady_window": {"start_s": 5.0, "end_s": 25.0},
            "harness": {"target_rps": 20.0, "proxy_achieved_rps": 12.0, "notes": []}
        });
        let run = RunJson::from_json(doc).unwrap();
        assert_eq!(run.profile.name, "peak");
        let b = &run.classes["blocked"];
        assert_eq!((b.count, b.failures), (50, 2));
        assert_eq!(
            b.errors,
            BTreeMap::from([("status".to_owned(), 1), ("timeout".to_owned(), 1)])
        );
        assert_eq!(
            b.latency_us.unwrap().p99,
            Some(990.0),
            "latency is time to last byte"
        );
        assert_eq!(b.ttfb_us.unwrap().p999, Some(950.0));
        assert_eq!(
            run.classes["cors"].latency_us, None,
            "an empty class has no latency"
        );
        let t = run.totals.clone().unwrap();
        assert_eq!(
            (t.requests, t.failures, t.rps, t.offered_rps),
            (50, 2, Some(12.5), Some(20.0))
        );
        let p = run.provenance.clone().unwrap();
        assert_eq!(
            (p.git_commit.as_deref(), p.git_dirty),
            (Some("abc"), Some(true))
        );
        assert_eq!(
            (run.started_at.as_deref(), run.ended_at.as_deref()),
            (Some("t0"), Some("t1"))
        );
        assert_eq!(run.resources.unwrap().fds, Some(12.0));
        assert!(
            run.stages().is_empty(),
            "no spans and no settings: no stages"
        );
        assert_eq!(
            run.steady_window,
            Some(SteadyWindow {
                start: 5.0,
                end: 25.0
            })
        );
    }
}
