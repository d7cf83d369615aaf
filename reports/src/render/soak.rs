//! The soak section of a run report: memory, fds and threads over the steady window with
//! their trends, latency drift and the error budget (figures from [`crate::soak`]).

use super::doc::figure;
use super::doc::Doc;
use super::tables::NOT_MEASURED;
use crate::error::Result;
use crate::metrics::Metric;
use crate::plots::{line_chart, seconds_label, Chart, Series};
use crate::regression::Trend;
use crate::rules::Gates;
use crate::rules::{fmt_num, Kind};
use crate::rundir::RunDir;
use crate::soak::{self, ColumnTrend, Soak, MB};
use std::path::Path;

/// Where the gate rules are looked for, relative to an ancestor of the run directory.
const GATES: &str = "baselines/gates.toml";

/// `slope [low, high]` of a trend with `digits` decimals.
fn trend_cell(t: Option<Trend>, digits: usize) -> [String; 2] {
    match t {
        Some(t) => [
            format!("{:+.digits$}", t.slope),
            format!("{:+.digits$} to {:+.digits$}", t.ci_low, t.ci_high),
        ],
        None => [NOT_MEASURED.to_owned(), NOT_MEASURED.to_owned()],
    }
}

/// The points of a trend, scaled, with the fitted line beside them.
fn with_fit(t: &ColumnTrend, window: (f64, f64), scale: f64, color: usize) -> Vec<Series> {
    let points: Vec<(f64, f64)> = t.points.iter().map(|(s, v)| (*s, v * scale)).collect();
    let mut out = vec![Series {
        label: t.label.to_owned(),
        points,
        color,
        faint: false,
    }];
    if let Some(fit) = t.per_hour {
        // The plotted unit is the reported one (MB, or a count), so the per-hour slope
        // divided by an hour is the plotted line's slope per second; the intercept is
        // still in the column's own unit.
        let per_s = fit.slope / soak::HOUR_S;
        let at = |s: f64| fit.intercept * scale + per_s * s;
        out.push(Series {
            label: format!("{} trend", t.label),
            points: vec![(window.0, at(window.0)), (window.1, at(window.1))],
            color,
            faint: true,
        });
    }
    out
}

fn chart(title: &str, y_desc: &str, series: &[Series]) -> Result<String> {
    line_chart(
        &Chart {
            title,
            x_desc: "time",
            y_desc,
            x_range: None,
            x_labels: 10,
            x_fmt: &seconds_label,
        },
        series,
    )
}

/// The allowed failure rate for `profile`: the rollback threshold of the absolute
/// `failure_rate.*` rule in the gate rules found above `run_dir`, with the file's path.
pub fn allowed_failure_rate(run_dir: &Path, profile: &str) -> Option<(f64, String)> {
    let abs = std::fs::canonicalize(run_dir).ok()?;
    let path = abs
        .ancestors()
        .map(|d| d.join(GATES))
        .find(|p| p.is_file())?;
    let gates = Gates::load(&path).ok()?;
    gates
        .for_profile(profile)
        .into_iter()
        .find(|r| r.metric == Metric::FailureRate && r.class.is_none() && r.kind == Kind::Absolute)
        .map(|r| (r.rollback, GATES.to_owned()))
}

/// Appends the soak section to `doc`.
pub fn section(doc: &mut Doc, run: &RunDir) -> Result<()> {
    doc.heading(1, "Soak");
    let Some(s) = soak::summarise(run) else {
        doc.para(format!(
            "Soak figures: {NOT_MEASURED} (no time series or steady window)."
        ));
        return Ok(());
    };
    let Soak {
        window,
        memory,
        counts,
        drift,
    } = &s;
    doc.para(format!(
        "Steady window {}s to {}s. Slopes are least-squares fits over the window with their \
         95% interval (t distribution, widened for autocorrelated samples); first and last \
         tenth are means over a tenth of the window each.",
        fmt_num(window.0),
        fmt_num(window.1)
    ));
    doc.heading(2, "Memory");
    let mb = |v: f64| format!("{:.1}", v / MB);
    doc.table(
        &[
            "series",
            "first tenth MB",
            "last tenth MB",
            "slope MB/h",
            "95% interval MB/h",
        ],
        memory
            .iter()
            .map(|t| {
                let [slope, ci] = trend_cell(t.per_hour, 2);
                vec![
                    t.label.to_owned(),
                    mb(t.first_tenth),
                    mb(t.last_tenth),
                    slope,
                    ci,
                ]
            })
            .collect(),
    );
    let series: Vec<Series> = memory
        .iter()
        .enumerate()
        .flat_map(|(i, t)| with_fit(t, *window, 1.0 / MB, i))
        .collect();
    if series.is_empty() {
        doc.para(format!("Memory over time: {NOT_MEASURED}."));
    } else {
        doc.push(figure(
            "Proxy memory over the steady window (faint: least-squares trend)",
            "soak_memory",
            chart("Proxy memory", "MB", &series)?,
        ));
    }
    doc.heading(2, "Descriptors and threads");
    doc.table(
        &[
            "series",
            "first tenth",
            "last tenth",
            "growth",
            "slope per hour",
            "95% interval per hour",
        ],
        counts
            .iter()
            .map(|t| {
                let [slope, ci] = trend_cell(t.per_hour, 1);
                vec![
                    t.label.to_owned(),
                    format!("{:.1}", t.first_tenth),
                    format!("{:.1}", t.last_tenth),
                    format!("{:+.1}", t.growth()),
                    slope,
                    ci,
                ]
            })
            .collect(),
    );
    let series: Vec<Series> = counts
        .iter()
        .enumerate()
        .flat_map(|(i, t)| with_fit(t, *window, 1.0, i))
        .collect();
    if series.is_empty() {
        doc.para(format!(
            "Descriptors and threads over time: {NOT_MEASURED}."
        ));
    } else {
        doc.push(figure(
            "Proxy open fds and threads over the steady window (faint: trend)",
            "soak_fds_threads",
            chart("Proxy fds and threads", "count", &series)?,
        ));
    }
    doc.heading(2, "Latency drift");
    if drift.is_empty() {
        doc.para(format!("Latency drift: {NOT_MEASURED}."));
    } else {
        doc.table(
            &[
                "class",
                "p99 first tenth µs",
                "p99 last tenth µs",
                "last / first",
            ],
            drift
                .iter()
                .map(|d| {
                    vec![
                        d.class.clone(),
                        fmt_num(d.first_p99_us.round()),
                        fmt_num(d.last_p99_us.round()),
                        format!("{:.2}", d.ratio()),
                    ]
                })
                .collect(),
        );
    }
    doc.heading(2, "Error budget");
    let allowed = allowed_failure_rate(&run.path, &run.run.profile.name);
    let budget = allowed
        .as_ref()
        .and_then(|(rate, _)| soak::error_budget(run, *rate));
    match (budget, allowed) {
        (Some(b), Some((rate, file))) => {
            doc.table(
                &[
                    "failures",
                    "requests",
                    "allowed rate",
                    "allowed failures",
                    "budget consumed",
                ],
                vec![vec![
                    b.failures.to_string(),
                    b.requests.to_string(),
                    format!("{} ({file}, failure_rate rollback)", fmt_num(rate)),
                    format!("{:.1}", b.allowed()),
                    format!("{:.1}%", b.consumed() * 100.0),
                ]],
            );
        }
        _ => {
            doc.para(format!(
                "Error budget: {NOT_MEASURED} (no requests, or no {GATES} with an absolute \
                 failure_rate.* rule above the run directory)."
            ));
        }
    }
    Ok(())
}
