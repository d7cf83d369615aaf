//! The interleaved A/B release gate (`perf-report gate`): the candidate measured side by
//! side with the baseline's own build, on the same machine, in the same session.
//!
//! Why: a committed baseline was measured on another day, maybe on another machine;
//! comparing today's run with it mixes the release's change with the machine's mood.
//! Measuring a control (the baseline's commit, built in a worktree: [`build`]) and the
//! candidate alternately ([`schedule`]) with the same harness ([`trial`]) and deciding on
//! the pairs ([`decide`]) removes the machine from the comparison. The committed baseline
//! document stays what release reviews cite, so the verdict report ([`report`]) shows
//! both: candidate vs control today (the enforced verdict) and candidate vs the document.
//! When the baseline's commit is not in history or does not build, the session says so
//! and falls back to the document, marked as the weaker check.

pub mod build;
pub mod calibration;
pub mod decide;
pub mod outcome;
pub mod report;
pub mod schedule;
pub mod trial;

use crate::error::{ReportError, Result};
use crate::gate::{self, GateReport};
use crate::rules::{Gates, Verdict};
use build::{BuildDirs, Compiler, ControlBuild};
use rundir::baseline::{Baseline, MetricSet};
use schedule::Arm;
use std::path::{Path, PathBuf};
use trial::{ArmSpec, Measured, TrialRunner};

/// What to gate and how.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// The profile's name (the baseline and the gate rules are looked up by it).
    pub profile: String,
    /// The baseline document; None or absent file: no document comparison.
    pub baseline: Option<PathBuf>,
    /// The gate rules.
    pub gates: PathBuf,
    /// The session directory (trials, report, verdict).
    pub out_dir: PathBuf,
    /// Pairs to run; None: from the rules file.
    pub pairs: Option<u32>,
    /// Where to build and cache binaries.
    pub dirs: BuildDirs,
    /// Use this control binary instead of building the baseline's commit.
    pub control_bin: Option<PathBuf>,
    /// Use this candidate binary instead of building the work tree.
    pub candidate_bin: Option<PathBuf>,
    /// Cargo features of the candidate build.
    pub candidate_features: Vec<String>,
    /// Environment of the control's trials.
    pub control_env: Vec<(String, String)>,
    /// Environment of the candidate's trials.
    pub candidate_env: Vec<(String, String)>,
}

pub use outcome::GateOutcome;
pub use rundir::verdict::{Accept, Mode};

impl GateOutcome {
    /// The enforcing report.
    pub fn enforced(&self) -> Option<&GateReport> {
        self.today.as_ref().or(self.document.as_ref())
    }

    /// Process exit code: see [`GateReport::exit_code`].
    pub fn exit_code(&self, accept: Accept) -> i32 {
        self.enforced().map_or(1, |r| r.exit_code(accept))
    }
}

/// Builds both arms, runs the trials, decides, and writes the verdict report.
pub fn run_gate(
    opts: &GateOptions,
    compiler: &dyn Compiler,
    runner: &mut dyn TrialRunner,
) -> Result<GateOutcome> {
    let gates = Gates::load(&opts.gates)?;
    let rules = gates.for_profile(&opts.profile);
    let pairs = opts
        .pairs
        .unwrap_or(gates.session(&opts.profile).pairs)
        .max(1) as usize;
    let baseline = read_baseline(opts)?;
    let control = match &opts.control_bin {
        Some(bin) => ControlBuild::Ready {
            commit: "given".to_owned(),
            bin: bin.clone(),
            reused: true,
        },
        None => build::control(
            &opts.dirs,
            baseline
                .as_ref()
                .and_then(|(b, _)| b.provenance.git_commit.as_deref()),
            compiler,
        ),
    };
    let mode = mode_of(&control, baseline.is_some())?;
    let arms = Arms {
        control: match &control {
            ControlBuild::Ready { bin, .. } => Some(ArmSpec {
                bin: bin.clone(),
                env: opts.control_env.clone(),
            }),
            ControlBuild::Unavailable { .. } => None,
        },
        candidate: ArmSpec {
            bin: candidate_bin(opts, compiler)?,
            env: opts.candidate_env.clone(),
        },
    };
    let session = run_trials(&opts.out_dir, pairs, &arms, runner)?;
    let control_sets: Vec<MetricSet> = session.control.iter().map(|m| m.metrics.clone()).collect();
    let candidate_sets: Vec<MetricSet> = session
        .candidate
        .iter()
        .map(|m| m.metrics.clone())
        .collect();
    let today = arms
        .control
        .is_some()
        .then(|| decide::decide(&gates, &rules, &control_sets, &candidate_sets));
    let document = baseline.as_ref().map(|(b, _)| {
        let pooled = pool_arm(&candidate_sets);
        gate::evaluate(&gates, &rules, &b.metrics, &pooled)
    });
    let verdict = today
        .as_ref()
        .or(document.as_ref())
        .map_or(Verdict::Missing, |r| r.verdict);
    let warnings = warnings(opts, &control, &arms, &mode, baseline.as_ref(), &session);
    let outcome = GateOutcome {
        verdict,
        mode,
        today,
        document,
        out_dir: opts.out_dir.clone(),
        warnings,
    };
    report::write(
        &outcome,
        &report::Inputs {
            profile: &opts.profile,
            baseline: baseline.as_ref().map(|(b, p)| (b, p.as_path())),
            control: &session.control,
            candidate: &session.candidate,
        },
    )?;
    Ok(outcome)
}

