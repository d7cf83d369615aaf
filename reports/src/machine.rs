//! What the whole machine was doing during a run, from the harness's per-second
//! `host_*` columns: how busy it was, how much of that was neither the proxy nor the load
//! generator, how long runnable tasks waited for a CPU, and the hypervisor's steal.
//!
//! On a two-core shared machine a latency tail is often the machine's, not the proxy's.
//! [`summarise`] lines up the slowest seconds of a run with the machine's state in them,
//! so a reviewer can tell "the proxy was slow" from "nothing ran for a second".

use crate::timeseries::Timeseries;
use rundir::run::SteadyWindow;

/// CPU pressure at or above this share of a second marks the second as contended.
pub const CONTENDED_PRESSURE_MS: f64 = 500.0;
/// Steal at or above this many ms (summed over CPUs) marks the second as contended.
pub const CONTENDED_STEAL_MS: f64 = 100.0;
/// How many of the slowest seconds are listed.
pub const SLOWEST: usize = 5;

/// One second of the run, as the machine saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// Second of the run.
    pub second: f64,
    /// The worst per-class p99 in that second, µs.
    pub worst_p99_us: Option<f64>,
    /// Machine CPU busy, ms (summed over CPUs).
    pub host_busy_ms: f64,
    /// Busy time of everything but the proxy and the load generator, ms.
    pub others_ms: Option<f64>,
    /// The proxy's CPU, ms.
    pub proxy_ms: Option<f64>,
    /// The load generator's CPU, ms.
    pub loadgen_ms: Option<f64>,
    /// Wall time in which some runnable task waited for a CPU, ms.
    pub pressure_ms: Option<f64>,
    /// Steal, ms (summed over CPUs).
    pub steal_ms: Option<f64>,
}

impl Second {
    /// Whether the machine itself was contended in this second.
    pub fn contended(&self) -> bool {
        self.pressure_ms.is_some_and(|p| p >= CONTENDED_PRESSURE_MS)
            || self.steal_ms.is_some_and(|s| s >= CONTENDED_STEAL_MS)
    }
}

/// The rows after the warm-up ([`Timeseries::after_warmup_rows`]) in which the machine was
/// not contended (same rule as [`Second::contended`]); `None` when the run has no machine
/// columns, so "no clean second" and "never measured" stay apart.
pub fn clean_rows(ts: &Timeseries) -> Option<Vec<usize>> {
    let pressure = ts.column("host_cpu_pressure_ms");
    let steal = ts.column("host_steal_ms");
    if pressure.is_none() && steal.is_none() {
        return None;
    }
    let at = |c: Option<&[Option<f64>]>, i: usize| c.and_then(|c| c.get(i).copied().flatten());
    Some(
        ts.after_warmup_rows()
            .into_iter()
            .filter(|&i| {
                let (p, s) = (at(pressure, i), at(steal, i));
                // A second the sampler missed is not known to be clean.
                (p.is_some() || s.is_some())
                    && !p.is_some_and(|p| p >= CONTENDED_PRESSURE_MS)
                    && !s.is_some_and(|s| s >= CONTENDED_STEAL_MS)
            })
            .collect(),
    )
}

/// The machine over a run's steady window.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Seconds with machine samples.
    pub seconds: usize,
    /// Mean machine busy, in cores.
    pub busy_cores: f64,
    /// Mean busy of the proxy, in cores.
    pub proxy_cores: Option<f64>,
    /// Mean busy of the load generator, in cores.
    pub loadgen_cores: Option<f64>,
    /// Mean busy of everything else (origin, Redis, other processes), in cores.
    pub others_cores: Option<f64>,
    /// Share of wall time in which some runnable task waited for a CPU.
    pub pressure_share: Option<f64>,
    /// Mean steal, ms per second (summed over CPUs).
    pub steal_ms_per_s: Option<f64>,
    /// Seconds counted as contended (see [`Second::contended`]).
    pub contended_seconds: usize,
    /// The slowest seconds by worst per-class p99, slowest first.
    pub slowest: Vec<Second>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Summarises the machine over the steady window; `None` when the run has no `host_*`
