//! Bringing a `run.json` document to the layout [`RunJson`](super::RunJson) reads.
//!
//! # Versions
//! - **2** (current). Written by the load generator, the harness and the appliance run
//!   through the types themselves, so the file is the reading layout: nothing here
//!   touches a version 2 document, and one read and written again is unchanged.
//! - **1**, and documents without a `schema_version` (what the harness wrote when a run
//!   died before the attack wrote its file). Version 1 files were assembled from untyped
//!   maps and come in the shapes of several writers; the step to version 2 below folds
//!   every one of them into the layout of the types, so the types themselves carry no
//!   aliases or alternative forms. What changed from 1 to 2, as written:
//!   - percentiles: `p99_9` (and `p99.9`) is `p999`, values are numbers of µs as read,
//!     and the `mean` no report read is no longer written (a version 1 `mean` is
//!     ignored); an empty histogram is `null` instead of a record of zeros with
//!     `count: 0` (in classes, `direct_classes` and the appliance's latency and schedule);
//!   - `provenance`: `commit`/`dirty` are `git_commit`/`git_dirty`, and its
//!     `started_at`/`ended_at` are the run's top-level `started_at`/`ended_at`;
//!   - `resources`: `fds_end` is `fds`;
//!   - `steady_window`, `harness.profiled_window` and `harness.cpu_profile_window`:
//!     `start_s`/`end_s` are `start`/`end`.
//!
//!   Older writers' shapes of version 1 are folded in by the same step:
//!   - `profile`: a bare name becomes `{ "name": ..., "settings": null }`;
//!   - `classes`: an array of objects with a `class` key becomes an object keyed by it;
//!   - in a class: `requests` is `count`, `throughput_rps` is `rps`, `ttfb`/`ttlb` are
//!     `ttfb_us`/`ttlb_us`; `errors` as a count is `failures`, and the kinds come from an
//!     `errors` object or else from `outcomes` (an object, or an array in the load
//!     generator's outcome order), without `ok` and without zeros; `failures` defaults to
//!     the sum of the kinds; `latency_us` defaults to time to last byte, else to first
//!     byte;
//!   - `totals` is always present: requests, failures and the rate default to the classes'
//!     sums (the rate first to a top-level `throughput_rps`, then to the harness section's
//!     `proxy_achieved_rps`), the offered rate to `totals.target_rps`, then to
//!     `harness.target_rps`.
//!
//! A later version adds a step from the version before it here, so every committed run
//! directory and baseline keeps loading; a document of an unknown version is refused
//! before anything else is read.

use serde::de::Error as _;
use serde_json::{Map, Value};

use super::document::RunJson;
pub use super::document::RUN_SCHEMA_VERSION;

impl RunJson {
    /// Reads a `run.json` document of any supported version (see [`migrate`]).
    pub fn from_json(doc: serde_json::Value) -> Result<Self, DocError> {
        let doc = to_current(doc)?;
        serde_json::from_value(doc).map_err(DocError::Shape)
    }
}

/// A versioned document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// `schema_version` is missing or not one this build reads.
    #[error("schema_version {}, expected {expected}", found.map_or_else(|| "missing".to_owned(), |v| v.to_string()))]
    Version {
        /// The version found, if any.
        found: Option<u64>,
        /// The version this build reads.
        expected: u32,
    },
    /// The document does not have the shape of its version.
    #[error(transparent)]
    Shape(#[from] serde_json::Error),
}

/// Checks `schema_version` against `expected`.
pub fn check_version(doc: &Value, expected: u32) -> Result<(), DocError> {
    match doc.get("schema_version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(expected) => Ok(()),
        found => Err(DocError::Version { found, expected }),
    }
}

/// The outcome names of the load generator, in the order of its `outcomes` array.
const OUTCOMES: [&str; 6] = ["ok", "status", "body", "headers", "transport", "timeout"];

/// Brings a `run.json` document to the current layout (see the module documentation).
pub fn to_current(mut doc: Value) -> Result<Value, DocError> {
    let Some(run) = doc.as_object_mut() else {
        return Err(serde_json::Error::custom("run.json: expected an object").into());
    };
    match run.get("schema_version").map(Value::as_u64) {
        Some(Some(v)) if v == u64::from(RUN_SCHEMA_VERSION) => {}
        None | Some(Some(1)) => {
            v1_to_v2(run)?;
            run.insert("schema_version".into(), RUN_SCHEMA_VERSION.into());
        }
        Some(found) => {
            return Err(DocError::Version {
                found,
                expected: RUN_SCHEMA_VERSION,
            })
        }
    }
    Ok(doc)
}

