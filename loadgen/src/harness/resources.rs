//! Turns the per-second samples into the `resources` summary of a run: proxy CPU per
//! request, peak RSS, RSS slope, fds, threads, allocations per request, and whether the
//! load generator was the limit.
//!
//! Pure functions over the sample timeline, so the arithmetic (windows, slopes,
//! per-request ratios) is tested without running anything.

use super::host::HostCpu;
use super::scrape::ProxyGauges;
pub use crate::rig::admin::{AllocCounters, AllocGauges};
use crate::rig::sample::ProcSample;

/// One per-second sample of the run.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tick {
    /// Seconds since the attack started.
    pub t_s: f64,
    /// The proxy process, when it could be read.
    pub proxy: Option<ProcSample>,
    /// Cumulative CPU (user + system) of the load generator, ms.
    pub loadgen_cpu_ms: Option<u64>,
    /// The proxy's scraped gauges.
    pub gauges: ProxyGauges,
    /// The proxy allocator's resident and retained bytes, when `/debug/jemalloc` answered.
    pub alloc: Option<AllocGauges>,
    /// Machine-wide CPU counters, when `/proc/stat` could be read.
    pub host: Option<HostCpu>,
}

/// The part of the run the statistics describe (after warm-up, before ramp-down).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SteadyWindow {
    /// Start, seconds since the attack started.
    pub start_s: f64,
    /// End, seconds since the attack started.
    pub end_s: f64,
}

/// The window as `run.json` holds it.
impl From<SteadyWindow> for rundir::run::SteadyWindow {
    fn from(w: SteadyWindow) -> Self {
        Self {
            start: w.start_s,
            end: w.end_s,
        }
    }
}

impl SteadyWindow {
    /// Length in seconds.
    pub fn len_s(&self) -> f64 {
        (self.end_s - self.start_s).max(0.0)
    }
}

/// Splits the steady window in two: the CPU profile takes its last part (a quarter,
/// 1 to 10 s), and the resource figures come from the rest up to a second before it
/// (the last allocator read must not overlap the profile), so the profiler's own CPU
/// and memory stay out of them. The profile ends a little before the window does
/// (a quarter of the window, at most 3 s), because a profiler takes a moment to start
/// and must still find the proxy under load. Without a profile the whole window
/// measures. Returns `(measure, profile)`.
pub fn split_window(
    window: SteadyWindow,
    cpu_profile: bool,
) -> (SteadyWindow, Option<SteadyWindow>) {
    if !cpu_profile {
        return (window, None);
    }
    let len = window.len_s();
    let profile_s = (len / 4.0).floor().clamp(1.0, 10.0);
    let slack = (len / 4.0).min(3.0);
    let split = (window.end_s - profile_s - slack).max(window.start_s);
    let measure = SteadyWindow {
        start_s: window.start_s,
        end_s: (split - 1.0).max(window.start_s + 1.0).min(window.end_s),
    };
    let profile = SteadyWindow {
        start_s: split,
        end_s: split + profile_s,
    };
    (measure, Some(profile))
}

/// The `resources` object of `run.json` (typed in `rundir`; counts are numbers there, as
/// every figure a report compares).
pub use rundir::run::Resources;

/// The ticks inside `window` (inclusive).
pub fn in_window(ticks: &[Tick], window: SteadyWindow) -> impl Iterator<Item = &Tick> {
    ticks
        .iter()
        .filter(move |t| t.t_s >= window.start_s && t.t_s <= window.end_s)
}

/// First and last value of `f` over the window, with the seconds between them.
fn window_delta(
    ticks: &[Tick],
    window: SteadyWindow,
    f: impl Fn(&Tick) -> Option<f64>,
) -> Option<(f64, f64)> {
    let points: Vec<(f64, f64)> = in_window(ticks, window)
        .filter_map(|t| f(t).map(|v| (t.t_s, v)))
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    let secs = last.0 - first.0;
    (secs > 0.0).then_some((last.1 - first.1, secs))
}

/// Requests the proxy completed in the window (from its request counter).
pub fn requests_in_window(ticks: &[Tick], window: SteadyWindow) -> Option<f64> {
    window_delta(ticks, window, |t| t.gauges.requests_total).map(|(d, _)| d)
}

/// Requests per second the proxy completed in the window.
pub fn rate_in_window(ticks: &[Tick], window: SteadyWindow) -> Option<f64> {
    window_delta(ticks, window, |t| t.gauges.requests_total).map(|(d, s)| d / s)
}

