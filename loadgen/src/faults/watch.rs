//! What the proxy says about itself during a fault run, sampled every 100 ms: the
//! Redis breaker, fail-mode counters, pool exhaustion, open fds, and whether the
//! process is still alive.
//!
//! Read from the admin `/metrics` and `/proc`, the same sources the harness samples,
//! but ten times as often: a breaker that opens for two seconds must be seen.

use std::time::{Duration, Instant};

use crate::harness::scrape;
use crate::rig::admin::AdminClient;
use crate::rig::children::pid_alive;

/// Sampling period.
pub const PERIOD: Duration = Duration::from_millis(100);

/// One sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Tick {
    /// Milliseconds from the start of the traffic.
    pub t_ms: u64,
    /// Redis breaker: 0 closed, 1 open, 2 half-open (`None`: not scraped).
    pub breaker: Option<f64>,
    /// Requests decided by fail-open, cumulative.
    pub unavailable_open: Option<f64>,
    /// Requests decided by fail-closed, cumulative.
    pub unavailable_closed: Option<f64>,
    /// Pool acquisitions that timed out, cumulative.
    pub pool_exhausted: Option<f64>,
    /// Open client connections.
    pub client_connections: Option<f64>,
    /// Open fds of the proxy.
    pub fds: Option<u64>,
    /// The proxy process exists.
    pub alive: bool,
}

/// Open fds of `pid` (`None` when `/proc` cannot be read).
pub fn fd_count(pid: u32) -> Option<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

/// Reads the watched values out of one scrape.
pub fn read_scrape(text: &str) -> Tick {
    let samples = scrape::parse(text);
    let breaker = scrape::sum_first(&samples, &["filter_proxy_store_breaker_state"]);
    let unavailable = |mode: &str| {
        scrape::sum_first_with_label(
            &samples,
            &["filter_proxy_store_unavailable_total"],
            &format!("mode=\"{mode}\""),
        )
    };
    let gauges = scrape::proxy_gauges(text);
    Tick {
        breaker,
        unavailable_open: unavailable("open"),
        unavailable_closed: unavailable("closed"),
        pool_exhausted: gauges.pool_exhausted_total,
        client_connections: gauges.client_connections,
        ..Tick::default()
    }
}

/// Samples until `until`, then returns the ticks.
pub async fn watch(admin: AdminClient, pid: u32, start: Instant, until: Instant) -> Vec<Tick> {
    let mut ticks = Vec::new();
    let mut interval = tokio::time::interval(PERIOD);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while Instant::now() < until {
        interval.tick().await;
        let mut tick = match admin.metrics().await {
            Ok(text) => read_scrape(&text),
            Err(_) => Tick::default(),
        };
        tick.t_ms = start.elapsed().as_millis() as u64;
        tick.fds = fd_count(pid);
        tick.alive = pid_alive(pid);
        ticks.push(tick);
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_breaker_and_fail_mode_counters() {
        let text = "filter_proxy_store_breaker_state 1\n\
            filter_proxy_store_unavailable_total{mode=\"open\"} 7\n\
            filter_proxy_store_unavailable_total{mode=\"closed\"} 0\n\
            filter_proxy_pool_exhausted_total 3\n";
        let t = read_scrape(text);
        assert_eq!(t.breaker, Some(1.0));
        assert_eq!(t.unavailable_open, Some(7.0));
        assert_eq!(t.unavailable_closed, Some(0.0));
        assert_eq!(t.pool_exhausted, Some(3.0));
        assert!(fd_count(std::process::id()).is_some_and(|n| n > 0));
    }
}
