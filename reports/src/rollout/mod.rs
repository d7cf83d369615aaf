//! `perf-report rollout`: the production side of the bar. From the same documents the
//! release gate reads — `baselines/gates.toml`, the committed peak baseline — plus the few
//! deployment inputs in `deploy/inputs.toml`, it generates the `deploy/` tree: the
//! CloudFormation template of the fleet (canary instance refresh, scaling, alarms),
//! Prometheus rules and their `promtool` unit tests, a Grafana dashboard, and
//! `DECISIONS.md` naming where every number came from. A threshold lives in one place.
//!
//! # Layout
//! - [`inputs`]: `deploy/inputs.toml`, strict and validated.
//! - [`plan`]: every derived number, each with its [`plan::Decision`]; [`timing`] the
//!   health checks and refresh pacing.
//! - [`alarms`]: the CloudWatch alarms as data; [`alarm_model`] evaluates them.
//! - [`cloudformation`], [`agent`], [`prometheus`], [`promtests`], [`dashboard`],
//!   [`decisions`]: one output each.
//!
//! Generation is deterministic, so the committed tree is checked against a fresh one
//! ([`drift`]).

pub mod agent;
pub mod alarm_model;
pub mod alarms;
pub mod cloudformation;
pub mod dashboard;
pub mod decision;
pub mod decisions;
pub mod inputs;
pub mod plan;
pub mod prometheus;
pub mod promtests;
pub mod timing;

use crate::error::Result;
use crate::rules::Gates;
use rundir::baseline::Baseline;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the sources live.
#[derive(Debug, Clone)]
pub struct Sources {
    /// `baselines/gates.toml`.
    pub gates: PathBuf,
    /// `baselines/peak.json`.
    pub baseline: PathBuf,
    /// `deploy/inputs.toml`.
    pub inputs: PathBuf,
}

impl Sources {
    /// The sources of a checkout rooted at `root`.
    pub fn in_repo(root: &Path) -> Self {
        Sources {
            gates: root.join("baselines/gates.toml"),
            baseline: root.join(format!("baselines/{}.json", plan::SLO_PROFILE)),
            inputs: root.join("deploy/inputs.toml"),
        }
    }
}

/// The rules file's path inside the tree (the tests name it relative to themselves).
pub const RULES_FILE: &str = "prometheus/proxy-rules.json";
/// The CloudFormation template's path inside the tree.
pub const TEMPLATE_FILE: &str = "cloudformation/proxy-fleet.json";

/// A generated tree: paths relative to `deploy/`, and their contents.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The plan it was rendered from.
    pub plan: plan::Plan,
    /// The alarms.
    pub alarms: Vec<alarms::Alarm>,
    /// The Prometheus rules.
    pub rules: prometheus::RuleFile,
    /// File contents by path.
    pub files: BTreeMap<PathBuf, String>,
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("generated documents serialise");
    s.push('\n');
    s
}

/// Generates the tree from the sources on disk.
pub fn generate(src: &Sources) -> Result<Generated> {
    let gates = Gates::load(&src.gates)?;
    let baseline = crate::baseline::read(&src.baseline)?;
    let inputs = inputs::Inputs::load(&src.inputs)?;
    generate_from(&gates, &baseline, &src.baseline, inputs)
}

/// Generates the tree from loaded sources.
pub fn generate_from(
    gates: &Gates,
    baseline: &Baseline,
    baseline_path: &Path,
    inputs: inputs::Inputs,
) -> Result<Generated> {
    let plan = plan::Plan::derive(gates, baseline, baseline_path, inputs)?;
    let alarms = alarms::alarms(&plan);
    let rules = prometheus::rules(&plan);
    let rules_name = Path::new(RULES_FILE)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("RULES_FILE names a file");
    let tests = promtests::tests(&plan, &rules, rules_name);
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from(TEMPLATE_FILE),
        pretty(&cloudformation::template(&plan, &alarms)),
    );
    files.insert(PathBuf::from(RULES_FILE), pretty(&rules));
    files.insert(
        PathBuf::from("prometheus/proxy-rules.test.json"),
        pretty(&tests),
    );
    files.insert(
        PathBuf::from("grafana/proxy-golden-signals.json"),
        pretty(&dashboard::dashboard(&plan)),
    );
    files.insert(
        PathBuf::from("DECISIONS.md"),
        decisions::render(&plan, &alarms, &rules),
    );
    Ok(Generated {
        plan,
        alarms,
        rules,
        files,
    })
}

/// Writes the tree under `out_dir`, every file atomically (all staged before any rename).
pub fn write(generated: &Generated, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = generated.files.keys().map(|p| out_dir.join(p)).collect();
    let files: Vec<(&Path, &[u8])> = paths
        .iter()
        .zip(generated.files.values())
        .map(|(p, text)| (p.as_path(), text.as_bytes()))
        .collect();
    crate::atomic::write_all_atomic(&files)?;
    Ok(paths)
}

/// The generated files that are missing under `out_dir` or differ from it.
pub fn drift(generated: &Generated, out_dir: &Path) -> Vec<PathBuf> {
    generated
        .files
        .iter()
        .filter(|(path, text)| {
            std::fs::read_to_string(out_dir.join(path)).ok().as_deref() != Some(text.as_str())
        })
        .map(|(path, _)| path.clone())
        .collect()
}
