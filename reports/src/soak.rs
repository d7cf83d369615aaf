//! What a soak run shows: memory, descriptors and threads over the steady window with
//! their trends, latency drift from the first tenth of the window to the last, and the
//! error budget consumed.
//!
//! Definitions (also in `reports/README.md`):
//! - memory trend: least-squares slope of RSS, allocator resident and allocator retained
//!   bytes against time over the steady window, with its 95% interval ([`crate::regression`]),
//!   in MB (10^6 bytes) per hour;
//! - growth of a count (fds, client connections, threads, and fds beyond client
//!   connections): mean of the last tenth of the window minus the mean of the first
//!   tenth, beside its slope per hour;
//! - latency drift of a class: median of its per-second p99 over the last tenth divided by
//!   the same over the first tenth (the median, because one slow second must not decide);
//! - error budget consumed: failures / (requests x the allowed failure rate), the allowed
//!   rate being the gate's `failure_rate` rollback threshold for the profile.

use crate::regression::{trend, Trend};
use crate::rundir::RunDir;
use crate::stats::median;
use crate::timeseries::Timeseries;
use rundir::run::SteadyWindow;

/// Bytes in a megabyte (decimal, as the slopes are stated).
pub const MB: f64 = 1e6;
/// Seconds in an hour.
pub const HOUR_S: f64 = 3600.0;
/// Steady windows at least this long get a soak section whatever the profile is called.
pub const LONG_WINDOW_S: f64 = 600.0;

/// The memory columns a soak section plots, with their labels.
pub const MEMORY_COLUMNS: [(&str, &str); 3] = [
    ("proxy_rss_bytes", "RSS"),
    ("jemalloc_resident_bytes", "allocator resident"),
    ("jemalloc_retained_bytes", "allocator retained"),
];

/// The count columns a soak section follows (besides [`FDS_BEYOND_CLIENTS`]).
pub const COUNT_COLUMNS: [(&str, &str); 3] = [
    ("proxy_fds", "open fds"),
    ("proxy_client_connections", "client connections"),
    ("proxy_threads", "threads"),
];

/// The derived series `proxy_fds - proxy_client_connections`: the descriptors the proxy
/// holds beyond its client sockets (listeners, upstream and tunnel sockets, Redis,
/// files). How many connections the clients keep open is the load generator's choice
/// and moves the raw count by hundreds; this series is level unless the proxy itself
/// keeps descriptors, so it is the one `fd_growth` gates.
pub const FDS_BEYOND_CLIENTS: &str = "fds_beyond_clients";

/// The trend of one column over the steady window.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnTrend {
    /// Column in `timeseries.csv` (or [`FDS_BEYOND_CLIENTS`]).
    pub column: &'static str,
    /// `(second, value)` over the window, in the column's unit.
    pub points: Vec<(f64, f64)>,
    /// Label for tables and legends.
    pub label: &'static str,
    /// Mean over the first tenth of the window, in the column's unit.
    pub first_tenth: f64,
    /// Mean over the last tenth of the window.
    pub last_tenth: f64,
    /// Slope and interval per hour (MB/h for memory, count/h for counts); `None` with
    /// fewer than three samples.
    pub per_hour: Option<Trend>,
}

impl ColumnTrend {
    /// Last tenth minus first tenth.
    pub fn growth(&self) -> f64 {
        self.last_tenth - self.first_tenth
    }
}

/// Latency drift of one class.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Request class.
    pub class: String,
    /// Median per-second p99 over the first tenth, µs.
    pub first_p99_us: f64,
    /// Median per-second p99 over the last tenth, µs.
    pub last_p99_us: f64,
}

impl Drift {
    /// Last / first (1.0 = no drift).
    pub fn ratio(&self) -> f64 {
        self.last_p99_us / self.first_p99_us
    }
}

/// Everything the soak section shows, computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Soak {
    /// The window the figures describe, seconds since the attack started.
    pub window: (f64, f64),
    /// RSS, allocator resident and retained (those recorded), bytes; slopes in MB/h.
    pub memory: Vec<ColumnTrend>,
    /// fds and threads; slopes per hour.
    pub counts: Vec<ColumnTrend>,
    /// Per-class p99 drift (classes with samples in both tenths).
    pub drift: Vec<Drift>,
}

impl Soak {
    /// The memory trend of `column`, if recorded.
    pub fn memory_trend(&self, column: &str) -> Option<&ColumnTrend> {
        self.memory.iter().find(|t| t.column == column)
    }

    /// The count trend of `column`, if recorded.
    pub fn count_trend(&self, column: &str) -> Option<&ColumnTrend> {
        self.counts.iter().find(|t| t.column == column)
    }
}

