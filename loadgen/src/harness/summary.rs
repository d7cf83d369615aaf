//! The short human summary printed at the end of a run: throughput, latency per class,
//! what the proxy adds, what a request costs the proxy, and errors.
//!
//! It is rendered from the finished `run.json` (not from in-memory state), read through
//! the same type the reports read, so that what is printed is exactly what was recorded.

use std::fmt::Write;
use std::path::Path;

use rundir::run::{ClassStats, Percentiles, RunJson};

/// The latency percentiles of a class: time to last byte when recorded, else to first.
fn latency(class: &ClassStats) -> Option<Percentiles> {
    class.latency_us.or(class.ttlb_us).or(class.ttfb_us)
}

fn fmt_opt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}{unit}"))
        .unwrap_or_else(|| "-".into())
}

fn fmt_bytes(v: Option<f64>) -> String {
    v.map(|b| format!("{:.1} MiB", b / 1_048_576.0))
        .unwrap_or_else(|| "-".into())
}

/// Renders the summary of the run whose `run.json` is `run`.
pub fn render(run: &RunJson, run_dir: &Path) -> String {
    let mut out = String::new();
    let status = if run.complete == Some(true) {
        "complete"
    } else {
        "INCOMPLETE (not a measurement)"
    };
    let _ = writeln!(out, "run {status}");
    let harness = run.harness.clone().unwrap_or_default();
    // Totals are only known once the attack wrote its part.
    let totals = run.totals.as_ref().filter(|_| !run.classes.is_empty());
    let throughput = totals.and_then(|t| t.rps).or(harness.proxy_achieved_rps);
    let _ = writeln!(
        out,
        "throughput {}  requests {}  failures {}",
        fmt_opt(throughput, " req/s", 0),
        fmt_opt(totals.map(|t| t.requests as f64), "", 0),
        fmt_opt(totals.map(|t| t.failures as f64), "", 0),
    );
    if !run.classes.is_empty() {
        let _ = writeln!(
            out,
            "  {:<10} {:>9} {:>7} {:>10} {:>10} {:>10}",
            "class", "requests", "failures", "p50 µs", "p99 µs", "p99.9 µs"
        );
        for (name, c) in &run.classes {
            let p = latency(c).unwrap_or_default();
            let q = |v: Option<f64>| fmt_opt(v, "", 0);
            let _ = writeln!(
                out,
                "  {:<10} {:>9} {:>7} {:>10} {:>10} {:>10}",
                name,
                c.count,
                c.failures,
                q(p.p50),
                q(p.p99),
                q(p.p999),
            );
        }
    }
    let added = run.proxy_added_latency_us.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "proxy-added latency p50 {}  p99 {}",
        fmt_opt(added.p50, " µs", 0),
        fmt_opt(added.p99, " µs", 0),
    );
    let r = run.resources.unwrap_or_default();
    let _ = writeln!(
        out,
        "proxy CPU {}/request  allocations {}/request ({}/request)  peak RSS {}  RSS slope {}",
        fmt_opt(r.proxy_cpu_us_per_request, " µs", 1),
        fmt_opt(r.allocs_per_request, "", 1),
        fmt_opt(r.bytes_allocated_per_request, " B", 0),
        fmt_bytes(r.peak_rss_bytes),
        fmt_opt(r.rss_slope_bytes_per_s, " B/s", 0),
    );
    if run.load_generator_saturated == Some(true) {
        let _ = writeln!(
            out,
            "WARNING: the load generator was saturated; this run measured its limits, not the proxy's"
        );
    }
    if let Some(err) = &harness.error {
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
            "schema_version": 2, "profile": {"name": "ci", "settings": null},
            "complete": true,
            "totals": {"requests": 150, "failures": 1, "rps": 1234.4},
            "classes": {
                "allowed": {"count": 100, "failures": 1, "errors": {"status": 1},
                            "latency_us": {"p50": 800.0, "p99": 2500.0, "p999": 9000.0}},
                "blocked": {"count": 50, "failures": 0, "ttfb_us": {"p50": 300.0}}
            },
            "proxy_added_latency_us": {"p50": 120.0, "p99": 400.0},
            "resources": {"proxy_cpu_us_per_request": 85.25, "allocs_per_request": 42.0,
                          "bytes_allocated_per_request": 4096.0,
                          "peak_rss_bytes": 20971520.0, "rss_slope_bytes_per_s": 3.0},
            "load_generator_saturated": true
        });
        let run = RunJson::from_json(doc).unwrap();
        let text = render(&run, Path::new("runs/x"));
        assert!(text.starts_with("run complete"), "{text}");
        assert!(
            text.contains("1234 req/s") && text.contains("requests 150"),
            "{text}"
        );
        assert!(text.contains("failures 1"), "{text}");
        assert!(text.contains("allowed") && text.contains("9000"), "{text}");
        assert!(text.contains("blocked") && text.contains("300"), "{text}");
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
        let mut run = RunJson::begun("ci");
        run.harness = Some(rundir::run::HarnessReport {
            error: Some("interrupted".into()),
            ..Default::default()
        });
        let text = render(&run, Path::new("r"));
        assert!(text.starts_with("run INCOMPLETE"), "{text}");
        assert!(text.contains("error: interrupted"), "{text}");
        assert!(text.contains("throughput -"), "{text}");
    }
}
