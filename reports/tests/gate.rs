//! The interleaved A/B gate end to end, with synthetic trials instead of real loads:
//! the session runs A B A B, decides on the pairs, writes its report, and falls back to
//! the document (saying so) when the baseline's commit cannot be used.

use reports::ab::build::{self, BuildDirs, Compiler};
use reports::ab::trial::{ArmSpec, TrialRunner};
use reports::ab::{run_gate, GateOptions, Mode};
use reports::fixtures::Fixture;
use reports::promote::{promote, PromoteOptions};
use reports::rules::Verdict;
use rundir::verdict::Accept;
use std::path::{Path, PathBuf};

/// Writes a synthetic run per trial: the candidate's CPU per request is `factor` times
/// the control's; every trial draws its own noise.
struct Synthetic {
    factor: f64,
    order: Vec<char>,
}

impl TrialRunner for Synthetic {
    fn run(&mut self, arm: &ArmSpec, out: &Path) -> Result<(), String> {
        let candidate = arm.bin.ends_with("candidate");
        self.order.push(if candidate { 'B' } else { 'A' });
        let fixture = Fixture {
            seconds: 30,
            cpu_us_per_request: if candidate {
                120.0 * self.factor
            } else {
                120.0
            },
            noise: 0.03,
            seed: 100 + self.order.len() as u64,
            ..Fixture::default()
        };
        fixture.write(out).map_err(|e| e.to_string())
    }
}

/// A compiler that must not be called (the binaries are given or the commit is unknown).
struct NoBuilds;

impl Compiler for NoBuilds {
    fn build(&self, _: &Path, _: &Path, _: &[String], _: bool) -> Result<PathBuf, String> {
        Err("no builds in this test".to_owned())
    }
}

fn gates_file(dir: &Path) -> PathBuf {
    let path = dir.join("gates.toml");
    std::fs::write(
        &path,
        r#"
schema_version = 1
missing = "rollback"
pairs = 3
[[gate]]
metric = "proxy_cpu_us_per_request"
direction = "lower"
kind = "relative"
hotfix = 0.05
rollback = 0.15
[[gate]]
metric = "allocs_per_request"
direction = "lower"
kind = "delta"
hotfix = 0.5
rollback = 2.0
[[gate]]
metric = "failure_rate.*"
direction = "lower"
kind = "absolute"
hotfix = 0.0
rollback = 0.001
"#,
    )
    .unwrap();
    path
}

fn options(tmp: &Path, baseline: Option<PathBuf>, given_bins: bool) -> GateOptions {
    let repo = tmp.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    GateOptions {
        profile: "ci".to_owned(),
        baseline,
        gates: gates_file(tmp),
        out_dir: tmp.join("session"),
        pairs: None,
        dirs: BuildDirs {
            target_dir: tmp.join("target"),
            gate_dir: tmp.join("target/gate"),
            worktrees_dir: repo.join(build::WORKTREES_DIR),
            repo,
        },
        control_bin: given_bins.then(|| tmp.join("control")),
        candidate_bin: Some(tmp.join("candidate")),
        candidate_features: Vec::new(),
        control_env: Vec::new(),
        candidate_env: Vec::new(),
    }
}

#[test]
fn a_recorded_session_replays_to_the_same_verdict_without_running_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None, true);
    let mut runner = Synthetic {
        factor: 1.3,
        order: Vec::new(),
    };
    let first = run_gate(&opts, &NoBuilds, &mut runner).unwrap();
    let mut again = options(tmp.path(), None, true);
    again.out_dir = tmp.path().join("replayed");
    let mut replay = reports::ab::trial::Replay {
        session: opts.out_dir.clone(),
    };
    let second = run_gate(&again, &NoBuilds, &mut replay).unwrap();
    assert_eq!(second.verdict, first.verdict);
    let effects = |o: &reports::ab::GateOutcome| -> Vec<Vec<f64>> {
        o.today
            .as_ref()
            .unwrap()
            .evaluations
            .iter()
            .map(|e| e.pair_effects.clone())
            .collect()
    };
    assert_eq!(effects(&second), effects(&first));
    // A session recorded with fewer pairs cannot be replayed as if it had more.
    let mut more = options(tmp.path(), None, true);
    more.out_dir = tmp.path().join("more");
    more.pairs = Some(4);
    let err = run_gate(&more, &NoBuilds, &mut replay).unwrap_err();
    assert!(format!("{err:#}").contains("has no trial"), "{err:#}");
}