/// Folds the version 1 writers' shapes into the version 2 layout.
fn v1_to_v2(run: &mut Map<String, Value>) -> Result<(), DocError> {
    if let Some(Value::String(name)) = run.get("profile") {
        let profile = serde_json::json!({ "name": name, "settings": null });
        run.insert("profile".into(), profile);
    }
    let classes = match run.remove("classes") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(Value::Array(list)) => keyed_by_class(list)?,
        Some(_) => {
            return Err(serde_json::Error::custom("classes: expected an object or an array").into())
        }
    };
    let classes: Map<String, Value> = classes
        .into_iter()
        .map(|(name, class)| (name, class_shape(class)))
        .collect();
    totals(run, &classes);
    run.insert("classes".into(), Value::Object(classes));
    if let Some(Value::Object(p)) = run.get_mut("provenance") {
        rename(p, "commit", "git_commit");
        rename(p, "dirty", "git_dirty");
        let times = [
            ("started_at", p.remove("started_at")),
            ("ended_at", p.remove("ended_at")),
        ];
        for (key, value) in times {
            if let Some(v) = value.filter(|v| !v.is_null()) {
                if run.get(key).is_none_or(Value::is_null) {
                    run.insert(key.into(), v);
                }
            }
        }
    }
    if let Some(Value::Object(r)) = run.get_mut("resources") {
        rename(r, "fds_end", "fds");
    }
    window(run.get_mut("steady_window"));
    if let Some(Value::Object(h)) = run.get_mut("harness") {
        window(h.get_mut("profiled_window"));
        window(h.get_mut("cpu_profile_window"));
    }
    if let Some(Value::Object(a)) = run.get_mut("appliance") {
        for key in ["through_appliance_us", "direct_to_proxy_us"] {
            if let Some(p) = a.remove(key) {
                a.insert(key.into(), percentiles(Some(p)).unwrap_or(Value::Null));
            }
        }
        if let Some(Value::Object(s)) = a.get_mut("schedule") {
            if let Some(p) = s.remove("lag_us") {
                s.insert("lag_us".into(), percentiles(Some(p)).unwrap_or(Value::Null));
            }
        }
        if let Some(Value::Object(classes)) = a.get_mut("direct_classes") {
            for class in classes.values_mut() {
                *class = class_shape(class.take());
            }
        }
    }
    Ok(())
}

/// A window's `start_s`/`end_s` as `start`/`end`.
fn window(w: Option<&mut Value>) {
    if let Some(Value::Object(w)) = w {
        rename(w, "start_s", "start");
        rename(w, "end_s", "end");
    }
}

/// Moves `from` to `to` unless `to` is already there.
fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        map.entry(to).or_insert(v);
    }
}

fn keyed_by_class(list: Vec<Value>) -> Result<Map<String, Value>, DocError> {
    list.into_iter()
        .map(|class| {
            let name = class
                .get("class")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    serde_json::Error::custom("classes[]: an entry has no \"class\" name")
                })?
                .to_owned();
            Ok((name, class))
        })
        .collect()
}

/// Counts by kind from an object or an array in [`OUTCOMES`] order.
fn counts(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Value::from(v.as_u64()?))))
            .collect(),
        Value::Array(a) => OUTCOMES
            .iter()
            .zip(a)
            .filter_map(|(k, v)| Some(((*k).to_owned(), Value::from(v.as_u64()?))))
            .collect(),
        _ => Map::new(),
    }
}

/// Percentiles with `p999` named as the types name it; `None` for an empty histogram.
fn percentiles(p: Option<Value>) -> Option<Value> {
    let mut p = p.filter(|p| !p.is_null())?;
    if let Some(map) = p.as_object_mut() {
        rename(map, "p99_9", "p999");
        rename(map, "p99.9", "p999");
        if map.get("count").and_then(Value::as_u64) == Some(0) {
            return None;
        }
    }
    Some(p)
}

