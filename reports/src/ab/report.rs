//! The A/B session's verdict report: `gate.md`, `gate.html`, `verdict.json`, the
//! latency spectra of both arms and the differential flame graph of control vs candidate.
//!
//! A verdict without evidence gets overridden, so every regression comes with what
//! explains it: the per-pair effects, the metric's distributions in both arms side by
//! side, and the CPU stacks of the same session (not of another day's baseline) as a
//! differential flame graph. Both comparisons are shown: candidate vs control today (the
//! enforced one) and candidate vs the committed document (what release reviews cite).

use super::outcome::GateOutcome;
use super::trial::Measured;
use crate::atomic::write_atomic;
use crate::callgrind;
use crate::diff::{row, verdict_word, DIFF_FLAMEGRAPH};
use crate::error::Result;
use crate::gate::GateReport;
use crate::plots::spectrum;
use crate::render::doc::figure;
use crate::render::doc::{Block, Doc};
use crate::render::run::write_doc;
use crate::render::tables::ordered_classes;
use crate::rules::{fmt_num, Evaluation, Kind, Method};
use crate::stats;
use rundir::baseline::Baseline;
use rundir::verdict::Mode;
use rundir::verdict::{SessionVerdict, GATE_VERDICT_SCHEMA_VERSION};
use std::path::Path;

/// What the report is about besides the outcome.
pub struct Inputs<'a> {
    /// Profile name.
    pub profile: &'a str,
    /// The committed document and its path, if any.
    pub baseline: Option<(&'a Baseline, &'a Path)>,
    /// Control trials in run order.
    pub control: &'a [Measured],
    /// Candidate trials in run order.
    pub candidate: &'a [Measured],
}

/// Writes the report files into the session directory.
pub fn write(outcome: &GateOutcome, inputs: &Inputs<'_>) -> Result<()> {
    let dir = &outcome.out_dir;
    let mut doc = Doc::new(format!("Release gate: profile {}", inputs.profile));
    doc.para(format!("Verdict: {}.", verdict_word(outcome.verdict)));
    match &outcome.mode {
        Mode::Interleaved {
            control_commit,
            reused,
        } => doc.para(format!(
            "Candidate and control (the baseline's build, commit {control_commit}{}) were \
             measured alternately in this session, {} pairs; the verdict is decided pair by pair.",
            if *reused {
                ", cached binary"
            } else {
                ", built now"
            },
            inputs.control.len().min(inputs.candidate.len())
        )),
        Mode::DocumentOnly { reason } => doc.para(format!(
            "WEAKER CHECK: no control could be measured today ({reason}). The candidate was \
             compared with the committed document only, which mixes the change with the \
             difference between today's machine and the baseline's."
        )),
    };
    if !outcome.warnings.is_empty() {
        doc.heading(1, "Warnings");
        doc.push(Block::List(outcome.warnings.clone()));
    }
    if let Some(today) = &outcome.today {
        doc.heading(1, "Candidate vs control today (enforced)");
        evaluation_table(&mut doc, today);
    }
    if let Some(document) = &outcome.document {
        doc.heading(
            1,
            if outcome.today.is_some() {
                "Candidate vs the committed document (for the record)"
            } else {
                "Candidate vs the committed document (enforced: weaker check)"
            },
        );
        if let Some((b, _)) = inputs.baseline {
            doc.para(format!(
                "Baseline promoted {} from commit {}.",
                b.promoted_at,
                b.provenance.git_commit.as_deref().unwrap_or("not recorded")
            ));
        }
        evaluation_table(&mut doc, document);
    }
    distributions(&mut doc, outcome, inputs);
    spectra(&mut doc, inputs)?;
    flame_graph(&mut doc, dir, inputs)?;
    instruction_changes(&mut doc, inputs);
    doc.heading(1, "Trials");
    doc.push(Block::List(
        inputs
            .control
            .iter()
            .chain(inputs.candidate)
            .map(|m| m.run.path.display().to_string())
            .collect(),
    ));
    write_doc(&doc, dir, "gate")?;
    let json = SessionVerdict {
        schema_version: GATE_VERDICT_SCHEMA_VERSION,
        profile: inputs.profile.to_owned(),
        verdict: verdict_word(outcome.verdict).to_owned(),
        mode: outcome.mode.clone(),
        trials: inputs.control.len() + inputs.candidate.len(),
        warnings: outcome.warnings.clone(),
        today: outcome.today.clone(),
        document: outcome.document.clone(),
    };
    let bytes = serde_json::to_vec_pretty(&json).expect("a verdict serialises: plain data");
    write_atomic(&dir.join("verdict.json"), &bytes)
}

