//! Source (a): the Prometheus HTTP API. One range query per figure and side over the
//! window, at the judge's interval as the step; each step becomes a [`Snapshot`] and the
//! same per-interval arithmetic as for direct scrapes follows.
//!
//! The queries read the raw cumulative counters summed over the side's series
//! (`sum by (decision) (...)`), not `rate()`: the judge takes its own differences, so both
//! sources are computed one way. A restarted instance lowers the sum and leaves that
//! interval out (see `intervals`). A side is a label selector, e.g.
//! `launch_template_version="7"` or `instance=~"10.0.1.(4|9):9090"`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::CanaryError;
use super::http::{encode_query_value, get, HttpUrl};
use super::snapshot::{names, parse_bound, Snapshot, UNLABELLED};

/// A range query's window: `[start, end]` in Unix seconds, `step` seconds apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// First evaluation, Unix seconds.
    pub start: f64,
    /// Last evaluation, Unix seconds.
    pub end: f64,
    /// Seconds between evaluations (the judge's interval).
    pub step: f64,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    data: Option<Data>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<Matrix>,
}

#[derive(Debug, Deserialize)]
struct Matrix {
    metric: BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

/// Which snapshot field a query fills.
#[derive(Debug, Clone, Copy)]
enum Field {
    Requests,
    Buckets,
    PoolExhausted,
    FailOpen,
    Tunnels,
    Cpu,
    Rss,
    Instances,
}

/// The snapshots of the side selected by `selector` over `range`.
pub fn collect(base: &HttpUrl, selector: &str, range: Range) -> Result<Vec<Snapshot>, CanaryError> {
    let sel = selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let with = |extra: &str| match (sel.is_empty(), extra.is_empty()) {
        (true, _) => format!("{{{extra}}}"),
        (false, true) => format!("{{{sel}}}"),
        (false, false) => format!("{{{sel},{extra}}}"),
    };
    let queries = [
        (
            Field::Requests,
            format!("sum by (decision) ({}{})", names::REQUESTS, with("")),
        ),
        (
            Field::Buckets,
            format!(
                "sum by (decision, le) ({}{})",
                names::LATENCY_BY_DECISION_BUCKET,
                with("")
            ),
        ),
        (
            Field::Buckets,
            format!("sum by (le) ({}{})", names::LATENCY_BUCKET, with("")),
        ),
        (
            Field::PoolExhausted,
            format!("sum({}{})", names::POOL_EXHAUSTED, with("")),
        ),
        (
            Field::FailOpen,
            format!("sum({}{})", names::STORE_UNAVAILABLE, with("mode=\"open\"")),
        ),
        (
            Field::Tunnels,
            format!("sum({}{})", names::TUNNELS_OPENED, with("")),
        ),
        (
            Field::Cpu,
            format!("sum({}{})", names::CPU_SECONDS, with("")),
        ),
        (Field::Rss, format!("avg({}{})", names::RSS_BYTES, with(""))),
        (
            Field::Instances,
            format!("count({}{})", names::RSS_BYTES, with("")),
        ),
    ];
    let mut steps: BTreeMap<i64, Snapshot> = BTreeMap::new();
    for (field, query) in queries {
        for series in query_range(base, &query, range)? {
            for (at, raw) in series.values {
                let value = parse_value(&raw).ok_or_else(|| CanaryError::Query {
                    query: query.clone(),
                    message: format!("value {raw:?} is not a number"),
                })?;
                // Keyed by milliseconds: steps are whole multiples of the step.
                let snap = steps
                    .entry((at * 1000.0).round() as i64)
                    .or_insert_with(|| Snapshot {
                        at_s: at,
                        ..Snapshot::default()
                    });
                fill(snap, field, &series.metric, value);
            }
        }
    }
    // A step where the side had no instance (nothing scraped yet) is no snapshot.
    Ok(steps.into_values().filter(|s| s.instances > 0).collect())
}

fn fill(snap: &mut Snapshot, field: Field, labels: &BTreeMap<String, String>, value: f64) {
    let decision = labels.get("decision").map_or(UNLABELLED, String::as_str);
    match field {
        Field::Requests => *snap.requests.entry(decision.to_string()).or_default() += value,
        Field::Buckets => {
            if let Some(le) = labels.get("le").and_then(|le| parse_bound(le)) {
                snap.add_bucket(decision, le, value);
            }
        }
        Field::PoolExhausted => snap.pool_exhausted = value,
        Field::FailOpen => snap.fail_open = value,
        Field::Tunnels => snap.tunnels = value,
        Field::Cpu => snap.cpu_seconds = Some(value),
        Field::Rss => snap.rss_bytes = Some(value),
        Field::Instances => snap.instances = value as usize,
    }
}

fn parse_value(raw: &str) -> Option<f64> {
    match raw {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        v => v.parse().ok(),
    }
}

fn query_range(base: &HttpUrl, query: &str, range: Range) -> Result<Vec<Matrix>, CanaryError> {
    let bad = |message: String| CanaryError::Query {
        query: query.to_string(),
        message,
    };
    let prefix = base.target.trim_end_matches('/');
    let url = base.with_target(format!(
        "{prefix}/api/v1/query_range?query={}&start={:.3}&end={:.3}&step={}s",
        encode_query_value(query),
        range.start,
        range.end,
        range.step
    ));
    let body = get(&url)?;
    let answer: Answer =
        serde_json::from_str(&body).map_err(|e| bad(format!("not an API answer: {e}")))?;
    if answer.status != "success" {
        return Err(bad(answer.error.unwrap_or(answer.status)));
    }
    let data = answer.data.ok_or_else(|| bad("no data".into()))?;
    if data.result_type != "matrix" {
        return Err(bad(format!("result type {}", data.result_type)));
    }
    Ok(data.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_fill_snapshots() {
        let answer = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"decision":"allowed","le":"0.001"},"values":[[100,"3"],[110,"9"]]},
            {"metric":{"decision":"allowed","le":"+Inf"},"values":[[100,"4"],[110,"12"]]}]}}"#;
        let a: Answer = serde_json::from_str(answer).unwrap();
        let mut snaps: BTreeMap<i64, Snapshot> = BTreeMap::new();
        for m in a.data.unwrap().result {
            for (at, raw) in m.values {
                let s = snaps.entry(at as i64).or_default();
                fill(s, Field::Buckets, &m.metric, parse_value(&raw).unwrap());
            }
        }
        let last = &snaps[&110];
        let b = last.class_buckets("allowed").unwrap();
        assert_eq!(b.values().copied().collect::<Vec<_>>(), [9.0, 12.0]);
    }
}