fn class_shape(class: Value) -> Value {
    let Value::Object(mut c) = class else {
        return class;
    };
    rename(&mut c, "requests", "count");
    rename(&mut c, "throughput_rps", "rps");
    rename(&mut c, "ttfb", "ttfb_us");
    rename(&mut c, "ttlb", "ttlb_us");
    let latency = percentiles(c.remove("latency_us"));
    let ttfb = percentiles(c.remove("ttfb_us"));
    let ttlb = percentiles(c.remove("ttlb_us"));
    if let Some(corrected) = c.remove("corrected_us") {
        if let Some(p) = percentiles(Some(corrected)) {
            c.insert("corrected_us".into(), p);
        }
    }
    let errors_value = c.remove("errors");
    let outcomes = c.remove("outcomes");
    let mut errors = errors_value.as_ref().map(counts).unwrap_or_default();
    if errors.is_empty() {
        errors = outcomes.as_ref().map(counts).unwrap_or_default();
    }
    errors.remove("ok");
    errors.retain(|_, n| n.as_u64() != Some(0));
    let failures = c
        .get("failures")
        .and_then(Value::as_u64)
        .or_else(|| errors_value.as_ref().and_then(Value::as_u64))
        .unwrap_or_else(|| errors.values().filter_map(Value::as_u64).sum());
    c.insert("failures".into(), failures.into());
    c.insert("errors".into(), Value::Object(errors));
    let put = |c: &mut Map<String, Value>, key: &str, v: Option<Value>| {
        c.insert(key.into(), v.unwrap_or(Value::Null));
    };
    put(
        &mut c,
        "latency_us",
        latency.or_else(|| ttlb.clone()).or_else(|| ttfb.clone()),
    );
    put(&mut c, "ttfb_us", ttfb);
    put(&mut c, "ttlb_us", ttlb);
    Value::Object(c)
}

