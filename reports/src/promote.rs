//! `perf-report promote`: turns a fit run into the committed baseline of its profile —
//! `NAME.json` (what the gate compares), `NAME.md` (what a release review cites) and
//! `NAME.folded` (CPU stacks for differential flame graphs).
//!
//! A baseline is the bar later releases are held to, so an unfit run (interrupted, with
//! failures, or measured by a saturated load generator) is refused unless the operator
//! forces it and records why; the reasons overridden are written into the baseline.

use crate::atomic::write_all_atomic;
use crate::error::{ReportError, Result};
use crate::metrics;
use crate::render::baseline_doc;
use crate::rules::Gates;
use crate::rundir::RunDir;
use rundir::baseline::{Baseline, BASELINE_SCHEMA_VERSION};
use rundir::folded::{top_frames, Rank};
use std::path::{Path, PathBuf};

/// What to promote and where.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Profile name; must be the run's profile.
    pub profile: String,
    /// Why (required with `force`).
    pub note: Option<String>,
    /// Override a refusal.
    pub force: bool,
    /// Output directory (`baselines`).
    pub out_dir: PathBuf,
    /// Gate rules to print in the document; None: `<out_dir>/gates.toml` if it exists.
    pub gates: Option<PathBuf>,
}

/// Files written by [`promote`].
#[derive(Debug, Clone)]
pub struct Promoted {
    /// `NAME.json`.
    pub json: PathBuf,
    /// `NAME.md`.
    pub markdown: PathBuf,
    /// `NAME.folded`, when the run had CPU stacks.
    pub folded: Option<PathBuf>,
    /// Refusal reasons that were overridden by `--force`.
    pub overridden: Vec<String>,
}

/// Why a run is unfit to be a baseline (empty: fit).
pub fn unfit_reasons(run: &RunDir) -> Vec<String> {
    let r = &run.run;
    let mut reasons = Vec::new();
    match r.complete {
        Some(true) => {}
        Some(false) => reasons.push("the run is incomplete (interrupted)".to_owned()),
        None => reasons.push("the run does not say it completed".to_owned()),
    }
    let failures: u64 = r
        .classes
        .values()
        .map(|c| c.failures)
        .sum::<u64>()
        .max(r.totals.as_ref().map_or(0, |t| t.failures));
    if failures > 0 {
        reasons.push(format!("the run had {failures} failed requests"));
    }
    if r.route.as_deref() == Some("direct") {
        reasons.push(
            "the run went straight to the origin (route: direct), not through the proxy".to_owned(),
        );
    }
    if r.load_generator_saturated == Some(true) {
        reasons.push(
            "the load generator was saturated (the numbers measure it, not the proxy)".to_owned(),
        );
    }
    reasons
}

/// Promotes a run; see the module documentation.
pub fn promote(opts: &PromoteOptions) -> Result<Promoted> {
    if opts.force && opts.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ReportError::Usage(
            "--force needs --note \"why this run is still the bar\"".to_owned(),
        ));
    }
    valid_name(&opts.profile)?;
    let run = RunDir::load(&opts.run_dir)?;
    if run.profile() != opts.profile {
        return Err(ReportError::Usage(format!(
            "the run used profile '{}', not '{}'",
            run.profile(),
            opts.profile
        )));
    }
    let reasons = unfit_reasons(&run);
    if !reasons.is_empty() && !opts.force {
        return Err(ReportError::UnfitRun {
            path: opts.run_dir.clone(),
            reasons,
        });
    }
    let gates_path = opts
        .gates
        .clone()
        .unwrap_or_else(|| opts.out_dir.join("gates.toml"));
    let gates = if opts.gates.is_some() || gates_path.is_file() {
        Some(Gates::load(&gates_path)?)
    } else {
        None
    };
    let name = &opts.profile;
    let folded_name = format!("{name}.folded");
    let r = &run.run;
    let provenance = r.provenance.clone().unwrap_or_default();
    let baseline = Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        profile: r.profile.name.clone(),
        profile_settings: r.profile.settings.clone(),
        promoted_at: rundir::time::now_rfc3339(),
        run_started_at: r.started_at.clone(),
        run_ended_at: r.ended_at.clone(),
        note: opts.note.clone(),
        forced: !reasons.is_empty(),
        overridden: reasons.clone(),
        machine_fingerprint: provenance.machine_fingerprint(),
        provenance,
        metrics: metrics::extract(&run),
        classes: r.classes.clone(),
        histograms: run
            .histograms
            .iter()
            .map(|(c, h)| (c.clone(), rundir::hdr::to_base64(h)))
            .collect(),
        folded: run.folded.as_ref().map(|_| folded_name.clone()),
        top_frames: run
            .folded
            .as_deref()
            .map(|f| top_frames(f, 15, Rank::SelfTime))
            .unwrap_or_default(),
    };
    let doc = baseline_doc::document(&baseline, &run, gates.as_ref());
    let json = serde_json::to_vec_pretty(&baseline)
        .expect("a baseline serialises: plain data, string keys");
    let out = |file: String| opts.out_dir.join(file);
    let folded = run.folded.as_ref().map(|_| out(folded_name));
    let markdown = out(format!("{name}.md"));
    let json_path = out(format!("{name}.json"));
    let md_text = doc.to_markdown();
    // All three are staged before any is renamed, the stacks first and the JSON last: the
    // JSON refers to the others and is what the gate reads.
    let mut files: Vec<(&Path, &[u8])> = Vec::new();
    if let (Some(path), Some(text)) = (&folded, &run.folded) {
        files.push((path, text.as_bytes()));
    }
    files.push((&markdown, md_text.as_bytes()));
    files.push((&json_path, &json));
    write_all_atomic(&files)?;
    Ok(Promoted {
        json: json_path,
        markdown,
        folded,
        overridden: reasons,
    })
}

fn valid_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ReportError::Usage(format!(
            "profile name '{name}' must be letters, digits, '-' or '_' (it becomes a file name)"
        )))
    }
}

/// The baseline path for a profile under a directory.
pub fn baseline_path(dir: &Path, profile: &str) -> PathBuf {
    dir.join(format!("{profile}.json"))
}
