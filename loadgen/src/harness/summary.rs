//! The short human summary printed at the end of a run: throughput, latency per class,
//! what the proxy adds, what a request costs the proxy, and errors.
//!
//! It is rendered from the finished `run.json` (not from in-memory state) so that what
//! is printed is exactly what was recorded.

use std::fmt::Write;
use std::path::Path;

use serde_json::{Map, Value};

/// The per-class entries of the load generator's `classes` (an object keyed by class,
/// or an array of objects with a `class` key).
fn classes(doc: &Map<String, Value>) -> Vec<(String, &Value)> {
    match doc.get("classes") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| Some((v.get("class")?.as_str()?.to_owned(), v)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The latency percentiles of a class: time to last byte when recorded, else to first.
fn latency(class: &Value) -> Option<&Value> {
    ["latency_us", "ttlb_us", "ttfb_us"]
        .iter()
        .find_map(|k| class.get(*k).filter(|v| v.is_object()))
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

/// The first of `keys` in `v` that holds a number.
fn first_num(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64))
}

/// Requests of a class (`count`).
fn requests(class: &Value) -> Option<f64> {
    first_num(class, &["count", "requests"])
}

/// Failed requests of a class (`failures`).
fn failures(class: &Value) -> Option<f64> {
    first_num(class, &["failures", "errors"])
}

fn fmt_opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}{unit}"))
        .unwrap_or_else(|| "-".into())
}

fn fmt_bytes(v: Option<f64>) -> String {
    v.map(|b| format!("{:.1} MiB", b / 1_048_576.0))
        .unwrap_or_else(|| "-".into())
}

/// Renders the summary of the run whose `run.json` is `doc`.
pub fn render(doc: &Map<String, Value>, run_dir: &Path) -> String {
    let mut out = String::new();
    let complete = doc.get("complete").and_then(Value::as_bool) == Some(true);
    let status = if complete {
        "complete"
    } else {
        "INCOMPLETE (not a measurement)"
    };
    let _ = writeln!(out, "run {status}");
    let classes = classes(doc);
    let totals = doc.get("totals");
    let sum_classes = |f: fn(&Value) -> Option<f64>| -> Option<f64> {
        (!classes.is_empty()).then(|| classes.iter().filter_map(|(_, c)| f(c)).sum())
    };
    let total_requests = totals
        .and_then(|t| first_num(t, &["requests"]))
        .or_else(|| sum_classes(requests));
    let total_errors = totals
        .and_then(|t| first_num(t, &["failures"]))
        .or_else(|| sum_classes(failures));
    let throughput = totals
        .and_then(|t| first_num(t, &["rps"]))
        .or_else(|| num(doc.get("harness").and_then(|h| h.get("proxy_achieved_rps"))));
    let _ = writeln!(
        out,
        "throughput {}  requests {}  failures {}",
        fmt_opt(throughput, " req/s", 0),
        fmt_opt(total_requests, "", 0),
        fmt_opt(total_errors, "", 0),
    );
    if !classes.is_empty() {
        let _ = writeln!(
            out,
            "  {:<10} {:>9} {:>7} {:>10} {:>10} {:>10}",
            "class", "requests", "failures", "p50 µs", "p99 µs", "p99.9 µs"
        );
        for (name, c) in &classes {
            let p = latency(c);
            let q = |k: &str| fmt_opt(num(p.and_then(|p| p.get(k))), "", 0);
            let _ = writeln!(
                out,
                "  {:<10} {:>9} {:>7} {:>10} {:>10} {:>10}",
                name,
                fmt_opt(requests(c), "", 0),
                fmt_opt(failures(c), "", 0),
                q("p50"),
                q("p99"),
                q("p99_9"),
            );
        }
    }
    let added = doc.get("proxy_added_latency_us");
    let _ = writeln!(
        out,
        "proxy-added latency p50 {}  p99 {}",
        fmt_opt(num(added.and_then(|a| a.get("p50"))), " µs", 0),
        fmt_opt(num(added.and_then(|a| a.get("p99"))), " µs", 0),
    );
    let res = doc.get("resources");
    let r = |k: &str| num(res.and_then(|r| r.get(k)));
    let _ = writeln!(
        out,
        "proxy CPU {}/request  allocations {}/request ({}/request)  peak RSS {}  RSS slope {}",
        fmt_opt(r("proxy_cpu_us_per_request"), " µs", 1),
        fmt_opt(r("allocs_per_request"), "", 1),
        fmt_opt(r("bytes_allocated_per_request"), " B", 0),
        fmt_bytes(r("peak_rss_bytes")),
        fmt_opt(r("rss_slope_bytes_per_s"), " B/s", 0),
    );
    if doc.get("load_generator_saturated").and_then(Value::as_bool) == Some(true) {
        let _ = writeln!(
            out,
            "WARNING: the load generator was saturated; this run measured its limits, not the proxy's"
        );
    }
    if let Some(err) = doc
        .get("harness")
        .and_then(|h| h.get("error"))
        .and_then(Value::as_str)
    {
        let _ = writeln!(out, "error: {err}");
    }
    let _ = write!(out, "run directory: {}", run_dir.display());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_classes_costs_and_warnings() {
        let doc = serde_json::json!({
            "complete": true,
            "totals": {"requests": 150, "failures": 1, "rps": 1234.4},
            "classes": {
                "allowed": {"count": 100, "failures": 1, "errors": {"status": 1},
                            "latency_us": {"p50": 800, "p99": 2500, "p99_9": 9000}},
                "blocked": {"count": 50, "failures": 0, "ttfb_us": {"p50": 300}}
            },
            "proxy_added_latency_us": {"p50": 120.0, "p99": 400.0},
            "resources": {"proxy_cpu_us_per_request": 85.25, "allocs_per_request": 42.0,
                          "bytes_allocated_per_request": 4096.0,
                          "peak_rss_bytes": 20971520, "rss_slope_bytes_per_s": 3.0},
            "load_generator_saturated": true
        });
        let text = render(doc.as_object().unwrap(), Path::new("runs/x"));
        assert!(text.starts_with("run complete"), "{text}");
        assert!(
            text.contains("1234 req/s") && text.contains("requests 150"),
            "{text}"
        );
        assert!(text.contains("failures 1"), "{text}");
        assert!(text.contains("allowed") && text.contains("9000"), "{text}");
        assert!(
            text.contains("p50 120 µs") && text.contains("85.2 µs/request"),
            "{text}"
        );
        assert!(text.contains("peak RSS 20.0 MiB"), "{text}");
        assert!(text.contains("WARNING"), "{text}");
        assert!(text.ends_with("run directory: runs/x"), "{text}");
    }

    #[test]
    fn an_incomplete_run_says_so() {
        let doc = serde_json::json!({"complete": false, "harness": {"error": "interrupted"}});
        let text = render(doc.as_object().unwrap(), Path::new("r"));
        assert!(text.starts_with("run INCOMPLETE"), "{text}");
        assert!(text.contains("error: interrupted"), "{text}");
        assert!(text.contains("throughput -"), "{text}");
    }
}
