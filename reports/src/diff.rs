//! `perf-report diff`: a run against a promoted baseline under the gate rules.
//!
//! Writes `diff.md`, `diff.html` and `verdict.json` (every gated metric: baseline, current,
//! change, rule, verdict), overlaid percentile spectra, and a differential flame graph of
//! the baseline's and the run's CPU stacks, with both sides' sample counts and a warning
//! naming a side too thin to judge (`rundir::flame::MIN_DIFF_SAMPLES`). Bad input (a missing file, a schema mismatch, a
//! baseline of another profile) is an error, never a verdict.

use crate::atomic::write_atomic;
use crate::error::{ReportError, Result};
use crate::gate::{self, GateReport};
use crate::metrics;
use crate::plots::spectrum;
use crate::render::doc::figure;
use crate::render::doc::{Block, Doc, Tone};
use crate::render::run::write_doc;
use crate::render::tables::ordered_classes;
pub use crate::render::tables::verdict_word;
use crate::rules::{fmt_num, Evaluation, Gates, Method};
use crate::rundir::RunDir;
use rundir::baseline::Baseline;
use rundir::flame;
use rundir::folded::sample_count;
use rundir::verdict::{DiffVerdict, VERDICT_SCHEMA_VERSION};
use std::path::{Path, PathBuf};

/// File name of the differential flame graph.
pub const DIFF_FLAMEGRAPH: &str = "diff-flamegraph.svg";

/// What to compare.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// The baseline document.
    pub baseline: PathBuf,
    /// Gate rules; None: `gates.toml` beside the baseline.
    pub gates: Option<PathBuf>,
    /// Where to write the outputs; None: the run directory.
    pub out_dir: Option<PathBuf>,
}

/// Runs the comparison and writes its outputs; returns the gate report.
pub fn diff(opts: &DiffOptions) -> Result<GateReport> {
    let baseline = crate::baseline::read(&opts.baseline)?;
    let run = RunDir::load(&opts.run_dir)?;
    if baseline.profile != run.profile() {
        return Err(ReportError::ProfileMismatch {
            path: opts.baseline.clone(),
            baseline: baseline.profile.clone(),
            run: run.profile().to_owned(),
        });
    }
    if run.run.complete != Some(true) {
        return Err(ReportError::NotAMeasurement {
            path: opts.run_dir.clone(),
            reason: "the run is incomplete (interrupted or not marked complete)".to_owned(),
        });
    }
    if let Some(why) = run.run.merge.as_ref().and_then(|m| m.invalid.first()) {
        return Err(ReportError::NotAMeasurement {
            path: opts.run_dir.clone(),
            reason: format!("the merged run is invalid: {why}"),
        });
    }
    let gates_path = opts.gates.clone().unwrap_or_else(|| {
        opts.baseline
            .parent()
            .unwrap_or(Path::new("."))
            .join("gates.toml")
    });
    let gates = Gates::load(&gates_path)?;
    let rules = gates.for_profile(&baseline.profile);
    let current = metrics::extract(&run);
    let report = gate::evaluate(&gates, &rules, &baseline.metrics, &current);
    let out_dir = opts.out_dir.clone().unwrap_or_else(|| opts.run_dir.clone());
    let base_hists = crate::baseline::histograms(&baseline, &opts.baseline)?;
    let base_folded = crate::baseline::folded_stacks(&baseline, &opts.baseline)?;
    // verdict.json's warnings qualify the verdict; a thin CPU profile qualifies only the
    // differential flame graph (no gated figure comes from it), so it is in the documents.
    let verdict_warnings = warnings(&baseline, &run);
    let mut notes = verdict_warnings.clone();
    let thin = match (&base_folded, &run.folded) {
        (Some(before), Some(after)) => {
            flame::thin_sides([("baseline", before), ("current", after)])
        }
        _ => Vec::new(),
    };
    notes.extend(thin.iter().map(|t| format!("CPU profiles: {t}")));
    let mut doc = document(&baseline, &report, &notes)?;
    doc.heading(1, "Latency spectra: baseline (faint) and current");
    for (i, class) in ordered_classes(base_hists.keys().chain(run.histograms.keys()))
        .iter()
        .enumerate()
    {
        let mut series = Vec::new();
        let base_q = spectrum::quantiles(
            base_hists.get(class),
            baseline.classes.get(class).and_then(|s| s.latency_us),
        );
        if let Some(q) = base_q {
            series.push(spectrum::series(&format!("{class} baseline"), &q, i, true));
        }
        let cur_q = spectrum::quantiles(
            run.histograms.get(class),
            run.run.classes.get(class).and_then(|s| s.latency_us),
        );
        if let Some(q) = cur_q {
            series.push(spectrum::series(&format!("{class} current"), &q, i, false));
        }
        let svg = spectrum::draw(&format!("Latency spectrum: {class}"), &series)?;
        doc.push(figure(
            &format!("{class}: baseline vs current"),
            &format!("spectrum_{class}"),
            svg,
        ));
    }
    doc.heading(1, "CPU: differential flame graph");
    match (&base_folded, &run.folded) {
        (Some(before), Some(after)) => {
            let svg = flame::differential_svg(
                before,
                after,
                "Baseline vs current: red got hotter, blue cooler",
            )?;
            write_atomic(&out_dir.join(DIFF_FLAMEGRAPH), &svg)?;
            for t in &thin {
                doc.push(Block::Note {
                    tone: Tone::Warn,
                    text: format!("Warning: {t}."),
                });
            }
            doc.push(Block::Link {
                text: format!(
                    "Differential flame graph (red: hotter than the baseline; baseline {} \
                     samples, current {} samples)",
                    sample_count(before),
                    sample_count(after)
                ),
                href: DIFF_FLAMEGRAPH.into(),
            });
        }
        _ => {
            doc.para("CPU stacks: not measured on one side; no differential flame graph.");
        }
    }
    write_doc(&doc, &out_dir, "diff")?;
    let verdict = DiffVerdict {
        schema_version: VERDICT_SCHEMA_VERSION,
        profile: baseline.profile.clone(),
        baseline: opts
            .baseline
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        baseline_promoted_at: baseline.promoted_at.clone(),
        warnings: verdict_warnings,
        report: report.clone(),
    };
    let json = serde_json::to_vec_pretty(&verdict).expect("a verdict serialises: plain data");
    write_atomic(&out_dir.join("verdict.json"), &json)?;
    Ok(report)
}

