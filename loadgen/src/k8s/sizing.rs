//! Resource requests and limits for the workers, from what a worker measured.
//!
//! Every `loadgen attack --segment` run records the CPU its process used during the run
//! and its peak RSS (`run.json` `worker.cpu_s`, `worker.peak_rss_bytes`). The CPU a
//! request costs the load generator is their sum over the workers of a run divided by the
//! requests they made; a pod's CPU request is that times its share of the rate, with
//! headroom, because a load generator short of CPU falls behind its schedule and measures
//! itself, not the proxy (the run then says it was saturated). Memory is the measured
//! peak with headroom. The figures and where they came from are written beside the
//! manifests, so a reviewer can check them.

use std::path::{Path, PathBuf};

use rundir::run::RunJson;

use super::error::K8sError;

/// Requests are the measured need times this: room for a busier node and a faster rate.
pub const HEADROOM: f64 = 1.5;
/// Limits are the request times this. A CPU limit throttles, and a throttled worker
/// falls behind; it is there so one runaway worker cannot starve a node.
pub const LIMIT_FACTOR: f64 = 2.0;
/// Smallest CPU request, millicores: the runtime's own threads and the sampler.
pub const MIN_CPU_MILLI: u64 = 100;
/// Smallest memory request, MiB.
pub const MIN_MEMORY_MIB: u64 = 64;

/// What the workers of a measured run cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// The run directories it came from.
    pub sources: Vec<PathBuf>,
    /// CPU seconds per request, over every worker.
    pub cpu_s_per_request: f64,
    /// The largest worker's peak RSS, bytes.
    pub peak_rss_bytes: u64,
    /// Requests the measured workers made.
    pub requests: u64,
    /// Connections (users) the largest worker held.
    pub users_per_worker: u64,
    /// Whether every measured worker was an optimised build.
    pub optimized: bool,
}

impl Cost {
    /// Reads the worker run directories in `dir`: `dir` itself, or its `worker-*` (a
    /// `loadgen fleet` directory), or every subdirectory holding a `run.json`.
    pub fn measure(dir: &Path) -> Result<Cost, K8sError> {
        let runs = run_dirs(dir)?;
        let mut cost = Cost {
            sources: Vec::new(),
            cpu_s_per_request: 0.0,
            peak_rss_bytes: 0,
            requests: 0,
            users_per_worker: 0,
            optimized: true,
        };
        let mut cpu_s = 0.0;
        for run in runs {
            let path = run.join(crate::output::files::RUN_JSON);
            let doc = RunJson::load(&path).map_err(|e| K8sError::Cost(e.to_string()))?;
            let Some(worker) = &doc.worker else { continue };
            let (Some(cpu), Some(rss)) = (worker.cpu_s, worker.peak_rss_bytes) else {
                continue;
            };
            // The CPU covers the whole run, warm-up included, and so must the count.
            let requests = requests_in_run(&run)?;
            if requests == 0 {
                continue;
            }
            cpu_s += cpu;
            cost.requests += requests;
            cost.optimized &= worker.optimized_build == Some(true);
            if rss > cost.peak_rss_bytes {
                cost.peak_rss_bytes = rss;
                cost.users_per_worker = worker.users;
            }
            cost.sources.push(run);
        }
        if cost.sources.is_empty() {
            return Err(K8sError::Cost(format!(
                "{} holds no worker run with its CPU and memory recorded; make one with \
                 `loadgen fleet --profile PROFILE --workers 2 --rate RATE --duration 20s \
                 --no-single --out DIR`",
                dir.display()
            )));
        }
        cost.cpu_s_per_request = cpu_s / cost.requests as f64;
        Ok(cost)
    }

    /// A worker's requests and limits at `rate` requests per second.
    pub fn resources(&self, rate: f64) -> Resources {
        // Rounded to a micro-core first, so 600.0000001 (binary fractions) is 600.
        let need = (rate * self.cpu_s_per_request * HEADROOM * 1e6).round() / 1000.0;
        let cpu_milli = need.ceil() as u64;
        let cpu_milli = round_up(cpu_milli.max(MIN_CPU_MILLI), 10);
        let mib = (self.peak_rss_bytes as f64 * HEADROOM / (1024.0 * 1024.0)).ceil() as u64;
        let memory_mib = round_up(mib.max(MIN_MEMORY_MIB), 16);
        Resources {
            cpu_milli,
            memory_mib,
            cpu_limit_milli: (cpu_milli as f64 * LIMIT_FACTOR) as u64,
            memory_limit_mib: (memory_mib as f64 * LIMIT_FACTOR) as u64,
        }
    }
}

/// A container's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// CPU request, millicores.
    pub cpu_milli: u64,
    /// Memory request, MiB.
    pub memory_mib: u64,
    /// CPU limit, millicores.
    pub cpu_limit_milli: u64,
    /// Memory limit, MiB.
    pub memory_limit_mib: u64,
}

impl Resources {
    /// The `resources` object of a container spec.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "requests": {"cpu": format!("{}m", self.cpu_milli), "memory": format!("{}Mi", self.memory_mib)},
            "limits": {"cpu": format!("{}m", self.cpu_limit_milli), "memory": format!("{}Mi", self.memory_limit_mib)},
        })
    }
}

fn round_up(v: u64, step: u64) -> u64 {
    v.div_ceil(step) * step
}

/// Requests of every second of a run (`timeseries.csv`'s `requests` column).
fn requests_in_run(run: &Path) -> Result<u64, K8sError> {
    let path = run.join(crate::output::files::TIMESERIES);
    let bad = |detail: String| K8sError::Cost(format!("{}: {detail}", path.display()));
    let mut reader = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
    let column = reader
        .headers()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .position(|h| h == "requests")
        .ok_or_else(|| bad("no requests column".into()))?;
    let mut total = 0;
    for row in reader.records() {
        let row = row.map_err(|e| bad(e.to_string()))?;
        total += row
            .get(column)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad(format!("bad requests value in {row:?}")))?;
    }
    Ok(total)
}

fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>, K8sError> {
    if dir.join(crate::output::files::RUN_JSON).is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|cause| K8sError::Io {
        what: format!("read {}", dir.display()),
        cause,
    })?;
    let mut runs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(crate::output::files::RUN_JSON).is_file())
        // A merged run and the single-process comparison are not one worker's cost.
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n != "merged" && n != "single")
        })
        .collect();
    runs.sort();
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(cpu_s_per_request: f64, peak_rss_bytes: u64) -> Cost {
        Cost {
            sources: Vec::new(),
            cpu_s_per_request,
            peak_rss_bytes,
            requests: 1,
            users_per_worker: 1,
            optimized: true,
        }
    }

    #[test]
    fn the_cpu_request_follows_the_rate_with_headroom_and_the_limit_doubles_it() {
        // 200 us a request at 1000 req/s is 0.2 core; with headroom 0.3 core.
        let r = cost(200e-6, 100 * 1024 * 1024).resources(1000.0);
        assert_eq!(r.cpu_milli, 300);
        assert_eq!(r.cpu_limit_milli, 600);
        // 100 MiB measured: 150 MiB requested, rounded to 16 MiB steps.
        assert_eq!(r.memory_mib, 160);
        assert_eq!(r.memory_limit_mib, 320);
        assert_eq!(cost(200e-6, 0).resources(1000.0 * 2.0).cpu_milli, 600);
    }

    #[test]
    fn a_tiny_rate_still_gets_the_floor() {
        let r = cost(1e-6, 1024).resources(1.0);
        assert_eq!((r.cpu_milli, r.memory_mib), (MIN_CPU_MILLI, MIN_MEMORY_MIB));
    }
}
