//! The run report: `report.md`, `report.html`, `plots/*.svg` and `summary.csv` in the run
//! directory.

use super::doc::{figure, Block, Doc};
use super::headline;
use super::tables::{
    self, class_rows, frame_rows, global_figures, ordered_classes, CLASS_HEADER, FRAME_HEADER,
};
use crate::atomic::write_atomic;
use crate::error::Result;
use crate::metrics;
use crate::plots::{spectrum, timeline};
use crate::rules::Rule;
use crate::rundir::{files, RunDir};
use rundir::folded::{self, top_frames, Rank};
use std::path::{Path, PathBuf};

/// Frames listed in top-frame tables.
pub const TOP_FRAMES: usize = 15;

/// Files written by [`render`].
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.csv`.
    pub summary: PathBuf,
    /// `plots/*.svg`.
    pub plots: Vec<PathBuf>,
}

/// Builds the run report document, judged against the baselines in
/// [`DEFAULT_BASELINES`](super::headline::DEFAULT_BASELINES).
pub fn report(run: &RunDir) -> Result<Doc> {
    report_against(run, Path::new(super::headline::DEFAULT_BASELINES))
}

/// Builds the run report document, judged against the baseline of the run's profile in
/// `baselines` (`PROFILE.json` and `gates.toml`).
pub fn report_against(run: &RunDir, baselines: &Path) -> Result<Doc> {
    let mut doc = Doc::new(format!("Run report: profile {}", run.run.profile.name));
    let against = headline::against(run, baselines);
    headline::section(&mut doc, run, &against);
    run_section(&mut doc, run);
    totals_section(&mut doc, run, &against.rules);
    let classes = ordered_classes(run.run.classes.keys().chain(run.histograms.keys()));
    latency_section(&mut doc, run, &classes)?;
    timeline_section(&mut doc, run, &classes)?;
    if crate::soak::applies(run) {
        super::soak::section(&mut doc, run)?;
    }
    super::spike::section(&mut doc, run)?;
    super::appliance::section(&mut doc, run);
    super::browser::section(&mut doc, run);
    super::machine::section(&mut doc, run);
    cpu_section(&mut doc, run);
    Ok(doc)
}

/// What ran, when, on what: the run's provenance.
fn run_section(doc: &mut Doc, run: &RunDir) {
    let r = &run.run;
    doc.heading(1, "Run");
    let yes_no =
        |b: Option<bool>| b.map_or_else(|| tables::NOT_MEASURED.to_owned(), |b| b.to_string());
    let prov = r.provenance.clone().unwrap_or_default();
    let text = |s: &Option<String>| s.clone().unwrap_or_else(|| tables::NOT_MEASURED.to_owned());
    doc.table(
        &["field", "value"],
        vec![
            vec!["profile".into(), r.profile.name.clone()],
            vec!["complete".into(), yes_no(r.complete)],
            vec!["started".into(), text(&r.started_at)],
            vec!["ended".into(), text(&r.ended_at)],
            vec![
                "load generator saturated".into(),
                yes_no(r.load_generator_saturated),
            ],
            vec![
                "steady window".into(),
                r.steady_window.map_or_else(
                    || "whole run".into(),
                    |w| format!("{}s to {}s", w.start, w.end),
                ),
            ],
            vec![
                "commit".into(),
                format!(
                    "{}{}",
                    text(&prov.git_commit),
                    if prov.git_dirty == Some(true) {
                        " (dirty)"
                    } else {
                        ""
                    }
                ),
            ],
            vec!["rustc".into(), text(&prov.rustc)],
            vec!["build profile".into(), text(&prov.build_profile)],
            vec![
                "machine".into(),
                r.provenance.as_ref().map_or_else(
                    || tables::NOT_MEASURED.to_owned(),
                    |p| p.machine_fingerprint(),
                ),
            ],
        ],
    );
}

/// Totals, request classes and the gated figures that apply to the run.
fn totals_section(doc: &mut Doc, run: &RunDir, rules: &[Rule]) {
    let r = &run.run;
    let totals = r.totals.clone().unwrap_or_default();
    doc.heading(1, "Totals");
    doc.table(
        &["requests", "failures", "achieved rps", "offered rps"],
        vec![vec![
            totals.requests.to_string(),
            totals.failures.to_string(),
            tables::opt(totals.rps),
            totals
                .offered_rps
                .map_or_else(|| "open loop".into(), crate::rules::fmt_num),
        ]],
    );
    doc.heading(1, "Request classes");
    doc.table(&CLASS_HEADER, class_rows(&r.classes, &run.histograms));
    doc.heading(1, "Resources and gated figures");
    let gated: Vec<_> = rules.iter().map(|r| r.metric).collect();
    let figures = global_figures(&metrics::extract(run), &gated);
    doc.table(&["metric", "value"], figures.rows.clone());
    if let Some(line) = figures.skipped_line() {
        doc.para(line);
    }
}

/// The percentile spectrum per class, and the corrected one when the run was paced.
fn latency_section(doc: &mut Doc, run: &RunDir, classes: &[String]) -> Result<()> {
    let r = &run.run;
    doc.heading(1, "Latency");
    let spectra: Vec<_> = classes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let q = spectrum::quantiles(
                run.histograms.get(c),
                r.classes.get(c).and_then(|s| s.latency_us),
            )?;
            Some(spectrum::series(c, &q, i, false))
        })
        .collect();
    if spectra.is_empty() {
        doc.para(format!("Latency spectrum: {}.", tables::NOT_MEASURED));
    } else {
        doc.push(figure(
            "Latency percentile spectrum per class",
            "spectrum",
            spectrum::draw("Latency percentile spectrum", &spectra)?,
        ));
    }
    if !run.corrected.is_empty() {
        let series: Vec<_> = classes
            .iter()
            .enumerate()
            .flat_map(|(i, c)| {
                let measured = run.histograms.get(c).map(|h| {
                    spectrum::series(&format!("{c} measured"), &crate::hist::spectrum(h), i, true)
                });
                let corrected = run.corrected.get(c).map(|h| {
                    spectrum::series(
                        &format!("{c} corrected"),
                        &crate::hist::spectrum(h),
                        i,
                        false,
                    )
                });
                measured.into_iter().chain(corrected)
            })
            .collect();
        doc.para(
            "The run was paced: the corrected spectrum measures from when each request was \
             due, so a stall also counts the requests it delayed (coordinated omission).",
        );
        doc.push(figure(
            "Latency corrected for coordinated omission (faint: as measured)",
            "spectrum_corrected",
            spectrum::draw("Corrected latency spectrum", &series)?,
        ));
    }
    Ok(())
}

/// The per-second plots.
fn timeline_section(doc: &mut Doc, run: &RunDir, classes: &[String]) -> Result<()> {
    doc.heading(1, "Over time");
    match &run.timeseries {
        None => {
            doc.para(format!(
                "Time series: {} (no {}).",
                tables::NOT_MEASURED,
                files::TIMESERIES
            ));
        }
        Some(ts) => {
            for plot in timeline::plots(classes) {
                match timeline::draw(&plot, ts)? {
                    Some(svg) => doc.push(figure(plot.title, plot.name, svg)),
                    None => doc.para(format!("{}: {}.", plot.title, tables::NOT_MEASURED)),
                };
            }
        }
    }
    Ok(())
}

/// The flame graph link (with its sample count) and the top frames by self and total time.
fn cpu_section(doc: &mut Doc, run: &RunDir) {
    doc.heading(1, "CPU profile");
    if run.path.join(files::FLAMEGRAPH).is_file() {
        let samples = run.folded.as_deref().map_or_else(
            || "sample count not recorded".to_owned(),
            |f| format!("{} samples", folded::sample_count(f)),
        );
        doc.push(Block::Link {
            text: format!("Flame graph of the proxy ({samples})"),
            href: files::FLAMEGRAPH.into(),
        });
    }
    match &run.folded {
        None => {
            doc.para(format!("CPU stacks: {}.", tables::NOT_MEASURED));
        }
        Some(folded) => {
            doc.heading(2, "Top frames by self time");
            doc.table(
                &FRAME_HEADER,
                frame_rows(&top_frames(folded, TOP_FRAMES, Rank::SelfTime)),
            );
            doc.heading(2, "Top frames by total time");
            doc.table(
                &FRAME_HEADER,
                frame_rows(&top_frames(folded, TOP_FRAMES, Rank::TotalTime)),
            );
            if let Some(line) = scaffolding_line(folded) {
                doc.para(line);
            }
        }
    }
}

/// Frames named in the scaffolding line; the rest are counted.
const SCAFFOLDING_NAMED: usize = 4;

/// The one line under the totals table naming the runtime scaffolding it skipped.
pub fn scaffolding_line(folded: &str) -> Option<String> {
    let left_out = folded::scaffolding(folded);
    if left_out.is_empty() {
        return None;
    }
    let names: Vec<String> = left_out
        .iter()
        .take(SCAFFOLDING_NAMED)
        .map(|f| {
            format!(
                "{} ({:.0}%)",
                short_frame(&f.name).chars().take(60).collect::<String>(),
                f.total_fraction * 100.0
            )
        })
        .collect();
    let more = left_out.len().saturating_sub(SCAFFOLDING_NAMED);
    Some(format!(
        "Skipped: {} runtime scaffolding frame(s) that samples pass through on the way to \
         the proxy's work (program and thread start, runtime worker loops, task polling): {}{}.",
        left_out.len(),
        names.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Writes a document as `<stem>.md` and `<stem>.html` plus its figures, under `dir`.
pub fn write_doc(
    doc: &Doc,
    dir: &std::path::Path,
    stem: &str,
) -> Result<(PathBuf, PathBuf, Vec<PathBuf>)> {
    let mut plots = Vec::new();
    for (file, svg) in doc.figures() {
        let path = dir.join(file);
        write_atomic(&path, svg.as_bytes())?;
        plots.push(path);
    }
    let md = dir.join(format!("{stem}.md"));
    let html = dir.join(format!("{stem}.html"));
    write_atomic(&md, doc.to_markdown().as_bytes())?;
    write_atomic(&html, doc.to_html().as_bytes())?;
    Ok((md, html, plots))
}

/// Renders the run report into the run directory, judged against the baselines in
/// [`DEFAULT_BASELINES`](super::headline::DEFAULT_BASELINES).
pub fn render(run: &RunDir) -> Result<Rendered> {
    render_against(run, Path::new(super::headline::DEFAULT_BASELINES))
}

/// Renders the run report into the run directory, judged against the baseline of the
/// run's profile in `baselines`.
pub fn render_against(run: &RunDir, baselines: &Path) -> Result<Rendered> {
    let doc = report_against(run, baselines)?;
    let (markdown, html, plots) = write_doc(&doc, &run.path, "report")?;
    let summary = run.path.join("summary.csv");
    write_atomic(&summary, &super::summary::summary_csv(run)?)?;
    Ok(Rendered {
        markdown,
        html,
        summary,
        plots,
    })
}

/// A frame's name without its generic arguments (`block_on<...>` -> `block_on`): enough to
/// recognise scaffolding in one line.
fn short_frame(name: &str) -> &str {
    match name.split('<').next() {
        Some(head) if !head.is_empty() => head,
        _ => name,
    }
}
