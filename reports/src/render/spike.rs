//! The spike section of a run report: errors and latency before, during and after the
//! surge, and the recovery time (figures and definitions in [`crate::spike`]).

use super::doc::figure;
use super::doc::Doc;
use super::tables::NOT_MEASURED;
use crate::error::Result;
use crate::plots::{line_chart, seconds_label, Chart, Series};
use crate::rules::fmt_num;
use crate::rundir::RunDir;
use crate::spike::{self, PhaseFigures, Spike, RECOVERY_FACTOR, RECOVERY_WINDOW};

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| NOT_MEASURED.to_owned(), |v| fmt_num(v.round()))
}

fn rate(p: &PhaseFigures) -> String {
    p.error_rate()
        .map_or_else(|| NOT_MEASURED.to_owned(), |r| format!("{:.3}%", r * 100.0))
}

/// Appends the spike section to `doc`, when the run's plan has a surge.
pub fn section(doc: &mut Doc, run: &RunDir) -> Result<()> {
    let Some(s) = spike::summarise(run) else {
        return Ok(());
    };
    let Spike {
        phases,
        tracked_class,
        before,
        surge,
        after,
        recovery,
    } = &s;
    doc.heading(1, "Spike");
    doc.para(format!(
        "Before: {}s to {}s; surge: {}s to {}s; after: {}s to {}s (from the stages of the \
         test plan). Latency figures are medians of the per-second percentiles in each part.",
        fmt_num(phases.before.start),
        fmt_num(phases.before.end),
        fmt_num(phases.surge.start),
        fmt_num(phases.surge.end),
        fmt_num(phases.after.start),
        fmt_num(phases.after.end),
    ));
    doc.heading(2, "Errors");
    doc.table(
        &["part", "requests", "errors", "error rate"],
        [("before", before), ("surge", surge), ("after", after)]
            .iter()
            .map(|(name, p)| {
                vec![
                    (*name).to_owned(),
                    fmt_num(p.requests),
                    fmt_num(p.errors),
                    rate(p),
                ]
            })
            .collect(),
    );
    doc.heading(2, "Latency");
    doc.table(
        &[
            "class",
            "before p50 µs",
            "before p99 µs",
            "surge p50 µs",
            "surge p99 µs",
            "after p50 µs",
            "after p99 µs",
        ],
        before
            .latency
            .iter()
            .zip(&surge.latency)
            .zip(&after.latency)
            .map(|((b, s), a)| {
                vec![
                    b.0.clone(),
                    us(b.1),
                    us(b.2),
                    us(s.1),
                    us(s.2),
                    us(a.1),
                    us(a.2),
                ]
            })
            .collect(),
    );
    doc.heading(2, "Recovery");
    let Some(r) = recovery else {
        doc.para(format!(
            "Recovery time: {NOT_MEASURED} (no per-second p99 of {tracked_class} before the surge)."
        ));
        return Ok(());
    };
    let outcome = if r.recovered {
        format!("{} s", fmt_num(r.seconds))
    } else {
        format!(
            "NOT RECOVERED by the end of the run ({} s left after the surge)",
            fmt_num(r.seconds)
        )
    };
    doc.para(format!(
        "Recovery time: {outcome}. Tracked: the per-second p99 of {tracked_class} (the class \
         with the most requests); pre-spike p99 {} µs; recovered at the first second after \
         the surge whose centred {RECOVERY_WINDOW}-second median p99 is <= {} x that = {} µs.",
        fmt_num(r.pre_p99_us.round()),
        fmt_num(RECOVERY_FACTOR),
        fmt_num(r.threshold_us.round()),
    ));
    let Some(points) = run
        .timeseries
        .as_ref()
        .and_then(|ts| ts.points(&format!("{tracked_class}_p99_us")))
    else {
        return Ok(());
    };
    let end = phases.after.end;
    let series = vec![
        Series {
            label: format!("{tracked_class} p99"),
            points,
            color: 0,
            faint: false,
        },
        Series {
            label: "recovery threshold".into(),
            points: vec![(phases.before.start, r.threshold_us), (end, r.threshold_us)],
            color: 1,
            faint: true,
        },
        Series {
            label: "surge".into(),
            points: vec![
                (phases.surge.start, 0.0),
                (phases.surge.start, r.threshold_us),
                (phases.surge.end, r.threshold_us),
                (phases.surge.end, 0.0),
            ],
            color: 2,
            faint: true,
        },
    ];
    let svg = line_chart(
        &Chart {
            title: "p99 through the spike",
            x_desc: "time",
            y_desc: "µs",
            x_range: None,
            x_labels: 10,
            x_fmt: &seconds_label,
        },
        &series,
    )?;
    doc.push(figure(
        "Per-second p99 of the tracked class through the spike, with the recovery threshold",
        "spike_p99",
        svg,
    ));
    Ok(())
}
