//! `loadgen k8s render`: plain Kubernetes manifests for a distributed run.
//!
//! The shape is grafana/k6-operator's, without an operator: N pods of one Indexed Job
//! each run a deterministic slice of the profile (`loadgen attack --segment N`, the index
//! from `JOB_COMPLETION_INDEX`), all waiting for one `--start-at`, each writing its run
//! directory to a shared volume; then one Job merges them with `perf-report merge`
//! (histograms added, never percentiles averaged, which k6-operator does not do) and
//! renders the report. The manifests are files a user reads, edits and applies with
//! `kubectl`; nothing here talks to a cluster.
//!
//! The files, in the order they are applied (the numbers say so):
//! - `10-inputs.configmap.json`: the profile, its mix, roster and category database;
//! - `20-results.pvc.json`: the shared results volume (ReadWriteMany);
//! - `30-origin.deployment.json`, `31-origin.service.json`: the test origin the proxy
//!   under test forwards to; it writes its CA to the results volume for the workers;
//! - `40-workers.job.json`: the Indexed Job;
//! - `50-merge.job.json`: the merge and the report, applied once the workers complete;
//! - `README.md`: the commands for this render, and how the resources were sized.
//!
//! JSON, not YAML: JSON is YAML, so `kubectl` and every validator read it, and it needs
//! no serializer beyond the one the workspace has.

mod args;
mod error;
mod inputs;
mod manifests;
mod sizing;

use std::path::{Path, PathBuf};

pub use args::RenderArgs;
pub use error::K8sError;
pub use inputs::{Content, Input, Inputs};
pub use manifests::{Manifest, Plan};
pub use sizing::{Cost, Resources};

/// What a render wrote.
#[derive(Debug)]
pub struct Rendered {
    /// The manifests and README, in apply order.
    pub files: Vec<PathBuf>,
    /// The plan they were made from.
    pub plan: Plan,
}

/// Renders the manifests into `args.out`.
pub fn render(args: &RenderArgs) -> Result<Rendered, K8sError> {
    let plan = Plan::from_args(args)?;
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) {
        return Err(K8sError::Argument(format!(
            "{} is not empty; choose a new --out",
            args.out.display()
        )));
    }
    let manifests = plan.manifests();
    let mut written: Vec<(PathBuf, Vec<u8>)> = manifests
        .iter()
        .map(|m| {
            let text = serde_json::to_string_pretty(&m.body).expect("a manifest is plain JSON");
            (args.out.join(&m.file), (text + "\n").into_bytes())
        })
        .collect();
    written.push((args.out.join("README.md"), plan.readme().into_bytes()));
    let refs: Vec<(&Path, &[u8])> = written
        .iter()
        .map(|(p, b)| (p.as_path(), b.as_slice()))
        .collect();
    rundir::atomic::write_all_atomic(&refs)?;
    Ok(Rendered {
        files: written.into_iter().map(|(p, _)| p).collect(),
        plan,
    })
}