fn document(baseline: &Baseline, report: &GateReport, notes: &[String]) -> Result<Doc> {
    let mut doc = Doc::new(format!("Diff: profile {}", baseline.profile));
    doc.para(format!(
        "Verdict: {}. Baseline promoted {} ({}).",
        verdict_word(report.verdict),
        baseline.promoted_at,
        baseline
            .provenance
            .git_commit
            .as_deref()
            .unwrap_or("commit not recorded")
    ));
    if !notes.is_empty() {
        doc.heading(1, "Warnings");
        doc.push(Block::List(notes.to_vec()));
    }
    doc.heading(1, "Gated metrics");
    doc.table(
        &[
            "metric",
            "baseline",
            "current",
            "change",
            "95% CI of ratio",
            "p (Mann-Whitney)",
            "rule",
            "verdict",
        ],
        report.evaluations.iter().map(row).collect(),
    );
    Ok(doc)
}

/// One row of the gated-metrics table.
pub fn row(e: &Evaluation) -> Vec<String> {
    let num = |v: Option<f64>| v.map_or_else(|| "not measured".to_owned(), fmt_num);
    let method = match e.method {
        Method::BootstrapMedians => " [medians of per-second samples]",
        Method::Point => " [whole-run values]",
        Method::PairedTrials => " [paired trials]",
        Method::Absolute | Method::None => "",
    };
    vec![
        e.metric.clone(),
        num(e.baseline),
        num(e.current),
        e.change
            .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0)),
        e.ci.map_or_else(
            || "-".to_owned(),
            |ci| format!("{:.3} to {:.3}", ci.low, ci.high),
        ),
        e.p_value
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.3}")),
        format!("{}{method}", crate::rules::describe_evaluation(e)),
        format!(
            "{}{}: {}",
            verdict_word(e.verdict),
            if e.enforce { "" } else { " (reported only)" },
            e.reason
        ),
    ]
}

/// Reasons to read a verdict with care.
pub fn warnings(baseline: &Baseline, run: &RunDir) -> Vec<String> {
    let mut out = Vec::new();
    let provenance = run.run.provenance.clone().unwrap_or_default();
    // The same rule as promotion's: CPU model, cores and kernel series, not the kernel's
    // build string.
    let differences = crate::promote::machine_differences(&baseline.provenance, &provenance);
    if !differences.is_empty() {
        out.push(format!(
            "different machines (baseline: {}; current: {}; {}): relative figures may not be comparable",
            baseline.machine_fingerprint,
            provenance.machine_fingerprint(),
            differences.join("; ")
        ));
    }
    if run.run.load_generator_saturated == Some(true) {
        out.push(
            "the load generator was saturated: the figures measure it as much as the proxy"
                .to_owned(),
        );
    }
    if run.run.route.as_deref() == Some("direct") {
        out.push(
            "the run went straight to the origin (route: direct): it does not measure the proxy"
                .to_owned(),
        );
    }
    if provenance.git_dirty == Some(true) {
        out.push("the proxy was built from a work tree with uncommitted changes".to_owned());
    }
    if baseline.forced {
        out.push(format!(
            "the baseline was promoted by force: {}",
            baseline.overridden.join("; ")
        ));
    }
    out
}
