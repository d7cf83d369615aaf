//! Bringing a `run.json` document to the layout [`RunJson`](super::RunJson) reads.
//!
//! # Versions
//! - **1** (current). Written by `loadgen attack` and completed by the harness and the
//!   appliance runs. Version 1 documents come in the shapes of several writers (today's
//!   harness still writes `commit`, `dirty` and `fds_end`, and the attack `p99_9`); the
//!   migration below folds every one of them into the layout of the types, so the types
//!   themselves carry no aliases or alternative forms:
//!   - `profile`: a bare name becomes `{ "name": ..., "settings": null }`;
//!   - `classes`: an array of objects with a `class` key becomes an object keyed by it;
//!   - in a class: `requests` is `count`, `throughput_rps` is `rps`, `ttfb`/`ttlb` are
//!     `ttfb_us`/`ttlb_us`; `errors` as a count is `failures`, and the kinds come from an
//!     `errors` object or else from `outcomes` (an object, or an array in the load
//!     generator's outcome order), without `ok` and without zeros; `failures` defaults to
//!     the sum of the kinds; percentiles of an empty histogram (`count: 0`) are dropped (zeros,
//!     not measurements), `p99_9`/`p99.9` are `p999`, and `latency_us` defaults to time to
//!     last byte, else to first byte;
//!   - `totals` is always present: requests, failures and the rate default to the classes'
//!     sums (the rate first to a top-level `throughput_rps`, then to the harness section's
//!     `proxy_achieved_rps`), the offered rate to `totals.target_rps`, then to
//!     `harness.target_rps`;
//!   - `started_at`/`ended_at` default to the provenance's; provenance `commit`/`dirty`
//!     are `git_commit`/`git_dirty`; resources `fds_end` is `fds`; a steady window's
//!     `start_s`/`end_s` are `start`/`end`.
//!
//! A later version adds a step from the version before it here, so every committed run
//! directory and baseline keeps loading; a document of an unknown version is refused
//! before anything else is read.

use serde::de::Error as _;
use serde_json::{Map, Value};

/// The `run.json` schema version this build reads and the load generator writes.
pub const RUN_SCHEMA_VERSION: u32 = 1;

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
    check_version(&doc, RUN_SCHEMA_VERSION)?;
    let Some(run) = doc.as_object_mut() else {
        return Err(serde_json::Error::custom("run.json: expected an object").into());
    };
    v1_shapes(run)?;
    Ok(doc)
}

/// Folds the version 1 writers' shapes into one.
fn v1_shapes(run: &mut Map<String, Value>) -> Result<(), DocError> {
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
    if let Some(Value::Object(w)) = run.get_mut("steady_window") {
        rename(w, "start_s", "start");
        rename(w, "end_s", "end");
    }
    Ok(())
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
