//! Latency percentile spectrum: latency against percentile on a log "nines" axis (50%,
//! 90%, 99%, 99.9%, 99.99%), like HdrHistogram's plots, so the tail is as visible as the
//! median. One line per request class; overlays put a baseline (faint) under the current.

use super::{line_chart, Chart, Series};
use crate::error::Result;
use hdrhistogram::Histogram;
use rundir::run::Percentiles;

/// `(quantile, µs)` pairs of a class: from its histogram (full spectrum) or, without one,
/// from the recorded percentiles. None when neither was recorded.
pub fn quantiles(
    hist: Option<&Histogram<u64>>,
    recorded: Option<Percentiles>,
) -> Option<Vec<(f64, f64)>> {
    if let Some(h) = hist {
        return Some(crate::hist::spectrum(h));
    }
    let p = recorded?;
    let points: Vec<(f64, f64)> = [
        (0.0, p.min),
        (0.5, p.p50),
        (0.9, p.p90),
        (0.99, p.p99),
        (0.999, p.p999),
    ]
    .into_iter()
    .filter_map(|(q, v)| Some((q, v?)))
    .collect();
    (!points.is_empty()).then_some(points)
}

/// The x position of quantile `q`: `log10(1 / (1 - q))`, capped at four nines.
pub fn nines(q: f64) -> f64 {
    (1.0 / (1.0 - q).max(1e-4)).log10().min(4.0)
}

fn nines_label(x: &f64) -> String {
    let pct = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{pct:.2}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A spectrum series from `(quantile, latency µs)` pairs.
pub fn series(label: &str, quantiles: &[(f64, f64)], color: usize, faint: bool) -> Series {
    Series {
        label: label.to_owned(),
        points: quantiles.iter().map(|&(q, v)| (nines(q), v)).collect(),
        color,
        faint,
    }
}

/// Draws a percentile spectrum chart.
pub fn draw(title: &str, series: &[Series]) -> Result<String> {
    line_chart(
        &Chart {
            title,
            x_desc: "percentile",
            y_desc: "latency (µs)",
            x_range: Some(0.0..4.0),
            x_labels: 5,
            x_fmt: &nines_label,
        },
        series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert!((nines(0.9999) - 4.0).abs() < 1e-9);
        assert_eq!(nines(1.0), 4.0);
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&4.0), "99.99%");
        assert_eq!(nines_label(&0.0), "0%");
    }
}