/// Fills `totals` from the classes and the harness section where absent.
fn totals(run: &mut Map<String, Value>, classes: &Map<String, Value>) {
    let sum = |key: &str| -> u64 {
        classes
            .values()
            .filter_map(|c| c.get(key).and_then(Value::as_u64))
            .sum()
    };
    let harness = |key: &str| run.get("harness").and_then(|h| h.get(key)).cloned();
    let throughput = run.get("throughput_rps").cloned().filter(|v| !v.is_null());
    let achieved = harness("proxy_achieved_rps").filter(|v| !v.is_null());
    let target = harness("target_rps").filter(|v| !v.is_null());
    let mut t = match run.remove("totals") {
        Some(Value::Object(t)) => t,
        _ => Map::new(),
    };
    let zero =
        |t: &Map<String, Value>, key: &str| t.get(key).and_then(Value::as_u64).unwrap_or(0) == 0;
    if zero(&t, "requests") && !classes.is_empty() {
        t.insert("requests".into(), sum("count").into());
    }
    if zero(&t, "failures") {
        t.insert("failures".into(), sum("failures").into());
    }
    rename(&mut t, "target_rps", "offered_rps");
    if t.get("rps").is_none_or(Value::is_null) {
        let from_classes = || {
            let total: f64 = classes
                .values()
                .filter_map(|c| c.get("rps").and_then(Value::as_f64))
                .sum();
            (total > 0.0).then(|| Value::from(total))
        };
        let rps = throughput.or(achieved).or_else(from_classes);
        t.insert("rps".into(), rps.unwrap_or(Value::Null));
    }
    if t.get("offered_rps").is_none_or(Value::is_null) {
        t.insert("offered_rps".into(), target.unwrap_or(Value::Null));
    }
    run.insert("totals".into(), Value::Object(t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::window::SteadyWindow;
    use serde_json::json;

    /// A version 2 document with every section the writers add, as they write it.
    fn written_v2() -> Value {
        let p = json!({"count": 40, "min": 100.0, "p50": 300.0, "p90": 500.0, "p99": 900.0,
                       "p999": 950.0, "max": 990.0});
        let class = json!({"count": 40, "failures": 1, "errors": {"timeout": 1}, "rps": 4.0,
                           "latency_us": p, "ttfb_us": p, "ttlb_us": p, "corrected_us": p});
        let mut doc = json!({
            "schema_version": 2, "tool": "loadgen", "driver": "open-loop", "complete": true,
            "started_at": "2026-01-05T08:00:00Z", "ended_at": "2026-01-05T08:01:00Z",
            "route": "proxy", "proxy": "127.0.0.1:3128", "origin": "127.0.0.1:8080",
            "profile": {"name": "ci", "settings": {"users": 5}},
            "elapsed_s": 60.0, "warmup_s": 10.0, "measured_s": 50.0,
            "totals": {"requests": 40, "failures": 1, "rps": 0.8, "offered_rps": 1.0},
            "classes": {"allowed": class, "cors": {"count": 0, "failures": 0, "errors": {},
                        "rps": 0.0, "latency_us": null, "ttfb_us": null, "ttlb_us": null}},
            "errors_by_kind": {"timeout": 1},
            "coordinated_omission": {"corrected": true, "target_rps": 1.0},
            "samples": {"warmup": 3, "late": 0},
            "files": {"timeseries": "timeseries.csv", "histograms": {"allowed": "hist/allowed.hdr"},
                      "ttfb_histograms": {}, "corrected_histograms": {}, "goose_report": []},
            "extra": {"connections": 5, "unsent": 0}
        });
        let sections = json!({
            "provenance": {"git_commit": "abc", "git_dirty": false, "rustc": "rustc 1.90",
                           "build_profile": "release", "cpu_model": "cpu", "cores": 2,
                           "kernel": "6.1"},
            "resources": {"proxy_cpu_us_per_request": 50.0, "allocs_per_request": 12.0,
                          "bytes_allocated_per_request": 900.0, "peak_rss_bytes": 1048576.0,
                          "rss_slope_bytes_per_s": 0.5, "fds": 12.0, "fds_start": 10.0,
                          "threads_max": 9.0},
            "proxy_added_latency_us": {"p50": 40.0, "p99": 90.0, "basis": "hist/ttfb/allowed.hdr"},
            "load_generator_saturated": false,
            "placement": {"proxy_cpus": [0], "loadgen_cpus": [1]},
            "steady_window": {"start": 10.0, "end": 50.0},
            "stage_spans": [{"name": "steady", "users": 5, "start_s": 0.0, "end_s": 60.0}],
            "instructions": {"tool": "valgrind-3.22", "requests": 100, "instructions": 5000000,
                             "per_request": 50000.0, "kinds": {"allowed": 100},
                             "unexpected": 0, "connections": 1},
            "harness": {"error": null, "notes": ["processes not pinned"],
                        "loadgen_cores_busy": 0.9, "proxy_achieved_rps": 0.8, "target_rps": 1.0,
                        "redis_store": false, "direct_pass_s": 20,
                        "profiled_window": {"start": 10.0, "end": 55.0},
                        "cpu_profile_window": {"start": 51.0, "end": 55.0},
                        "top_self_frames": [["memcpy", 0.25]],
                        "top_proxy_frames": [["filter_proxy::serve", 0.75]]}
        });
        for (key, value) in sections.as_object().unwrap() {
            doc[key] = value.clone();
        }
        doc["appliance"] = json!({
                "added_latency_us": {"p50": 40.0, "p99": 90.0},
                "through_appliance_us": p, "direct_to_proxy_us": p,
                "requests": {"through_appliance": 40, "through_appliance_failures": 0,
                             "direct": 40, "direct_failures": 0},
                "direct_classes": {"allowed": class},
                "identity": {"checked": 40, "matched": 40, "mismatched": 0, "missing": 0,
                             "examples": []},
                "schedule": {"scheduled": 80, "late_over_100ms": 0, "lag_us": p},
                "radius": {"users": 5, "churn_users": 2, "sent": {"start": 7}, "acked": {"start": 7},
                           "sent_total": 7, "acked_total": 7, "unanswered": 0,
                           "bad_answers": 0, "late": 0},
                "appliance_metrics": {"connections": 40.0, "connections_rejected": 0.0,
                                      "bytes_up": 100.0, "bytes_down": 900.0,
                                      "identity_lookups": {"radius": 40.0},
                                      "radius_packets": {"start/ok": 7.0}, "radius_sessions": 5.0},
                "proxy_protocol": {"accepted": 40.0, "refused": {}},
                "appliance_cpu_us_per_connection": 20.0,
                "requests_through_appliance": 40, "wrong_hmac_key": false,
                "verdict": {"pass": true, "reasons": []}
        });
        doc
    }

    #[test]
    fn a_version_2_document_reads_and_writes_back_unchanged() {
        let doc = written_v2();
        let run = RunJson::from_json(doc.clone()).unwrap();
        assert_eq!(serde_json::to_value(&run).unwrap(), doc);
        let harness = run.harness.unwrap();
        assert_eq!(harness.top_self_frames.unwrap()[0].1, 0.25);
        assert_eq!(
            run.appliance
                .unwrap()
                .schedule
                .unwrap()
                .lag_us
                .unwrap()
                .p999,
            Some(950.0)
        );
    }

    #[test]
    fn a_version_1_document_with_the_old_key_names_reads_as_version_2() {
        let recorded = json!({"count": 40, "min": 100, "p50": 300, "p90": 500, "p99": 900,
                              "p99_9": 950, "max": 990, "mean": 310.5});
        let empty = json!({"count": 0, "min": 0, "p50": 0, "p90": 0, "p99": 0, "p99_9": 0,
                           "max": 0, "mean": 0.0});
        let doc = json!({
            "schema_version": 1, "profile": {"name": "appliance", "settings": {}},
            "started_at": "a0", "ended_at": "a1",
            "classes": {"allowed": {"count": 40, "failures": 0, "errors": {}, "rps": 1.0,
                        "latency_us": recorded, "ttfb_us": recorded, "ttlb_us": recorded,
                        "corrected_us": recorded},
                        "cors": {"count": 0, "failures": 0, "errors": {}, "rps": 0.0,
                        "latency_us": empty, "ttfb_us": empty, "ttlb_us": empty}},
            "provenance": {"commit": "abc", "dirty": false, "cores": 2,
                           "started_at": "h0", "ended_at": "h1"},
            "resources": {"fds_start": 10, "fds_end": 12, "threads_max": 9},
            "steady_window": {"start_s": 5.0, "end_s": 25.0},
            "harness": {"error": null, "profiled_window": {"start_s": 5.0, "end_s": 30.0}},
            "appliance": {"through_appliance_us": recorded, "direct_to_proxy_us": empty,
                          "direct_classes": {"allowed": {"count": 3, "latency_us": recorded}},
                          "schedule": {"scheduled": 8, "late_over_100ms": 0, "lag_us": recorded}}
        });
        let run = RunJson::from_json(doc).unwrap();
        assert_eq!(run.schema_version, RUN_SCHEMA_VERSION);
        let allowed = &run.classes["allowed"];
        assert_eq!(allowed.latency_us.unwrap().p999, Some(950.0));
        assert_eq!(allowed.corrected_us.unwrap().p999, Some(950.0));
        assert_eq!(allowed.latency_us.unwrap().max, Some(990.0));
        assert_eq!(
            run.classes["cors"].latency_us, None,
            "zeros are not measured"
        );
        let p = run.provenance.clone().unwrap();
        assert_eq!(
            (p.git_commit.as_deref(), p.git_dirty),
            (Some("abc"), Some(false))
        );
        assert_eq!(
            (run.started_at.as_deref(), run.ended_at.as_deref()),
            (Some("a0"), Some("a1")),
            "the attack's own times win over the provenance's"
        );
        let r = run.resources.unwrap();
        assert_eq!(
            (r.fds_start, r.fds, r.threads_max),
            (Some(10.0), Some(12.0), Some(9.0))
        );
        let window = |start, end| Some(SteadyWindow { start, end });
        assert_eq!(run.steady_window, window(5.0, 25.0));
        assert_eq!(
            run.harness.clone().unwrap().profiled_window,
            window(5.0, 30.0)
        );
        let a = run.appliance.clone().unwrap();
        assert_eq!(a.through_appliance_us.unwrap().p999, Some(950.0));
        assert_eq!(a.direct_to_proxy_us, None);
        assert_eq!(
            a.direct_classes["allowed"].latency_us.unwrap().p99,
            Some(900.0)
        );
        assert_eq!(a.schedule.unwrap().lag_us.unwrap().p999, Some(950.0));
        // Written again, it is a version 2 document that reads back as itself.
        let v2 = serde_json::to_value(&run).unwrap();
        assert_eq!(v2["schema_version"], 2);
        assert_eq!(
            serde_json::to_value(RunJson::from_json(v2.clone()).unwrap()).unwrap(),
            v2
        );
    }

    #[test]
    fn unversioned_documents_are_version_1_and_unknown_versions_are_refused() {
        let unversioned = json!({"complete": false, "provenance": {"commit": "abc"}});
        let run = RunJson::from_json(unversioned).unwrap();
        assert_eq!(run.provenance.unwrap().git_commit.as_deref(), Some("abc"));
        assert_eq!(run.complete, Some(false));
        let err = RunJson::from_json(json!({"schema_version": 3, "profile": "ci"})).unwrap_err();
        assert_eq!(err.to_string(), "schema_version 3, expected 2");
    }
}
