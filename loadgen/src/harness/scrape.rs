//! Reads the few proxy gauges the harness samples out of a Prometheus text scrape.
//!
//! A tiny parser rather than a Prometheus client library: the harness needs a handful
//! of sums once a second, and a parser over the text format is easy to test on
//! captured scrapes. Label sets are summed over, so a counter split by kind reads as
//! its total.

/// One sample line: metric name, raw label text (without braces), value.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample<'a> {
    /// Metric name (for counters, including the `_total` suffix).
    pub name: &'a str,
    /// The labels as written, e.g. `kind="timeout",phase="connect"`; empty when none.
    pub labels: &'a str,
    /// The value.
    pub value: f64,
}

/// Parses the sample lines of a Prometheus text exposition; comments, blank lines and
/// lines that do not parse are skipped (a scrape is read for a few numbers, one odd
/// line must not lose the rest).
pub fn parse(text: &str) -> Vec<PromSample<'_>> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<PromSample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = line.rfind('}')?;
            (&line[..open], &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let space = line.find(char::is_whitespace)?;
            (&line[..space], "", &line[space..])
        }
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(PromSample {
        name: name.trim(),
        labels,
        value,
    })
}

/// Sum over every series of the first of `names` present in `samples`; `None` when
/// none is. Several names are accepted so the harness reads a metric across renames.
pub fn sum_first(samples: &[PromSample<'_>], names: &[&str]) -> Option<f64> {
    names.iter().find_map(|name| {
        let mut found = false;
        let sum = samples
            .iter()
            .filter(|s| s.name == *name)
            .inspect(|_| found = true)
            .map(|s| s.value)
            .sum();
        found.then_some(sum)
    })
}

/// Like [`sum_first`], but only over series whose labels contain `label` (e.g.
/// `decision="error"`).
pub fn sum_first_with_label(
    samples: &[PromSample<'_>],
    names: &[&str],
    label: &str,
) -> Option<f64> {
    names.iter().find_map(|name| {
        let mut found = false;
        let sum = samples
            .iter()
            .filter(|s| s.name == *name && s.labels.contains(label))
            .inspect(|_| found = true)
            .map(|s| s.value)
            .sum();
        found.then_some(sum)
    })
}

/// The proxy gauges and counters the harness samples; `None` when the scrape lacks one.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ProxyGauges {
    /// Client connections open now.
    pub client_connections: Option<f64>,
    /// Upstream pool connections lent out now.
    pub pool_in_use: Option<f64>,
    /// Requests waiting for a pool connection now.
    pub pool_waiters: Option<f64>,
    /// Pool acquisitions that timed out, cumulative.
    pub pool_exhausted_total: Option<f64>,
    /// Policy/identity store errors (including timeouts), cumulative.
    pub store_errors_total: Option<f64>,
    /// Requests handled, cumulative.
    pub requests_total: Option<f64>,
    /// Requests answered with an error (not a block), cumulative.
    pub request_errors_total: Option<f64>,
}

/// Metric names read for each gauge, first match wins. Kept in one place so a rename
/// in the proxy's metrics is one edit here.
pub mod names {
    /// Open client connections.
    pub const CLIENT_CONNECTIONS: &[&str] = &["filter_proxy_client_connections"];
    /// Pool connections in use.
    pub const POOL_IN_USE: &[&str] = &["filter_proxy_pool_in_use"];
    /// Pool waiters.
    pub const POOL_WAITERS: &[&str] = &["filter_proxy_pool_waiters"];
    /// Pool exhausted counter.
    pub const POOL_EXHAUSTED: &[&str] = &["filter_proxy_pool_exhausted_total"];
    /// Store errors counter, when the proxy has one.
    pub const STORE_ERRORS: &[&str] = &["filter_proxy_store_errors_total"];
    /// Store lookups counter, read for its `result="error"` and `result="timeout"` series.
    pub const STORE_LOOKUPS: &[&str] = &["filter_proxy_store_lookups_total"];
    /// Requests counter.
    pub const REQUESTS: &[&str] = &["filter_proxy_requests_total"];
}

/// Reads the harness's gauges out of a scrape.
pub fn proxy_gauges(text: &str) -> ProxyGauges {
    let samples = parse(text);
    let store_errors = sum_first(&samples, names::STORE_ERRORS).or_else(|| {
        let errors = sum_first_with_label(&samples, names::STORE_LOOKUPS, "result=\"error\"");
        let timeouts = sum_first_with_label(&samples, names::STORE_LOOKUPS, "result=\"timeout\"");
        match (errors, timeouts) {
            (None, None) => None,
            (e, t) => Some(e.unwrap_or(0.0) + t.unwrap_or(0.0)),
        }
    });
    ProxyGauges {
        client_connections: sum_first(&samples, names::CLIENT_CONNECTIONS),
        pool_in_use: sum_first(&samples, names::POOL_IN_USE),
        pool_waiters: sum_first(&samples, names::POOL_WAITERS),
        pool_exhausted_total: sum_first(&samples, names::POOL_EXHAUSTED),
        store_errors_total: store_errors,
        requests_total: sum_first(&samples, names::REQUESTS),
        request_errors_total: sum_first_with_label(&samples, names::REQUESTS, "decision=\"error\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# HELP filter_proxy_requests Requests handled.
# TYPE filter_proxy_requests counter
filter_proxy_requests_total{decision="allowed",status="2xx"} 120
filter_proxy_requests_total{decision="blocked",status="4xx"} 30
filter_proxy_requests_total{decision="error",status="5xx"} 4
# TYPE filter_proxy_client_connections gauge
filter_proxy_client_connections 8
filter_proxy_pool_in_use{scope="global"} 3
filter_proxy_pool_waiters 0
filter_proxy_pool_exhausted_total 2
filter_proxy_store_lookups_total{result="hit"} 100
filter_proxy_store_lookups_total{result="error"} 1
filter_proxy_store_lookups_total{result="timeout"} 2
filter_proxy_request_duration_seconds_bucket{le="+Inf"} 154
# EOF
"#;

    #[test]
    fn reads_gauges_summing_over_labels() {
        let g = proxy_gauges(SCRAPE);
        assert_eq!(g.requests_total, Some(154.0));
        assert_eq!(g.request_errors_total, Some(4.0));
        assert_eq!(g.client_connections, Some(8.0));
        assert_eq!(g.pool_in_use, Some(3.0));
        assert_eq!(g.pool_waiters, Some(0.0));
        assert_eq!(g.pool_exhausted_total, Some(2.0));
        assert_eq!(g.store_errors_total, Some(3.0));
    }

    #[test]
    fn missing_metrics_are_none_and_odd_lines_are_skipped() {
        let g = proxy_gauges("garbage line\nfilter_proxy_pool_waiters notanumber\n{}\n");
        assert_eq!(g, ProxyGauges::default());
    }

    #[test]
    fn parses_infinities_and_timestamps() {
        let s = parse("a{le=\"+Inf\"} +Inf\nb 2.5 1700000000000\n");
        assert_eq!(s.len(), 2);
        assert!(s[0].value.is_infinite());
        assert_eq!(s[1].name, "b");
        assert_eq!(s[1].value, 2.5);
    }
}
