//! The request classes and the columns of `timeseries.csv`.
//!
//! The load generator writes one row per second with totals and, per class, requests,
//! errors and two percentiles; the harness joins the columns it sampled from `/proc`,
//! `/metrics` and `/debug/jemalloc` onto the same rows. The reports read columns by these
//! names, so the names live here once.

/// The request classes the load generator records, in display order.
pub const CLASSES: [&str; 6] = [
    "allowed", "blocked", "tunnel", "cors", "identity", "download",
];

/// The first column: seconds since the start of the attack.
pub const SECOND: &str = "second";
/// `1` inside the warm-up, `0` after it.
pub const WARMUP: &str = "warmup";
/// Requests finished in the second (all classes).
pub const REQUESTS: &str = "requests";
/// Of which failed.
pub const ERRORS: &str = "errors";

/// The per-class columns, each written as `<class>_<column>`: requests, errors, median
/// and 99th percentile time to last byte in µs (empty with no request that second).
pub const CLASS_COLUMNS: [&str; 4] = ["requests", "errors", "p50_us", "p99_us"];

/// The column `<class>_<column>`, e.g. `allowed_p99_us`.
pub fn class_column(class: &str, column: &str) -> String {
    format!("{class}_{column}")
}

/// The header the load generator writes: second, warm-up flag, totals, then the
/// [`CLASS_COLUMNS`] of each class in `classes` order.
pub fn load_generator_header<'a>(classes: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut header: Vec<String> = [SECOND, WARMUP, REQUESTS, ERRORS].map(str::to_owned).into();
    for class in classes {
        header.extend(CLASS_COLUMNS.iter().map(|c| class_column(class, c)));
    }
    header
}

/// Columns the harness adds to `timeseries.csv`. CPU columns are milliseconds of CPU
/// used during that second; the others are the value at the end of the second.
pub const SAMPLED_COLUMNS: [&str; 16] = [
    "proxy_cpu_user_ms",
    "proxy_cpu_sys_ms",
    "proxy_rss_bytes",
    "proxy_threads",
    "proxy_fds",
    "proxy_client_connections",
    "pool_in_use",
    "pool_waiters",
    "pool_exhausted_total",
    "loadgen_cpu_ms",
    "jemalloc_resident_bytes",
    "jemalloc_retained_bytes",
    "host_busy_ms",
    "host_iowait_ms",
    "host_steal_ms",
    "host_cpu_pressure_ms",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_totals_then_each_class() {
        let header = load_generator_header(["allowed", "cors"]);
        assert_eq!(
            header.join(","),
            "second,warmup,requests,errors,allowed_requests,allowed_errors,allowed_p50_us,\
             allowed_p99_us,cors_requests,cors_errors,cors_p50_us,cors_p99_us"
        );
    }
}