/// The committed baseline document of the profile, when there is one (refused when it
/// belongs to another profile).
fn read_baseline(opts: &GateOptions) -> Result<Option<(Baseline, PathBuf)>> {
    let baseline = match &opts.baseline {
        Some(path) if path.is_file() => Some((crate::baseline::read(path)?, path.clone())),
        _ => None,
    };
    if let Some((b, path)) = &baseline {
        if b.profile != opts.profile {
            return Err(ReportError::ProfileMismatch {
                path: path.clone(),
                baseline: b.profile.clone(),
                run: opts.profile.clone(),
            });
        }
    }
    Ok(baseline)
}

/// Interleaved when the control built; else the document alone, if there is one.
fn mode_of(control: &ControlBuild, have_baseline: bool) -> Result<Mode> {
    Ok(match control {
        ControlBuild::Ready { commit, reused, .. } => Mode::Interleaved {
            control_commit: commit.clone(),
            reused: *reused,
        },
        ControlBuild::Unavailable { reason, .. } if have_baseline => Mode::DocumentOnly {
            reason: reason.clone(),
        },
        ControlBuild::Unavailable { reason, .. } => {
            return Err(ReportError::Session(format!(
                "no control build ({reason}) and no baseline document to fall back to"
            )))
        }
    })
}

/// The candidate's binary: given, or built from the work tree (named by its commit).
fn candidate_bin(opts: &GateOptions, compiler: &dyn Compiler) -> Result<PathBuf> {
    Ok(match &opts.candidate_bin {
        Some(bin) => bin.clone(),
        None => {
            let (commit, dirty) = build::head(&opts.dirs.repo);
            let name = format!(
                "candidate-{}{}",
                commit
                    .as_deref()
                    .map_or("unknown", |c| &c[..c.len().min(12)]),
                if dirty { "-dirty" } else { "" }
            );
            build::candidate(&opts.dirs, &name, &opts.candidate_features, compiler)
                .map_err(|e| ReportError::Session(format!("the candidate does not build:\n{e}")))?
        }
    })
}

/// Reasons to read the verdict with care: a saturated load generator, an A/A session, a
/// baseline measured from uncommitted changes.
fn warnings(
    opts: &GateOptions,
    control: &ControlBuild,
    arms: &Arms,
    mode: &Mode,
    baseline: Option<&(Baseline, PathBuf)>,
    session: &SessionTrials,
) -> Vec<String> {
    let mut warnings: Vec<String> = session
        .control
        .iter()
        .chain(&session.candidate)
        .filter(|m| m.run.run.load_generator_saturated == Some(true))
        .map(|m| {
            format!(
                "{}: the load generator was saturated; the machine was too busy for that trial",
                m.run.path.display()
            )
        })
        .collect();
    if let (ControlBuild::Ready { bin, .. }, None) = (control, &opts.control_bin) {
        let same = std::fs::read(bin).ok() == std::fs::read(&arms.candidate.bin).ok();
        if same {
            warnings.push(
                "the control and candidate binaries are identical: this session is an A/A run"
                    .to_owned(),
            );
        }
    }
    if let (Some((b, _)), Mode::Interleaved { .. }, None) = (baseline, mode, &opts.control_bin) {
        if b.provenance.git_dirty == Some(true) {
            warnings.push(
                "the baseline was measured from a work tree with uncommitted changes; the \
                 control is its commit without them"
                    .to_owned(),
            );
        }
    }
    warnings
}

/// One arm's trials pooled for the document comparison: per metric, the trials' median
/// value and all their per-second samples.
pub fn pool_arm(trials: &[MetricSet]) -> MetricSet {
    let keys: std::collections::BTreeSet<&String> = trials.iter().flat_map(|t| t.keys()).collect();
    keys.into_iter()
        .filter_map(|k| Some((k.clone(), decide::summarise_arm(k, trials)?)))
        .collect()
}

struct Arms {
    control: Option<ArmSpec>,
    candidate: ArmSpec,
}

struct SessionTrials {
    control: Vec<Measured>,
    candidate: Vec<Measured>,
}

/// Runs the schedule (A B A B ..., or only B when there is no control).
fn run_trials(
    out_dir: &Path,
    pairs: usize,
    arms: &Arms,
    runner: &mut dyn TrialRunner,
) -> Result<SessionTrials> {
    let trials_dir = out_dir.join("trials");
    std::fs::create_dir_all(&trials_dir).map_err(|source| ReportError::Write {
        path: trials_dir.clone(),
        source,
    })?;
    let mut session = SessionTrials {
        control: Vec::new(),
        candidate: Vec::new(),
    };
    for t in schedule::plan(pairs) {
        let spec = match t.arm {
            Arm::Control => match &arms.control {
                Some(spec) => spec,
                None => continue,
            },
            Arm::Candidate => &arms.candidate,
        };
        let dir = trials_dir.join(t.dir_name());
        eprintln!(
            "gate: trial {} ({}, pair {} of {pairs}) -> {}",
            t.index + 1,
            t.arm,
            t.pair + 1,
            dir.display()
        );
        runner
            .run(spec, &dir)
            .and_then(|()| trial::measure(&dir))
            .map(|m| match t.arm {
                Arm::Control => session.control.push(m),
                Arm::Candidate => session.candidate.push(m),
            })
            .map_err(|e| ReportError::Session(format!("trial {}: {e}", t.dir_name())))?;
    }
    Ok(session)
}
