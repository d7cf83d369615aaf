//! What each side of a step used: the proxy (its CPU, memory, descriptors, its pool's
//! refusals), the load generator's driver and the origin, read before and after the step.
//!
//! Why the origin apart: it runs in the load generator's process, on threads of its own
//! (`origin-worker`), and shares the load generator's cores. A knee is the proxy's only
//! when neither the driver nor the origin was short of CPU, so each is read from its
//! threads' `/proc/self/task/*/stat` and recorded per step.

use std::time::Instant;

use crate::harness::scrape;
use crate::rig::admin::AdminClient;
use crate::rig::sample;

/// Thread name prefix of the origin's runtime (see `rig::origin`).
const ORIGIN_THREADS: &str = "origin";

/// Cumulative counters at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    proxy_cpu_ms: Option<u64>,
    own_cpu_ms: Option<u64>,
    origin_cpu_ms: Option<u64>,
    pool_exhausted: Option<f64>,
}

/// What the sides used over a step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// The proxy's CPU time, ms.
    pub proxy_cpu_ms: Option<u64>,
    /// Cores the proxy kept busy.
    pub proxy_cores: Option<f64>,
    /// Cores the whole load generator (driver and origin) kept busy.
    pub loadgen_cores: Option<f64>,
    /// Cores the origin's threads kept busy.
    pub origin_cores: Option<f64>,
    /// Pool acquisitions that timed out during the step.
    pub pool_exhausted: Option<u64>,
    /// The proxy's resident memory at the step's end, bytes.
    pub proxy_rss_bytes: Option<u64>,
    /// The proxy's open descriptors at the step's end.
    pub proxy_fds: Option<u64>,
    /// The proxy's descriptor limit (soft).
    pub proxy_fd_limit: Option<u64>,
}

/// Reads the counters of `proxy_pid` and of this process now.
pub async fn snapshot(proxy_pid: u32, ticks: u64, admin: &AdminClient) -> Snapshot {
    let pool_exhausted = admin
        .metrics()
        .await
        .ok()
        .and_then(|m| scrape::proxy_gauges(&m).pool_exhausted_total);
    Snapshot {
        at: Instant::now(),
        proxy_cpu_ms: sample::cpu_ms(proxy_pid, ticks).ok(),
        own_cpu_ms: sample::cpu_ms(std::process::id(), ticks).ok(),
        origin_cpu_ms: threads_cpu_ms(ORIGIN_THREADS, ticks),
        pool_exhausted,
    }
}

/// What was used between `before` and `after`; the proxy's memory and descriptors as
/// they are now.
pub fn usage(before: &Snapshot, after: &Snapshot, proxy_pid: u32, ticks: u64) -> Usage {
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let delta = |b: Option<u64>, a: Option<u64>| b.zip(a).map(|(b, a)| a.saturating_sub(b));
    let cores = |ms: Option<u64>| ms.map(|ms| ms as f64 / 1000.0 / wall);
    let proxy_cpu_ms = delta(before.proxy_cpu_ms, after.proxy_cpu_ms);
    let now = sample::sample_pid(proxy_pid, ticks).ok();
    Usage {
        proxy_cpu_ms,
        proxy_cores: cores(proxy_cpu_ms),
        loadgen_cores: cores(delta(before.own_cpu_ms, after.own_cpu_ms)),
        origin_cores: cores(delta(before.origin_cpu_ms, after.origin_cpu_ms)),
        pool_exhausted: before
            .pool_exhausted
            .zip(after.pool_exhausted)
            .map(|(b, a)| (a - b).max(0.0) as u64),
        proxy_rss_bytes: now.map(|s| s.rss_bytes),
        proxy_fds: now.map(|s| s.fds),
        proxy_fd_limit: fd_limit(proxy_pid),
    }
}

/// CPU time (ms) of this process's threads whose name starts with `prefix`.
fn threads_cpu_ms(prefix: &str, ticks: u64) -> Option<u64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let dir = task.path();
        let named = std::fs::read_to_string(dir.join("comm"))
            .is_ok_and(|c| c.trim_end().starts_with(prefix));
        if !named {
            continue;
        }
        if let Some(stat) = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|t| sample::parse_stat(&t).ok())
        {
            total += sample::ticks_to_ms(stat.utime_ticks + stat.stime_ticks, ticks);
        }
    }
    Some(total)
}

/// The soft `Max open files` of `pid`.
fn fd_limit(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    parse_fd_limit(&text)
}

fn parse_fd_limit(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_descriptor_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            65536                524288               files     \n";
        assert_eq!(parse_fd_limit(text), Some(65536));
        assert_eq!(
            parse_fd_limit("Max open files unlimited unlimited files"),
            None
        );
    }

    #[test]
    fn this_processs_threads_are_found_by_name() {
        let ticks = sample::clock_ticks_per_second();
        assert_eq!(threads_cpu_ms("no-such-thread-name", ticks), Some(0));
    }
}