fn evaluation_table(doc: &mut Doc, report: &GateReport) {
    doc.table(
        &[
            "metric",
            "control",
            "candidate",
            "change",
            "95% CI of ratio",
            "p (Mann-Whitney)",
            "rule",
            "verdict",
            "per pair",
        ],
        report
            .evaluations
            .iter()
            .map(|e| {
                let mut r = row(e);
                r.push(pair_effects(e));
                r
            })
            .collect(),
    );
}

fn pair_effects(e: &Evaluation) -> String {
    if e.method != Method::PairedTrials {
        return "-".to_owned();
    }
    e.pair_effects
        .iter()
        .map(|&x| match e.kind {
            Kind::Delta => format!("{}{}", if x >= 0.0 { "+" } else { "" }, fmt_num(x)),
            Kind::Relative | Kind::Absolute | Kind::Shift => format!("{:+.1}%", x * 100.0),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per compared metric: each trial's value and the per-second quartiles of each arm.
fn distributions(doc: &mut Doc, outcome: &GateOutcome, inputs: &Inputs<'_>) {
    let Some(report) = outcome.enforced() else {
        return;
    };
    let mut names: Vec<&str> = report
        .evaluations
        .iter()
        .filter(|e| e.kind != Kind::Absolute)
        .map(|e| e.metric.as_str())
        .collect();
    names.dedup();
    let arm = |trials: &[Measured], name: &str| -> (String, String) {
        let values: Vec<String> = trials
            .iter()
            .map(|m| {
                m.metrics
                    .get(name)
                    .and_then(|v| v.value())
                    .map_or_else(|| "-".to_owned(), fmt_num)
            })
            .collect();
        let mut samples: Vec<f64> = trials
            .iter()
            .filter_map(|m| m.metrics.get(name))
            .flat_map(|v| v.samples.iter().copied())
            .collect();
        samples.sort_by(f64::total_cmp);
        let spread = match (
            stats::quantile_sorted(&samples, 0.1),
            stats::quantile_sorted(&samples, 0.5),
            stats::quantile_sorted(&samples, 0.9),
        ) {
            (Some(a), Some(b), Some(c)) => format!(
                "{} / {} / {} (n={})",
                fmt_num(a),
                fmt_num(b),
                fmt_num(c),
                samples.len()
            ),
            _ => "no per-second samples".to_owned(),
        };
        (values.join(", "), spread)
    };
    doc.heading(1, "Distributions side by side");
    doc.para(
        "Each trial's value in run order, and the 10th / 50th / 90th percentiles of the \
         per-second samples pooled over each arm's trials.",
    );
    let rows = names
        .into_iter()
        .map(|name| {
            let (cv, cs) = arm(inputs.control, name);
            let (bv, bs) = arm(inputs.candidate, name);
            vec![name.to_owned(), cv, bv, cs, bs]
        })
        .collect();
    doc.table(
        &[
            "metric",
            "control trials",
            "candidate trials",
            "control per-second p10/p50/p90",
            "candidate per-second p10/p50/p90",
        ],
        rows,
    );
}

/// Latency spectra of both arms (each arm's trials merged), per class.
fn spectra(doc: &mut Doc, inputs: &Inputs<'_>) -> Result<()> {
    let merged = |trials: &[Measured], class: &str| {
        let mut it = trials.iter().filter_map(|m| m.run.histograms.get(class));
        let mut acc = it.next()?.clone();
        for h in it {
            // Same bounds and precision (one writer); a failed add leaves the partial sum.
            let _ = acc.add(h);
        }
        Some(acc)
    };
    let classes = ordered_classes(
        inputs
            .control
            .iter()
            .chain(inputs.candidate)
            .flat_map(|m| m.run.histograms.keys()),
    );
    if classes.is_empty() {
        return Ok(());
    }
    doc.heading(1, "Latency spectra: control (faint) and candidate");
    for (i, class) in classes.iter().enumerate() {
        let mut series = Vec::new();
        if let Some(h) = merged(inputs.control, class) {
            let q = crate::hist::spectrum(&h);
            series.push(spectrum::series(&format!("{class} control"), &q, i, true));
        }
        if let Some(h) = merged(inputs.candidate, class) {
            let q = crate::hist::spectrum(&h);
            series.push(spectrum::series(
                &format!("{class} candidate"),
                &q,
                i,
                false,
            ));
        }
        let svg = spectrum::draw(&format!("Latency spectrum: {class}"), &series)?;
        doc.push(figure(
            &format!("{class}: control vs candidate"),
            &format!("spectrum_{class}"),
            svg,
        ));
    }
    Ok(())
}

/// Functions whose instructions per request changed most, from the instruction passes'
/// callgrind dumps of the same session (exact counts: no sampling error to read past).
fn instruction_changes(doc: &mut Doc, inputs: &Inputs<'_>) {
    let costs = |trials: &[Measured]| -> Vec<(callgrind::SelfCost, u64)> {
        trials
            .iter()
            .filter_map(|m| {
                let requests = m.run.run.instructions.as_ref()?.requests;
                Some((callgrind::counted_costs(&m.run.path)?, requests))
            })
            .collect()
    };
    let (control, candidate) = (costs(inputs.control), costs(inputs.candidate));
    if control.is_empty() || candidate.is_empty() {
        return;
    }
    doc.heading(
        1,
        "Instructions: functions whose cost per request changed (same session)",
    );
    doc.para(format!(
        "Self instructions per request of each function in the instruction pass \
         (callgrind), median over {} control and {} candidate trials; largest changes first.",
        control.len(),
        candidate.len()
    ));
    let rows: Vec<Vec<String>> = callgrind::top_changes(&control, &candidate, 12)
        .into_iter()
        .map(|c| {
            let delta = format!("{:+.0}", c.delta());
            vec![
                c.name,
                format!("{:.0}", c.control),
                format!("{:.0}", c.candidate),
                delta,
            ]
        })
        .collect();
    if rows.is_empty() {
        doc.para("No function's count changed.");
    } else {
        doc.push(Block::Table {
            header: ["function", "control", "candidate", "change"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
}

/// The differential flame graph of the session's control stacks vs candidate stacks.
fn flame_graph(doc: &mut Doc, dir: &Path, inputs: &Inputs<'_>) -> Result<()> {
    let folded = |trials: &[Measured]| -> Option<String> {
        let all: Vec<&str> = trials
            .iter()
            .filter_map(|m| m.run.folded.as_deref().map(str::trim_end))
            .collect();
        (!all.is_empty()).then(|| all.join("\n"))
    };
    doc.heading(
        1,
        "CPU: differential flame graph, control vs candidate (same session)",
    );
    match (folded(inputs.control), folded(inputs.candidate)) {
        (Some(before), Some(after)) => {
            let svg = rundir::flame::differential_svg_named(
                &before,
                &after,
                "Control vs candidate, same session: red got hotter, blue cooler",
                ["control", "candidate"],
            )?;
            write_atomic(&dir.join(DIFF_FLAMEGRAPH), &svg)?;
            let samples = |f: &str| rundir::folded::sample_count(f);
            doc.push(Block::Link {
                text: format!(
                    "Differential flame graph (red: hotter in the candidate; {} control and {} \
                     candidate samples)",
                    samples(&before),
                    samples(&after)
                ),
                href: DIFF_FLAMEGRAPH.into(),
            });
            let top = rundir::folded::top_frames(&after, 8, rundir::folded::Rank::SelfTime);
            if !top.is_empty() {
                doc.para(format!(
                    "Candidate's hottest frames by self time: {}.",
                    top.iter()
                        .map(|f| format!("{} {:.1}%", f.name, f.self_fraction * 100.0))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        _ => {
            doc.para("CPU stacks: not recorded in both arms; no differential flame graph.");
        }
    }
    Ok(())
}
