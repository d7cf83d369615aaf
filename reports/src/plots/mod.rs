//! SVG plots drawn with plotters' SVG backend, returned as strings so the HTML reports can
//! inline them (a report opens from disk with no network) and `plots/*.svg` can be written.

pub mod spectrum;
pub mod timeline;

use crate::error::{ReportError, Result};
use plotters::prelude::*;
use std::ops::Range;

/// Plot size in pixels.
pub const SIZE: (u32, u32) = (900, 480);

/// One line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Palette index (same index, same colour: baseline and current of one class match).
    pub color: usize,
    /// Drawn faint (baseline in overlays).
    pub faint: bool,
}

/// Axes and labels of a line chart.
pub struct Chart<'a> {
    /// Caption.
    pub title: &'a str,
    /// X axis description.
    pub x_desc: &'a str,
    /// Y axis description.
    pub y_desc: &'a str,
    /// X range; None fits the data.
    pub x_range: Option<Range<f64>>,
    /// X tick labels.
    pub x_labels: usize,
    /// X tick formatter.
    pub x_fmt: &'a dyn Fn(&f64) -> String,
}

fn draw_err(what: &str) -> impl Fn(String) -> ReportError + '_ {
    move |detail| ReportError::Draw {
        what: what.to_owned(),
        detail,
    }
}

/// Draws a line chart; returns the SVG document.
pub fn line_chart(chart: &Chart<'_>, series: &[Series]) -> Result<String> {
    let err = draw_err(chart.title);
    let all = || series.iter().flat_map(|s| s.points.iter());
    let x_range = chart.x_range.clone().unwrap_or_else(|| {
        let (lo, hi) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.0), hi.max(p.0))
        });
        if lo.is_finite() && hi > lo {
            lo..hi
        } else {
            0.0..1.0
        }
    });
    let y_max = all().map(|p| p.1).fold(0.0_f64, f64::max);
    let y_range = 0.0..if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(chart.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| err(e.to_string()))?;
        ctx.configure_mesh()
            .x_desc(chart.x_desc)
            .y_desc(chart.y_desc)
            .x_labels(chart.x_labels)
            .x_label_formatter(chart.x_fmt)
            .y_label_formatter(&|y| crate::rules::fmt_num(y.round()))
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
            ctx.draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(|e| err(e.to_string()))?
                .label(s.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !series.is_empty() {
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Formats seconds on a time axis.
pub fn seconds_label(x: &f64) -> String {
    format!("{x:.0}s")
}