/// columns (runs recorded before they existed, or where `/proc/stat` was unreadable).
pub fn summarise(ts: &Timeseries, window: Option<SteadyWindow>) -> Option<Summary> {
    let busy = ts.column("host_busy_ms")?;
    let col = |name: &str| ts.column(name);
    let at = |c: Option<&[Option<f64>]>, i: usize| c.and_then(|c| c.get(i).copied().flatten());
    let (user, sys, loadgen) = (
        col("proxy_cpu_user_ms"),
        col("proxy_cpu_sys_ms"),
        col("loadgen_cpu_ms"),
    );
    let (pressure, steal, seconds) = (
        col("host_cpu_pressure_ms"),
        col("host_steal_ms"),
        col("second"),
    );
    let p99_columns: Vec<&[Option<f64>]> = ts
        .names()
        .filter(|n| n.ends_with("_p99_us"))
        .filter_map(|n| ts.column(n))
        .collect();
    let rows: Vec<Second> = ts
        .steady_rows(window)
        .into_iter()
        .filter_map(|i| {
            let host_busy_ms = busy.get(i).copied().flatten()?;
            let proxy_ms = match (at(user, i), at(sys, i)) {
                (Some(u), Some(s)) => Some(u + s),
                _ => None,
            };
            let loadgen_ms = at(loadgen, i);
            let others_ms = match (proxy_ms, loadgen_ms) {
                (Some(p), Some(l)) => Some((host_busy_ms - p - l).max(0.0)),
                _ => None,
            };
            let worst_p99_us = p99_columns
                .iter()
                .filter_map(|c| c.get(i).copied().flatten())
                .reduce(f64::max);
            Some(Second {
                second: at(seconds, i).unwrap_or(i as f64),
                worst_p99_us,
                host_busy_ms,
                others_ms,
                proxy_ms,
                loadgen_ms,
                pressure_ms: at(pressure, i),
                steal_ms: at(steal, i),
            })
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    // Mean ms per second as a share of one second: cores for CPU time, the share of
    // wall time for CPU pressure.
    let per_second =
        |f: fn(&Second) -> Option<f64>| mean(rows.iter().filter_map(f)).map(|ms| ms / 1000.0);
    let mut slowest: Vec<Second> = rows
        .iter()
        .filter(|s| s.worst_p99_us.is_some())
        .cloned()
        .collect();
    let worst = |s: &Second| s.worst_p99_us.unwrap_or(f64::NEG_INFINITY);
    slowest.sort_by(|a, b| worst(b).total_cmp(&worst(a)));
    slowest.truncate(SLOWEST);
    Some(Summary {
        seconds: rows.len(),
        busy_cores: per_second(|s| Some(s.host_busy_ms)).unwrap_or(0.0),
        proxy_cores: per_second(|s| s.proxy_ms),
        loadgen_cores: per_second(|s| s.loadgen_ms),
        others_cores: per_second(|s| s.others_ms),
        pressure_share: per_second(|s| s.pressure_ms),
        steal_ms_per_s: mean(rows.iter().filter_map(|s| s.steal_ms)),
        contended_seconds: rows.iter().filter(|s| s.contended()).count(),
        slowest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series(cols: &[(&str, Vec<Option<f64>>)]) -> Timeseries {
        let map: BTreeMap<String, Vec<Option<f64>>> = cols
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        Timeseries::from_columns(map)
    }

    fn s(v: &[f64]) -> Vec<Option<f64>> {
        v.iter().map(|x| Some(*x)).collect()
    }

    #[test]
    fn lines_up_the_slowest_seconds_with_the_machine() {
        let ts = series(&[
            ("second", s(&[0.0, 1.0, 2.0, 3.0, 4.0])),
            ("warmup", s(&[1.0, 0.0, 0.0, 0.0, 0.0])),
            (
                "allowed_p99_us",
                s(&[9e6, 1000.0, 900_000.0, 1200.0, 1100.0]),
            ),
            (
                "tunnel_p99_us",
                vec![None, Some(2000.0), Some(5000.0), None, Some(800_000.0)],
            ),
            ("host_busy_ms", s(&[2000.0, 1200.0, 1900.0, 1000.0, 1000.0])),
            ("proxy_cpu_user_ms", s(&[0.0, 300.0, 0.0, 300.0, 300.0])),
            ("proxy_cpu_sys_ms", s(&[0.0, 100.0, 0.0, 100.0, 100.0])),
            ("loadgen_cpu_ms", s(&[0.0, 200.0, 0.0, 200.0, 200.0])),
            (
                "host_cpu_pressure_ms",
                s(&[900.0, 100.0, 950.0, 0.0, 100.0]),
            ),
            ("host_steal_ms", s(&[0.0, 0.0, 0.0, 0.0, 150.0])),
        ]);
        let m = summarise(&ts, None).unwrap();
        // The warm-up second (and its 9 s p99) is outside the window.
        assert_eq!(m.seconds, 4);
        assert!((m.busy_cores - 1.275).abs() < 1e-9);
        assert!((m.proxy_cores.unwrap() - 0.3).abs() < 1e-9);
        assert!((m.others_cores.unwrap() - (0.6 + 1.9 + 0.4 + 0.4) / 4.0).abs() < 1e-9);
        assert!((m.pressure_share.unwrap() - 0.2875).abs() < 1e-9);
        assert_eq!(m.contended_seconds, 2);
        let order: Vec<f64> = m.slowest.iter().map(|s| s.second).collect();
        assert_eq!(order, vec![2.0, 4.0, 1.0, 3.0]);
        assert!(m.slowest[0].contended() && m.slowest[1].contended());
        assert!(!m.slowest[2].contended());
        assert_eq!(m.slowest[0].worst_p99_us, Some(900_000.0));
    }

    #[test]
    fn runs_without_host_columns_have_no_summary() {
        let ts = series(&[
            ("second", s(&[0.0, 1.0])),
            ("allowed_p99_us", s(&[1.0, 2.0])),
        ]);
        assert_eq!(summarise(&ts, None), None);
    }

    #[test]
    fn missing_process_columns_leave_their_shares_unknown() {
        let ts = series(&[
            ("second", s(&[0.0, 1.0])),
            ("host_busy_ms", s(&[500.0, 700.0])),
        ]);
        let m = summarise(&ts, None).unwrap();
        assert_eq!(m.others_cores, None);
        assert_eq!(m.pressure_share, None);
        assert_eq!(m.contended_seconds, 0);
        assert!(m.slowest.is_empty());
        assert!((m.busy_cores - 0.6).abs() < 1e-9);
    }
}