/// Proxy CPU (user + system) spent in the window, µs.
pub fn proxy_cpu_us_in_window(ticks: &[Tick], window: SteadyWindow) -> Option<f64> {
    window_delta(ticks, window, |t| {
        t.proxy.map(|p| (p.cpu_user_ms + p.cpu_sys_ms) as f64)
    })
    .map(|(d, _)| d * 1000.0)
}

/// Cores the load generator kept busy on average over the window (1.0 = one full core).
pub fn loadgen_cores_busy(ticks: &[Tick], window: SteadyWindow) -> Option<f64> {
    window_delta(ticks, window, |t| t.loadgen_cpu_ms.map(|v| v as f64))
        .map(|(ms, secs)| ms / 1000.0 / secs)
}

/// Least-squares slope of `points` (x, y); `None` with fewer than two distinct x.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// Divides, `None` when either side is unknown or there were no requests.
fn per_request(amount: Option<f64>, requests: Option<f64>) -> Option<f64> {
    match (amount, requests) {
        (Some(a), Some(r)) if r > 0.0 => Some(a / r),
        _ => None,
    }
}

/// Computes the resources summary. `alloc_before`/`alloc_after` are the allocator
/// counters at the start and end of the steady window.
///
/// `peak_until_s` bounds the samples the peak RSS is taken from: the CPU profiler
/// holds a large sample buffer while it runs, which is its memory, not the proxy's.
pub fn summarise(
    ticks: &[Tick],
    window: SteadyWindow,
    peak_until_s: f64,
    alloc_before: Option<AllocCounters>,
    alloc_after: Option<AllocCounters>,
) -> Resources {
    let requests = requests_in_window(ticks, window);
    let proxy: Vec<(f64, ProcSample)> = ticks
        .iter()
        .filter_map(|t| t.proxy.map(|p| (t.t_s, p)))
        .collect();
    let rss_points: Vec<(f64, f64)> = in_window(ticks, window)
        .filter_map(|t| t.proxy.map(|p| (t.t_s, p.rss_bytes as f64)))
        .collect();
    let alloc_delta = |f: fn(&AllocCounters) -> Option<f64>| -> Option<f64> {
        Some(f(alloc_after.as_ref()?)? - f(alloc_before.as_ref()?)?)
    };
    let alloc_requests = alloc_delta(|a| a.requests);
    Resources {
        proxy_cpu_us_per_request: per_request(proxy_cpu_us_in_window(ticks, window), requests),
        allocs_per_request: per_request(alloc_delta(|a| a.nmalloc), alloc_requests),
        bytes_allocated_per_request: per_request(
            alloc_delta(|a| a.bytes_allocated),
            alloc_requests,
        ),
        peak_rss_bytes: proxy
            .iter()
            .filter(|(t, _)| *t <= peak_until_s)
            .map(|(_, p)| p.hwm_bytes.max(p.rss_bytes))
            .max()
            .map(|b| b as f64),
        rss_slope_bytes_per_s: slope(&rss_points),
        fds_start: proxy.first().map(|(_, p)| p.fds as f64),
        fds: proxy.last().map(|(_, p)| p.fds as f64),
        threads_max: proxy.iter().map(|(_, p)| p.threads).max().map(|t| t as f64),
    }
}

/// Share of one core above which the load generator counts as saturated.
pub const SATURATED_CORES: f64 = 0.9;
/// Share of the target rate below which the load generator counts as falling short.
pub const SHORT_OF_TARGET: f64 = 0.95;

