//! Plots over time from `timeseries.csv`: throughput, per-class p50/p99, proxy CPU and RSS,
//! connections and pool use. A plot whose columns were not recorded is skipped (and the
//! report says "not measured") rather than drawn flat at zero.

use super::{line_chart, seconds_label, Chart, Series};
use crate::error::Result;
use crate::timeseries::Timeseries;

/// One time plot: its file stem, title, y axis and the columns it draws.
pub struct TimePlot {
    /// File stem under `plots/`.
    pub name: &'static str,
    /// Caption.
    pub title: &'static str,
    /// Y axis description.
    pub y_desc: &'static str,
    /// `(column, label, scale)`: the value drawn is `column * scale`.
    pub columns: Vec<(String, String, f64)>,
}

/// The time plots a report draws, for the given request classes.
pub fn plots(classes: &[String]) -> Vec<TimePlot> {
    let col = |c: &str, label: &str, scale: f64| (c.to_owned(), label.to_owned(), scale);
    let latency = |suffix: &str| -> Vec<(String, String, f64)> {
        classes
            .iter()
            .map(|c| (format!("{c}_{suffix}_us"), c.clone(), 1.0))
            .collect()
    };
    vec![
        TimePlot {
            name: "throughput",
            title: "Throughput and errors",
            y_desc: "per second",
            columns: vec![
                col("requests", "requests/s", 1.0),
                col("errors", "errors/s", 1.0),
            ],
        },
        TimePlot {
            name: "latency_p50",
            title: "p50 latency per class",
            y_desc: "µs",
            columns: latency("p50"),
        },
        TimePlot {
            name: "latency_p99",
            title: "p99 latency per class",
            y_desc: "µs",
            columns: latency("p99"),
        },
        TimePlot {
            name: "proxy_cpu",
            title: "Proxy CPU",
            y_desc: "ms CPU per second",
            columns: vec![
                col("proxy_cpu_user_ms", "user", 1.0),
                col("proxy_cpu_sys_ms", "system", 1.0),
            ],
        },
        TimePlot {
            name: "proxy_rss",
            title: "Proxy resident memory",
            y_desc: "MiB",
            columns: vec![col("proxy_rss_bytes", "RSS", 1.0 / (1024.0 * 1024.0))],
        },
        TimePlot {
            name: "connections",
            title: "Connections, pool and descriptors",
            y_desc: "count",
            columns: vec![
                col("proxy_client_connections", "client connections", 1.0),
                col("pool_in_use", "pool in use", 1.0),
                col("pool_waiters", "pool waiters", 1.0),
                col("proxy_fds", "fds", 1.0),
                col("proxy_threads", "threads", 1.0),
            ],
        },
    ]
}

/// Draws a time plot; None when none of its columns were recorded.
pub fn draw(plot: &TimePlot, ts: &Timeseries) -> Result<Option<String>> {
    let series: Vec<Series> = plot
        .columns
        .iter()
        .enumerate()
        .filter_map(|(i, (column, label, scale))| {
            let points = ts.points(column)?;
            Some(Series {
                label: label.clone(),
                points: points.into_iter().map(|(x, y)| (x, y * scale)).collect(),
                color: i,
                faint: false,
            })
        })
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let chart = Chart {
        title: plot.title,
        x_desc: "time",
        y_desc: plot.y_desc,
        x_range: None,
        x_labels: 10,
        x_fmt: &seconds_label,
    };
    line_chart(&chart, &series).map(Some)
}