#[test]
fn a_slower_candidate_is_rolled_back_with_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None, true);
    let mut runner = Synthetic {
        factor: 1.3,
        order: Vec::new(),
    };
    let outcome = run_gate(&opts, &NoBuilds, &mut runner).unwrap();
    assert_eq!(runner.order.iter().collect::<String>(), "ABBAAB");
    assert!(matches!(outcome.mode, Mode::Interleaved { .. }));
    assert_eq!(outcome.verdict, Verdict::Rollback);
    assert_eq!(outcome.exit_code(Accept::default()), 1);
    let cpu = outcome
        .today
        .as_ref()
        .unwrap()
        .evaluations
        .iter()
        .find(|e| e.metric == "proxy_cpu_us_per_request")
        .unwrap();
    assert_eq!(cpu.pair_effects.len(), 3);
    assert!(cpu.pair_effects.iter().all(|&x| x > 0.2), "{cpu:?}");
    let md = std::fs::read_to_string(opts.out_dir.join("gate.md")).unwrap();
    assert!(md.contains("Candidate vs control today (enforced)"), "{md}");
    assert!(md.contains("Distributions side by side"), "{md}");
    assert!(opts.out_dir.join("diff-flamegraph.svg").is_file());
    assert!(opts.out_dir.join("gate.html").is_file());
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(opts.out_dir.join("verdict.json")).unwrap()).unwrap();
    assert_eq!(verdict["verdict"], "ROLLBACK");
    assert_eq!(verdict["mode"], "interleaved");
    let typed = rundir::verdict::SessionVerdict::from_json(verdict.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        verdict,
        "verdict.json round-trips"
    );
    // The calibration document reads the same file through the same type.
    let label = format!("slow={}", opts.out_dir.display());
    let session = reports::ab::calibration::Labelled::parse(&label).unwrap();
    let result = reports::ab::calibration::read_session(&session).unwrap();
    assert_eq!(result.verdict, "ROLLBACK");
    assert!(
        result.compared_flag && !result.flagged.is_empty(),
        "{result:?}"
    );
}

#[test]
fn identical_builds_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(tmp.path(), None, true);
    let mut runner = Synthetic {
        factor: 1.0,
        order: Vec::new(),
    };
    let outcome = run_gate(&opts, &NoBuilds, &mut runner).unwrap();
    assert_eq!(outcome.verdict, Verdict::Pass, "{:#?}", outcome.today);
}

#[test]
fn an_unknown_baseline_commit_falls_back_to_the_document_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("base-run");
    Fixture::default().write(&run).unwrap();
    let baselines = tmp.path().join("baselines");
    let done = promote(&PromoteOptions {
        run_dir: run,
        profile: "ci".into(),
        note: None,
        force: false,
        out_dir: baselines,
        gates: Some(gates_file(tmp.path())),
        suggest: Default::default(),
    })
    .unwrap();
    // The repository is not a git checkout: the recorded commit cannot be found.
    let opts = options(tmp.path(), Some(done.json), false);
    let mut runner = Synthetic {
        factor: 1.0,
        order: Vec::new(),
    };
    let outcome = run_gate(&opts, &NoBuilds, &mut runner).unwrap();
    let Mode::DocumentOnly { reason } = &outcome.mode else {
        panic!("{:?}", outcome.mode);
    };
    assert!(reason.contains("0123456789abcdef"), "{reason}");
    assert_eq!(runner.order.iter().collect::<String>(), "BBB");
    assert!(outcome.today.is_none() && outcome.document.is_some());
    let md = std::fs::read_to_string(opts.out_dir.join("gate.md")).unwrap();
    assert!(md.contains("WEAKER CHECK"), "{md}");
    assert!(md.contains("(enforced: weaker check)"), "{md}");
}
