//! Running one trial: the load harness with one arm's proxy binary and environment.
//!
//! Every trial goes through the same harness (`loadgen run`), with the same profile,
//! origin, port layout (ephemeral ports chosen the same way) and CPU pinning; only the
//! proxy binary and its environment differ between the arms. The harness starts a fresh
//! proxy per trial and excludes its warm-up from the measured window, so each trial has
//! its own warm-up. The trait lets tests drive the session without real loads.

use crate::metrics;
use crate::rundir::RunDir;
use rundir::baseline::MetricSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What distinguishes an arm: its proxy binary and the environment it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmSpec {
    /// The proxy binary.
    pub bin: PathBuf,
    /// Extra environment variables for the harness and the proxy it starts.
    pub env: Vec<(String, String)>,
}

/// Runs one trial into an empty directory.
pub trait TrialRunner {
    /// Runs the profile against `arm`'s proxy, writing a run directory at `out`.
    fn run(&mut self, arm: &ArmSpec, out: &Path) -> Result<(), String>;
}

/// The real runner: `loadgen run --profile P --out DIR --proxy-bin BIN [--duration S]`.
#[derive(Debug, Clone)]
pub struct Loadgen {
    /// The `loadgen` binary.
    pub bin: PathBuf,
    /// The load profile.
    pub profile: PathBuf,
    /// Per-trial duration override, seconds.
    pub duration_s: Option<u64>,
    /// Extra arguments passed through to `loadgen run`.
    pub extra_args: Vec<String>,
    /// Longest a trial may take before it is killed.
    pub timeout: Duration,
}

/// Kills the child when dropped early (error, panic), so no harness outlives the gate.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TrialRunner for Loadgen {
    fn run(&mut self, arm: &ArmSpec, out: &Path) -> Result<(), String> {
        let log_path = out.with_extension("log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("run")
            .arg("--profile")
            .arg(&self.profile)
            .arg("--out")
            .arg(out)
            .arg("--proxy-bin")
            .arg(&arm.bin)
            .arg("--quiet")
            .args(&self.extra_args)
            .envs(arm.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        if let Some(d) = self.duration_s {
            cmd.arg("--duration").arg(d.to_string());
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let mut guard = KillOnDrop(Some(child));
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            let child = guard.0.as_mut().expect("the child is held until it exits");
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Ok(None) => {
                    return Err(format!(
                        "trial did not finish in {} s (killed); see {}",
                        self.timeout.as_secs(),
                        log_path.display()
                    ))
                }
                Err(e) => return Err(format!("cannot wait for the harness: {e}")),
            }
        };
        guard.0 = None;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "harness failed ({status}); see {}",
                log_path.display()
            ))
        }
    }
}

/// A finished trial: its run directory and the metrics measured from it.
/// Re-decides a recorded session: each trial is copied from the recorded session's
/// `trials/` directory instead of being run (`perf-report gate --replay DIR`). Why: the
/// decision is a function of the trial directories, so a change of rules or statistics
/// can be calibrated on sessions already measured, at no machine time, and a reviewer can
/// re-check a verdict.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The recorded session directory (holding `trials/`).
    pub session: PathBuf,
}

impl TrialRunner for Replay {
    fn run(&mut self, _arm: &ArmSpec, out: &Path) -> Result<(), String> {
        let name = out
            .file_name()
            .ok_or_else(|| format!("{} names no trial", out.display()))?;
        let from = self.session.join("trials").join(name);
        if !from.is_dir() {
            return Err(format!(
                "the recorded session has no trial {} (was it run with as many pairs?)",
                from.display()
            ));
        }
        copy_tree(&from, out).map_err(|e| format!("copying {}: {e}", from.display()))
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[derive(Debug)]
pub struct Measured {
    /// The run directory.
    pub run: RunDir,
    /// Its gated metrics.
    pub metrics: MetricSet,
}

/// Loads a trial's run directory; an incomplete run is an error, never a measurement.
pub fn measure(out: &Path) -> Result<Measured, String> {
    let run = RunDir::load(out).map_err(|e| e.to_string())?;
    if run.run.complete != Some(true) {
        return Err(format!("{} is incomplete", out.display()));
    }
    let metrics = metrics::extract(&run);
    Ok(Measured { run, metrics })
}