/// Whether a run is a soak: the `soak` profile, or a steady window of at least
/// [`LONG_WINDOW_S`].
pub fn applies(run: &RunDir) -> bool {
    let long = run
        .run
        .steady_window
        .is_some_and(|w| w.end - w.start >= LONG_WINDOW_S);
    run.run.profile.name == "soak" || long
}

/// The steady window of a run: the recorded one, else the span of the steady rows.
fn window_of(ts: &Timeseries, recorded: Option<SteadyWindow>) -> Option<(f64, f64)> {
    if let Some(w) = recorded {
        return (w.end > w.start).then_some((w.start, w.end));
    }
    let seconds = ts.column("second")?;
    let rows = ts.steady_rows(None);
    let first = seconds.get(*rows.first()?).copied().flatten()?;
    let last = seconds.get(*rows.last()?).copied().flatten()?;
    (last > first).then_some((first, last))
}

/// `(second, value)` points of `column` inside `window`.
fn points_in(ts: &Timeseries, column: &str, window: (f64, f64)) -> Vec<(f64, f64)> {
    ts.points(column)
        .unwrap_or_default()
        .into_iter()
        .filter(|(s, _)| *s >= window.0 && *s <= window.1)
        .collect()
}

/// The values of the first and the last tenth of the window.
fn tenths(points: &[(f64, f64)], window: (f64, f64)) -> (Vec<f64>, Vec<f64>) {
    let tenth = ((window.1 - window.0) / 10.0).max(1.0);
    let first = points
        .iter()
        .filter(|(s, _)| *s <= window.0 + tenth)
        .map(|p| p.1)
        .collect();
    let last = points
        .iter()
        .filter(|(s, _)| *s >= window.1 - tenth)
        .map(|p| p.1)
        .collect();
    (first, last)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The trend of one column; `per_hour_factor` converts units per second to the
/// reported unit per hour.
fn column_trend(
    ts: &Timeseries,
    column: &'static str,
    label: &'static str,
    window: (f64, f64),
    per_hour_factor: f64,
) -> Option<ColumnTrend> {
    series_trend(
        points_in(ts, column, window),
        column,
        label,
        window,
        per_hour_factor,
    )
}

/// The trend of `points` (already inside the window).
fn series_trend(
    points: Vec<(f64, f64)>,
    column: &'static str,
    label: &'static str,
    window: (f64, f64),
    per_hour_factor: f64,
) -> Option<ColumnTrend> {
    let (first, last) = tenths(&points, window);
    Some(ColumnTrend {
        column,
        label,
        first_tenth: mean(&first)?,
        last_tenth: mean(&last)?,
        per_hour: trend(&points).map(|t| t.scaled(per_hour_factor)),
        points,
    })
}

/// `proxy_fds - proxy_client_connections` for the seconds that have both.
fn fds_beyond_clients(ts: &Timeseries, window: (f64, f64)) -> Vec<(f64, f64)> {
    let clients = points_in(ts, "proxy_client_connections", window);
    points_in(ts, "proxy_fds", window)
        .into_iter()
        .filter_map(|(s, fds)| {
            let c = clients.iter().find(|p| p.0 == s)?;
            Some((s, fds - c.1))
        })
        .collect()
}

/// Computes the soak figures of a run; `None` without a time series or a window.
pub fn summarise(run: &RunDir) -> Option<Soak> {
    let ts = run.timeseries.as_ref()?;
    let window = window_of(ts, run.run.steady_window)?;
    let memory = MEMORY_COLUMNS
        .iter()
        .filter_map(|(c, l)| column_trend(ts, c, l, window, HOUR_S / MB))
        .collect();
    let mut counts: Vec<ColumnTrend> = COUNT_COLUMNS
        .iter()
        .filter_map(|(c, l)| column_trend(ts, c, l, window, HOUR_S))
        .collect();
    counts.extend(series_trend(
        fds_beyond_clients(ts, window),
        FDS_BEYOND_CLIENTS,
        "fds beyond client connections",
        window,
        HOUR_S,
    ));
    let mut classes: Vec<&String> = run.run.classes.keys().collect();
    classes.sort();
    let drift = classes
        .into_iter()
        .filter_map(|class| {
            let points = points_in(ts, &format!("{class}_p99_us"), window);
            let (first, last) = tenths(&points, window);
            let (first, last) = (median(&first)?, median(&last)?);
            (first > 0.0).then(|| Drift {
                class: class.clone(),
                first_p99_us: first,
                last_p99_us: last,
            })
        })
        .collect();
    Some(Soak {
        window,
        memory,
        counts,
        drift,
    })
}

/// The error budget of a run at an allowed failure rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorBudget {
    /// Failed requests.
    pub failures: u64,
    /// Requests.
    pub requests: u64,
    /// Allowed failures / requests.
    pub allowed_rate: f64,
}

