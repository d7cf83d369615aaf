//! `perf-report promote`: turns a fit run into the committed baseline of its profile —
//! `NAME.json` (what the gate compares), `NAME.md` (what a release review cites) and
//! `NAME.folded` (CPU stacks for differential flame graphs).
//!
//! A baseline is the bar later releases are held to, so replacing one is a deliberate act.
//! An unfit run (interrupted, with failures, measured by a saturated load generator or on
//! a contended machine: [`checks`]) is refused, and so is a run measured on another kind of
//! machine than the committed document it would replace, unless the operator forces it and
//! records why; the note and the reasons overridden are written into the baseline. A
//! profile without a committed document (a fresh checkout) has nothing to replace. What
//! the new document changes against the old one is returned for printing ([`compare`]).

use crate::atomic::write_all_atomic;
use crate::error::{ReportError, Result};
use crate::metrics;
use crate::render::baseline_doc;
use crate::rules::Gates;
use crate::rundir::RunDir;
use rundir::baseline::{Baseline, BASELINE_SCHEMA_VERSION};
use rundir::folded::{top_frames, Rank};
use std::path::{Path, PathBuf};

pub mod checks;
pub mod compare;

pub use checks::{machine_differences, unfit_reasons, MAX_CONTENDED_SHARE};
pub use compare::Comparison;

/// Which command a refusal names to promote the run anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Suggest {
    /// `perf-report promote RUN --profile P --force --note "why"`.
    #[default]
    PerfReport,
    /// `make promote RUN=RUN PROFILE=P FORCE_NOTE="why"` (what `make baseline` passes).
    Make,
}

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
    /// The command a refusal names.
    pub suggest: Suggest,
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
    /// What the new document changes against the one it replaced (None: there was none).
    pub replaced: Option<Comparison>,
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
    let name = &opts.profile;
    let json_path = opts.out_dir.join(format!("{name}.json"));
    let r = &run.run;
    let provenance = r.provenance.clone().unwrap_or_default();
    let mut reasons = unfit_reasons(&run);
    // The document this run would replace; none on a fresh checkout.
    let previous = if json_path.exists() {
        match crate::baseline::read(&json_path) {
            Ok(b) => Some(b),
            Err(e) if opts.force => {
                reasons.push(format!("the committed baseline could not be read ({e})"));
                None
            }
            Err(e) => return Err(e),
        }
    } else {
        None
    };
    if let Some(old) = &previous {
        let differences = machine_differences(&old.provenance, &provenance);
        if !differences.is_empty() {
            reasons.push(format!(
                "the machine differs from the committed {name}.json's ({})",
                differences.join("; ")
            ));
        }
    }
    if !reasons.is_empty() && !opts.force {
        return Err(ReportError::UnfitRun {
            path: opts.run_dir.clone(),
            reasons,
            instead: instead(opts),
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
    let folded_name = format!("{name}.folded");
    let mut baseline = Baseline {
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
        replaced: None,
    };
    baseline.replaced = previous
        .as_ref()
        .map(|old| compare::compare(old, &baseline));
    let sizing = crate::sizing::for_baseline(&baseline, &opts.out_dir, &gates_path, gates.as_ref())
        .map_err(ReportError::Usage)?;
    let doc = baseline_doc::document(&baseline, &run, gates.as_ref(), sizing.as_ref());
    let json = serde_json::to_vec_pretty(&baseline)
        .expect("a baseline serialises: plain data, string keys");
    let out = |file: String| opts.out_dir.join(file);
    let folded = run.folded.as_ref().map(|_| out(folded_name));
    let markdown = out(format!("{name}.md"));
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
        replaced: baseline.replaced.clone(),
        json: json_path,
        markdown,
        folded,
        overridden: reasons,
    })
}

/// The one command that promotes the refused run anyway.
fn instead(opts: &PromoteOptions) -> String {
    let run = shell_word(&opts.run_dir.display().to_string());
    let profile = &opts.profile;
    match opts.suggest {
        Suggest::Make => {
            format!("make promote RUN={run} PROFILE={profile} FORCE_NOTE=\"why\"")
        }
        Suggest::PerfReport => {
            let out_dir = if opts.out_dir == Path::new("baselines") {
                String::new()
            } else {
                format!(
                    " --out-dir {}",
                    shell_word(&opts.out_dir.display().to_string())
                )
            };
            format!("perf-report promote {run} --profile {profile}{out_dir} --force --note \"why\"")
        }
    }
}

/// A word as a POSIX shell reads it back: quoted when it holds anything special.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:+,@".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
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
