//! `baselines/NAME.md`: the document a release review cites — what was run and how, the
//! SLOs, the measured numbers, the hottest CPU frames, allocations per request, and the
//! pass / hotfix / rollback criteria with their rationale.

use super::doc::{Block, Doc};
use super::tables::verdict_word;
use super::tables::{class_rows, frame_rows, global_figures, opt, CLASS_HEADER, FRAME_HEADER};
use crate::gate;
use crate::rules::{Gates, Kind, Rule};
use crate::rundir::RunDir;
use crate::sizing::Sizing;
use rundir::baseline::Baseline;

/// Builds the baseline document.
pub fn document(b: &Baseline, run: &RunDir, gates: Option<&Gates>, sizing: Option<&Sizing>) -> Doc {
    let mut doc = Doc::new(format!("Baseline: profile {}", b.profile));
    doc.para(format!(
        "Promoted {} from the run of {} to {}. Machine: {}.",
        b.promoted_at,
        b.run_started_at.as_deref().unwrap_or("?"),
        b.run_ended_at.as_deref().unwrap_or("?"),
        b.machine_fingerprint
    ));
    if let Some(note) = &b.note {
        doc.para(format!("Note: {note}"));
    }
    if b.forced {
        doc.para(format!("Forced over: {}.", b.overridden.join("; ")));
    }
    doc.heading(1, "What was run and how");
    let p = &b.provenance;
    doc.push(Block::List(vec![
        format!("Commit {}{}", p.git_commit.as_deref().unwrap_or("not recorded"), if p.git_dirty == Some(true) { " (dirty work tree)" } else { "" }),
        format!("Compiler: {}; build profile: {}", p.rustc.as_deref().unwrap_or("not recorded"), p.build_profile.as_deref().unwrap_or("not recorded")),
        format!("Load generator saturated: {}", run.run.load_generator_saturated.map_or("not measured".to_owned(), |s| s.to_string())),
        "Reproduce: run the same profile with the run harness, then `perf-report diff RUN_DIR --baseline` this file's JSON.".to_owned(),
    ]));
    doc.heading(2, "Profile settings");
    doc.push(Block::Code(
        serde_json::to_string_pretty(&b.profile_settings).unwrap_or_default(),
    ));
    let rules = gates.map(|g| g.for_profile(&b.profile)).unwrap_or_default();
    doc.heading(1, "Service level objectives");
    let slo_rules: Vec<Rule> = rules
        .iter()
        .filter(|r| r.kind == Kind::Absolute)
        .cloned()
        .collect();
    match gates.filter(|_| !slo_rules.is_empty()) {
        None => {
            doc.para("No absolute objectives are configured for this profile.");
        }
        Some(gates) => {
            // The baseline against its own objectives: a baseline that misses one says so.
            let own = gate::evaluate(gates, &slo_rules, &b.metrics, &b.metrics);
            let rows = own
                .evaluations
                .iter()
                .map(|e| {
                    vec![
                        e.metric.clone(),
                        crate::rules::describe_evaluation(e),
                        in_units(&e.metric, e.current),
                        verdict_word(e.verdict).to_owned(),
                        if e.enforce { "yes" } else { "reported only" }.to_owned(),
                    ]
                })
                .collect();
            doc.table(
                &["objective", "rule", "this baseline", "verdict", "enforced"],
                rows,
            );
        }
    }
    doc.heading(1, "Measured");
    doc.table(&CLASS_HEADER, class_rows(&b.classes, &run.histograms));
    let gated: Vec<_> = rules.iter().map(|r| r.metric).collect();
    let figures = global_figures(&b.metrics, &gated);
    doc.table(&["metric", "value"], figures.rows.clone());
    if let Some(line) = figures.skipped_line() {
        doc.para(line);
    }
    doc.heading(2, "Allocations per request");
    doc.para(format!(
        "{} allocations and {} bytes allocated per request.",
        opt(b.metrics.get("allocs_per_request").and_then(|v| v.value())),
        opt(b
            .metrics
            .get("bytes_allocated_per_request")
            .and_then(|v| v.value()))
    ));
    if let Some(sizing) = sizing {
        super::sizing::section(&mut doc, sizing);
    }
    doc.heading(1, "Top CPU frames (self time)");
    if b.top_frames.is_empty() {
        doc.para("CPU stacks: not measured.");
    } else {
        doc.table(&FRAME_HEADER, frame_rows(&b.top_frames));
    }
    doc.heading(1, "Pass, hotfix and rollback criteria");
    doc.para(
        "A later run passes when every enforced rule passes. Beyond a hotfix threshold it may \
         ship only as a hotfix; beyond a rollback threshold it must not ship. Relative rules \
         need the change beyond the threshold and statistically significant (bootstrap 95% \
         confidence interval of the ratio of medians of per-second samples excludes 1). A \
         gated metric that is not measured is not a pass.",
    );
    if rules.is_empty() {
        doc.para("No gate rules file was found when this baseline was promoted.");
    } else {
        doc.table(&CRITERIA_HEADER, rules.iter().map(criteria_row).collect());
    }
    doc
}

/// A metric key's value in its human unit (`24.8 KiB`, `8.75 ms`); the rule column keeps
/// the raw thresholds, as `gates.toml` writes them.
fn in_units(key: &str, v: Option<f64>) -> String {
    let name = key.split_once('.').map_or(key, |(m, _)| m);
    match (crate::metrics::Metric::from_name(name), v) {
        (Some(m), Some(v)) => crate::units::metric_value(m, v),
        _ => opt(v),
    }
}

const CRITERIA_HEADER: [&str; 4] = ["metric", "rule", "enforced", "why"];

fn criteria_row(r: &Rule) -> Vec<String> {
    let class = r
        .class
        .as_deref()
        .unwrap_or(if r.metric.per_class() { "*" } else { "" });
    let name = if class.is_empty() {
        r.metric.name().to_owned()
    } else {
        format!("{}.{class}", r.metric.name())
    };
    vec![
        name,
        r.describe(),
        if r.enforce { "yes" } else { "reported only" }.to_owned(),
        r.why.clone(),
    ]
}