impl ErrorBudget {
    /// Failures allowed for this many requests.
    pub fn allowed(&self) -> f64 {
        self.requests as f64 * self.allowed_rate
    }

    /// Share of the budget used (1.0 = all of it); infinite when no failure is allowed
    /// and one happened, 0 when none happened.
    pub fn consumed(&self) -> f64 {
        match (self.failures, self.allowed()) {
            (0, _) => 0.0,
            (_, a) if a <= 0.0 => f64::INFINITY,
            (f, a) => f as f64 / a,
        }
    }
}

/// The run's error budget at `allowed_rate`; `None` when it recorded no requests.
pub fn error_budget(run: &RunDir, allowed_rate: f64) -> Option<ErrorBudget> {
    let totals = run.run.totals.clone().unwrap_or_default();
    (totals.requests > 0).then_some(ErrorBudget {
        failures: totals.failures,
        requests: totals.requests,
        allowed_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series(columns: &[(&str, Vec<f64>)]) -> Timeseries {
        let n = columns[0].1.len();
        let mut map: BTreeMap<String, Vec<Option<f64>>> = columns
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().copied().map(Some).collect()))
            .collect();
        map.insert("second".into(), (0..n).map(|s| Some(s as f64)).collect());
        Timeseries::from_columns(map)
    }

    #[test]
    fn tenths_split_the_window() {
        let points: Vec<(f64, f64)> = (0..=100).map(|s| (s as f64, s as f64)).collect();
        let (first, last) = tenths(&points, (0.0, 100.0));
        assert_eq!(first, (0..=10).map(f64::from).collect::<Vec<_>>());
        assert_eq!(last, (90..=100).map(f64::from).collect::<Vec<_>>());
    }

    #[test]
    fn a_leaking_column_has_a_positive_trend_and_growth() {
        // 1000 bytes/s of RSS growth = 3.6 MB/h; fds +1 every 10 s.
        let n = 301;
        let ts = series(&[
            (
                "proxy_rss_bytes",
                (0..n).map(|s| 50e6 + 1000.0 * s as f64).collect(),
            ),
            (
                "proxy_fds",
                (0..n).map(|s| 20.0 + (s / 10) as f64).collect(),
            ),
        ]);
        let window = (0.0, 300.0);
        let rss = column_trend(&ts, "proxy_rss_bytes", "RSS", window, HOUR_S / MB).unwrap();
        let t = rss.per_hour.unwrap();
        assert!((t.slope - 3.6).abs() < 1e-9, "{}", t.slope);
        assert!((rss.growth() - 270_000.0).abs() < 1e-6, "{}", rss.growth());
        let fds = column_trend(&ts, "proxy_fds", "fds", window, HOUR_S).unwrap();
        assert!(fds.growth() > 25.0 && fds.per_hour.unwrap().ci_low > 300.0);
        assert!(column_trend(&ts, "proxy_threads", "threads", window, HOUR_S).is_none());
    }

    #[test]
    fn fds_beyond_clients_discounts_client_connections() {
        // Clients open 200 more connections over the run; the proxy's own fds are level.
        let n = 301;
        let clients: Vec<f64> = (0..n).map(|s| 1000.0 + (s * 2 / 3) as f64).collect();
        let ts = series(&[
            ("proxy_fds", clients.iter().map(|c| c + 300.0).collect()),
            ("proxy_client_connections", clients),
        ]);
        let window = (0.0, 300.0);
        let raw = column_trend(&ts, "proxy_fds", "fds", window, HOUR_S).unwrap();
        assert!(raw.growth() > 150.0, "{}", raw.growth());
        let own = fds_beyond_clients(&ts, window);
        assert_eq!(own.len(), n);
        assert!(own.iter().all(|p| p.1 == 300.0));
    }

    #[test]
    fn error_budget_shares() {
        let b = |failures, requests| ErrorBudget {
            failures,
            requests,
            allowed_rate: 0.001,
        };
        assert_eq!(b(0, 1000).consumed(), 0.0);
        assert!((b(5, 10_000).consumed() - 0.5).abs() < 1e-12);
        assert!((b(30, 10_000).consumed() - 3.0).abs() < 1e-12);
        let strict = ErrorBudget {
            allowed_rate: 0.0,
            ..b(1, 10)
        };
        assert!(strict.consumed().is_infinite());
    }
}