/// Whether the run's limit was the load generator: its CPU near a full core, or the
/// achieved rate short of the profile's target.
pub fn load_generator_saturated(
    loadgen_cores: Option<f64>,
    achieved_rps: Option<f64>,
    target_rps: Option<f64>,
) -> bool {
    let cpu_bound = loadgen_cores.is_some_and(|c| c >= SATURATED_CORES);
    let short = matches!((achieved_rps, target_rps), (Some(a), Some(t)) if t > 0.0 && a < t * SHORT_OF_TARGET);
    cpu_bound || short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(t: f64, cpu_ms: u64, rss: u64, requests: f64, lg_ms: u64) -> Tick {
        Tick {
            t_s: t,
            proxy: Some(ProcSample {
                cpu_user_ms: cpu_ms * 3 / 4,
                cpu_sys_ms: cpu_ms / 4,
                rss_bytes: rss,
                hwm_bytes: rss,
                threads: 4 + t as u64 % 2,
                fds: 10 + t as u64,
            }),
            loadgen_cpu_ms: Some(lg_ms),
            gauges: ProxyGauges {
                requests_total: Some(requests),
                ..Default::default()
            },
            alloc: None,
            host: None,
        }
    }

    fn timeline() -> Vec<Tick> {
        // 100 requests/s, 40 ms proxy CPU/s, RSS +1000 B/s, load generator 950 ms/s.
        (0..=10)
            .map(|s| {
                let s64 = s as u64;
                tick(
                    s as f64,
                    40 * s64,
                    1_000_000 + 1000 * s64,
                    100.0 * s as f64,
                    950 * s64,
                )
            })
            .collect()
    }

    #[test]
    fn per_request_cpu_and_slope_over_the_window() {
        let w = SteadyWindow {
            start_s: 2.0,
            end_s: 8.0,
        };
        let before = AllocCounters {
            nmalloc: Some(1000.0),
            bytes_allocated: Some(1e6),
            requests: Some(200.0),
        };
        let after = AllocCounters {
            nmalloc: Some(7000.0),
            bytes_allocated: Some(1.6e6),
            requests: Some(800.0),
        };
        let r = summarise(&timeline(), w, f64::INFINITY, Some(before), Some(after));
        assert_eq!(requests_in_window(&timeline(), w), Some(600.0));
        assert!((r.proxy_cpu_us_per_request.unwrap() - 400.0).abs() < 1e-9);
        assert!((r.rss_slope_bytes_per_s.unwrap() - 1000.0).abs() < 1e-6);
        assert_eq!(r.allocs_per_request, Some(10.0));
        assert_eq!(r.bytes_allocated_per_request, Some(1000.0));
        assert_eq!(r.peak_rss_bytes, Some(1_010_000.0));
        let early = summarise(&timeline(), w, 3.5, None, None);
        assert_eq!(early.peak_rss_bytes, Some(1_003_000.0));
        assert_eq!(
            (r.fds_start, r.fds, r.threads_max),
            (Some(10.0), Some(20.0), Some(5.0))
        );
    }

    #[test]
    fn empty_or_idle_windows_give_none() {
        let w = SteadyWindow {
            start_s: 20.0,
            end_s: 30.0,
        };
        let r = summarise(&timeline(), w, f64::INFINITY, None, None);
        assert_eq!(r.proxy_cpu_us_per_request, None);
        assert_eq!(r.rss_slope_bytes_per_s, None);
        assert_eq!(r.allocs_per_request, None);
        assert_eq!(
            summarise(&[], w, f64::INFINITY, None, None),
            Resources::default()
        );
    }

    #[test]
    fn saturation_from_cpu_or_rate() {
        let w = SteadyWindow {
            start_s: 0.0,
            end_s: 10.0,
        };
        let cores = loadgen_cores_busy(&timeline(), w).unwrap();
        assert!((cores - 0.95).abs() < 1e-9);
        assert!(load_generator_saturated(Some(cores), None, None));
        assert!(!load_generator_saturated(
            Some(0.5),
            Some(100.0),
            Some(100.0)
        ));
        assert!(load_generator_saturated(Some(0.5), Some(80.0), Some(100.0)));
        assert!(!load_generator_saturated(None, Some(80.0), None));
        assert_eq!(rate_in_window(&timeline(), w), Some(100.0));
    }

    #[test]
    fn the_profile_takes_the_end_of_the_window() {
        let sw = |start_s, end_s| SteadyWindow { start_s, end_s };
        let (m, p) = split_window(sw(60.0, 239.0), true);
        assert_eq!((m, p), (sw(60.0, 225.0), Some(sw(226.0, 236.0))));
        let (m, p) = split_window(sw(2.0, 10.0), true);
        assert_eq!((m, p), (sw(2.0, 5.0), Some(sw(6.0, 8.0))));
        let (m, p) = split_window(sw(2.0, 3.0), true);
        assert_eq!((m, p), (sw(2.0, 3.0), Some(sw(2.0, 3.0))));
        assert_eq!(split_window(sw(0.0, 9.0), false), (sw(0.0, 9.0), None));
    }

    #[test]
    fn slope_needs_two_distinct_points() {
        assert_eq!(slope(&[(1.0, 5.0)]), None);
        assert_eq!(slope(&[(1.0, 5.0), (1.0, 6.0)]), None);
        assert_eq!(slope(&[(0.0, 0.0), (2.0, 4.0)]), Some(2.0));
    }
}
