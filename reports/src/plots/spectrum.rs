//! Latency percentile spectrum, drawn as HdrHistogram's percentile plot: x is the log
//! scale of 1/(1-p) (labelled 50%, 90%, 99%, 99.9%, 99.99%), y is latency on a log scale,
//! so the tail is as visible as the median and a 100x slower tail still fits the picture.
//! One line per request class; overlays put a baseline (faint) under the current. The
//! legend sits bottom right, where a rising tail leaves room.

use super::{Series, SIZE};
use crate::error::{ReportError, Result};
use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use rundir::run::Percentiles;
use std::ops::Range;

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

/// The most nines the x axis reaches: 99.9999%. A histogram's last value sits at quantile
/// 1, which has no place on this axis (it is infinitely far right); it is drawn here.
pub const MAX_NINES: f64 = 6.0;

/// The x position of quantile `q` on the HDR percentile axis: `log10(1 / (1 - q))`, the
/// number of nines (90% is 1, 99% is 2, 99.9% is 3), so each decade of the tail gets as
/// much width as the whole body. Capped at [`MAX_NINES`].
pub fn nines(q: f64) -> f64 {
    (1.0 / (1.0 - q).max(10f64.powf(-MAX_NINES)))
        .log10()
        .min(MAX_NINES)
}

/// The percentile at `x` nines, as a label: `50%`, `99%`, `99.99%`.
pub fn nines_label(x: &f64) -> String {
    let pct = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{pct:.6}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The labelled positions of an axis reaching `max` nines: 50% and then every whole nine
/// (90%, 99%, 99.9%...), the standard HDR percentile ticks.
pub fn x_ticks(max: f64) -> Vec<f64> {
    let mut ticks = vec![0.0, 2f64.log10()];
    ticks.extend((1..=max.ceil() as i32).map(f64::from));
    ticks
}

/// The x axis: linear in nines from 0 to `max`, its ticks at [`x_ticks`] rather than at
/// plotters' round numbers (which would put labels at 0.5 nines, 68.4%).
struct NinesAxis {
    max: f64,
}

impl Ranged for NinesAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = value / self.max;
        limit.0 + (share * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        x_ticks(self.max)
    }

    fn range(&self) -> Range<f64> {
        0.0..self.max
    }
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

/// The latency axis: whole decades around the data (log scale needs positive bounds).
fn y_range(series: &[Series]) -> Range<f64> {
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 1.0..1000.0;
    }
    let lo = 10f64.powf(lo.log10().floor());
    let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
    lo..hi
}

/// How many nines the x axis spans: the data's, in whole nines, at least 99.99% so plots
/// of short and long runs share an axis.
fn x_extent(series: &[Series]) -> f64 {
    let data_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(0.0_f64, f64::max);
    // Less a hair: 99.99% maps to 4.000000000000001 in floating point.
    (data_max - 1e-9).ceil().clamp(4.0, MAX_NINES)
}

/// Draws a percentile spectrum: the HDR percentile plot, log nines on x, log latency on y.
pub fn draw(title: &str, series: &[Series]) -> Result<String> {
    let err = |detail: String| ReportError::Draw {
        what: title.to_owned(),
        detail,
    };
    let x_max = x_extent(series);
    let y = y_range(series);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            // Room for the last tick's label ("99.99%"), centred on the plot's right edge.
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(NinesAxis { max: x_max }, y.clone().log_scale())
            .map_err(|e| err(e.to_string()))?;
        ctx.configure_mesh()
            .x_desc("percentile (log scale of 1/(1-p))")
            .y_desc("latency (log scale)")
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 15))
            .x_label_formatter(&nines_label)
            .y_label_formatter(&|v| crate::units::micros(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for s in series {
            let base = Palette99::pick(s.color).to_rgba();
            let style = if s.faint {
                ShapeStyle::from(base.mix(0.45)).stroke_width(2)
            } else {
                ShapeStyle::from(base).stroke_width(2)
            };
            let points = s.points.iter().map(|&(x, v)| (x, v.max(y.start)));
            ctx.draw_series(LineSeries::new(points, style))
                .map_err(|e| err(e.to_string()))?
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !series.is_empty() {
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.5) - 2f64.log10()).abs() < 1e-9);
        assert!((nines(0.9) - 1.0).abs() < 1e-9);
        assert!((nines(0.99) - 2.0).abs() < 1e-9, "99% is two decades");
        assert!((nines(0.999) - 3.0).abs() < 1e-9, "99.9% is three");
        assert!((nines(0.9999) - 4.0).abs() < 1e-9);
        assert_eq!(nines(1.0), MAX_NINES);
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&4.0), "99.99%");
        assert_eq!(nines_label(&2f64.log10()), "50%");
        assert_eq!(nines_label(&0.0), "0%");
        let labels: Vec<String> = x_ticks(4.0).iter().map(nines_label).collect();
        assert_eq!(labels, ["0%", "50%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn latency_axis_spans_whole_decades() {
        let s = series(
            "a",
            &[(0.0, 120.0), (0.99, 4_500.0), (0.9999, 31_000.0)],
            0,
            false,
        );
        assert_eq!(y_range(&[s]), 100.0..100_000.0);
        assert_eq!(y_range(&[]), 1.0..1000.0);
        let tail = |q: f64| [series("a", &[(0.5, 1.0), (q, 2.0)], 0, false)];
        assert_eq!(x_extent(&tail(0.9999)), 4.0, "99.99% ends the axis");
        assert_eq!(x_extent(&tail(0.99)), 4.0);
        assert_eq!(x_extent(&tail(0.99999)), 5.0);
    }
}
