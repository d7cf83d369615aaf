//! Instructions per request: the proxy's CPU cost counted, not timed.
//!
//! Why: on a small shared machine, CPU seconds per request move by tens of percent
//! between identical runs (neighbours' loads, cache and frequency effects, how many
//! events one wake-up batches), so a gate on them either misses a 10 % regression or
//! cries wolf. An instruction count of a fixed, sequential request sequence does not
//! depend on what else the machine is doing. This pass starts a second copy of the
//! proxy under `valgrind --tool=callgrind` (same binary, same config, fresh ports),
//! sends a warm-up, zeroes the counters, sends a fixed sequence of requests drawn
//! deterministically from the profile's corpus ([`driver`]), dumps the counters
//! ([`callgrind`]) and divides by the request count. Compiler performance suites gate
//! on instruction counts for the same reason.
//!
//! What it does not see: time spent waiting, kernel work (syscalls count as one
//! instruction each) and contention between threads (callgrind runs one thread at a
//! time). Those stay with the load run's CPU-seconds figures, which are reported
//! alongside.

pub mod callgrind;
pub mod driver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::rig::admin::{wait_ready, AdminClient};
use crate::rig::children::ChildGuard;
use crate::rig::RigError;

/// Settings of the pass.
#[derive(Debug, Clone)]
pub struct PassSpec {
    /// Requests counted.
    pub requests: u64,
    /// Requests sent before counting starts (connection set-up, lazy statics, caches).
    pub warmup: u64,
    /// The proxy binary.
    pub proxy_bin: PathBuf,
    /// The proxy config to start it with (its listen and admin addresses are `listen`
    /// and `admin`).
    pub config: PathBuf,
    /// The proxy's listen address in `config`.
    pub listen: SocketAddr,
    /// The proxy's admin address in `config`.
    pub admin: SocketAddr,
    /// The load profile (its scenario mix gives the corpus and the roster).
    pub profile: PathBuf,
    /// Where callgrind's files and the proxy's log go.
    pub dir: PathBuf,
    /// CPUs to pin the proxy (and valgrind) to.
    pub cpus: Option<Vec<usize>>,
    /// Longest the proxy may take to become ready under valgrind.
    pub ready_timeout: Duration,
}

/// The pass's result, recorded in `run.json` as `instructions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstructionCount {
    /// The counting tool and its version.
    pub tool: String,
    /// Requests counted.
    pub requests: u64,
    /// Instructions the proxy executed (all threads) while they were served.
    pub instructions: u64,
    /// `instructions / requests`.
    pub per_request: f64,
    /// Requests of the sequence by kind.
    pub kinds: std::collections::BTreeMap<String, u64>,
    /// Requests whose answer was not the expected one (a pass with any is refused).
    pub unexpected: u64,
    /// Keep-alive connections the sequence used, one request in flight at a time.
    pub connections: usize,
}

/// The count as `run.json` holds it (`instructions`).
impl From<&InstructionCount> for rundir::run::Instructions {
    fn from(c: &InstructionCount) -> Self {
        Self {
            tool: c.tool.clone(),
            requests: c.requests,
            instructions: c.instructions,
            per_request: c.per_request,
            kinds: c.kinds.clone(),
            unexpected: Some(c.unexpected),
            connections: u64::try_from(c.connections).ok(),
        }
    }
}

/// Runs the pass: start the proxy under callgrind, warm up, count, stop.
pub async fn measure(spec: &PassSpec) -> Result<InstructionCount, RigError> {
    let tool = callgrind::version()?;
    std::fs::create_dir_all(&spec.dir).map_err(|source| RigError::Io {
        what: format!("create {}", spec.dir.display()),
        cause: source,
    })?;
    let plan = driver::Plan::from_profile(&spec.profile, spec.warmup + spec.requests)?;
    let out_pattern = spec.dir.join("callgrind.out.%p");
    let cmd = callgrind::command(
        &spec.proxy_bin,
        &spec.config,
        &out_pattern,
        spec.cpus.as_deref(),
    );
    let mut proxy = ChildGuard::spawn(
        "filter-proxy under callgrind",
        cmd,
        Some(spec.dir.join("proxy.log")),
    )?;
    let admin = AdminClient::new(spec.admin)?;
    wait_ready(&admin, &mut proxy, spec.ready_timeout).await?;
    let pid = proxy.pid();

    let warm = driver::send(spec.listen, &plan, 0..spec.warmup).await?;
    callgrind::zero(pid).await?;
    let counted =
        driver::send(spec.listen, &plan, spec.warmup..spec.warmup + spec.requests).await?;
    let dump = callgrind::dump(pid, &spec.dir).await?;
    proxy.kill();
    let instructions = callgrind::totals(&dump)?;
    let unexpected = warm.unexpected + counted.unexpected;
    if unexpected > 0 {
        return Err(RigError::Config {
            detail: format!(
                "instruction pass: {unexpected} of {} requests got an unexpected answer \
                 (first: {}); the count would not describe the request path",
                spec.warmup + spec.requests,
                warm.first_problem
                    .or(counted.first_problem)
                    .unwrap_or_default()
            ),
        });
    }
    Ok(InstructionCount {
        tool,
        requests: spec.requests,
        instructions,
        per_request: instructions as f64 / spec.requests.max(1) as f64,
        kinds: plan.kind_counts(spec.warmup..spec.warmup + spec.requests),
        unexpected,
        connections: driver::CONNECTIONS,
    })
}

/// The directory of a run's instruction pass.
pub fn pass_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("instructions")
}
