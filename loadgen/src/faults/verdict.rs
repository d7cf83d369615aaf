//! The verdict of each fault: what happened inside and outside its window, and
//! whether every expectation it states held.
//!
//! Pure functions over the recorded events, metric ticks and slow-client outcomes, so
//! the arithmetic (windows, recovery, fd baseline) is tested on made-up data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::expect::Expect;
use super::slowloris::{SlowOutcome, SlowReport};
use super::spec::{FailMode, Fault};
use super::traffic::Event;
use super::watch::Tick;

/// Width of the buckets recovery is measured in.
pub const RECOVERY_BUCKET: Duration = Duration::from_millis(250);
/// Error fraction of a bucket that counts as recovered when the fault sets no budget.
pub const DEFAULT_ERROR_BUDGET: f64 = 0.01;

/// One expectation and what was observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// Which expectation.
    pub name: &'static str,
    /// The bound, as written for humans.
    pub expected: String,
    /// What the run showed.
    pub observed: String,
    /// Whether it held.
    pub held: bool,
}

/// Requests and errors of one part of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Requests.
    pub requests: u64,
    /// Errors by kind (`503`, `502`, `504`, `transport`, `timeout`, ...).
    pub errors: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn add(&mut self, e: &Event) {
        self.requests += 1;
        if let Some(kind) = e.error_kind() {
            *self.errors.entry(kind).or_default() += 1;
        }
    }

    /// All errors.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Errors per request (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.error_count() as f64 / self.requests as f64
        }
    }
}

/// The result of one fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultResult {
    /// The fault as run.
    pub fault: Fault,
    /// Window start, s from the traffic start.
    pub window_start_s: f64,
    /// Window end, s.
    pub window_end_s: f64,
    /// Requests whose life overlapped the window.
    pub inside: Tally,
    /// Requests outside every window and its recovery allowance.
    pub outside: Tally,
    /// Longest wait of a request overlapping the window, ms.
    pub worst_wait_ms: Option<f64>,
    /// p99 of those requests, ms.
    pub p99_inside_ms: Option<f64>,
    /// From the window's end until errors stayed within budget, s (`None`: never).
    pub recovery_s: Option<f64>,
    /// From the window's end until the breaker stayed closed, s.
    pub breaker_closed_after_s: Option<f64>,
    /// Slow clients, for that kind.
    pub slow_clients: Option<SlowReport>,
    /// Proxy fds before the window and the lowest after it.
    pub fds_before: Option<u64>,
    /// Lowest proxy fd count after the window.
    pub fds_after_min: Option<u64>,
    /// Every expectation checked.
    pub checks: Vec<Check>,
    /// Whether all held.
    pub held: bool,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn percentile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

/// Recovery: the first bucket from the window's end after which every bucket up to
/// `horizon_us` has an error fraction within `budget`. Buckets without requests count
/// as recovered only when a later bucket with requests is.
pub fn recovery_us(events: &[Event], end_us: u64, horizon_us: u64, budget: f64) -> Option<u64> {
    let width = RECOVERY_BUCKET.as_micros() as u64;
    if horizon_us <= end_us {
        return None;
    }
    let n = (horizon_us - end_us).div_ceil(width) as usize;
    let mut counts = vec![(0u64, 0u64); n];
    for e in events
        .iter()
        .filter(|e| e.start_us >= end_us && e.start_us < horizon_us)
    {
        let b = ((e.start_us - end_us) / width) as usize;
        counts[b].0 += 1;
        if e.error_kind().is_some() {
            counts[b].1 += 1;
        }
    }
    let mut first_good = None;
    for (b, (req, err)) in counts.iter().enumerate() {
        let good = *req == 0 || (*err as f64) <= budget * (*req as f64);
        if good {
            first_good.get_or_insert(b);
        } else {
            first_good = None;
        }
    }
    counts.iter().any(|(r, _)| *r > 0).then_some(())?;
    first_good.map(|b| b as u64 * width)
}

/// Judges one fault. `others` are the windows (start, end + allowance) of every fault,
/// in µs, used to tell what is outside all of them; `horizon_us` is the end of the
/// traffic or the next fault's start.
pub fn judge(
    fault: &Fault,
    events: &[Event],
    ticks: &[Tick],
    slow: &[SlowOutcome],
    others: &[(u64, u64)],
    horizon_us: u64,
) -> FaultResult {
    let w = Observed::of(fault, events, ticks, slow, others, horizon_us);
    let mut checks = Vec::new();
    latency_checks(&fault.expect, &w, &mut checks);
    answer_checks(&fault.expect, &w, &mut checks);
    store_checks(&fault.expect, &w, &mut checks);
    resource_checks(&fault.expect, &w, &mut checks);
    let held = checks.iter().all(|c| c.held);
    FaultResult {
        fault: fault.clone(),
        window_start_s: fault.start.as_secs_f64(),
        window_end_s: fault.end().as_secs_f64(),
        inside: w.inside,
        outside: w.outside,
        worst_wait_ms: w.worst.map(ms),
        p99_inside_ms: w.p99.map(ms),
        recovery_s: w.recovery.map(|r| r as f64 / 1e6),
        breaker_closed_after_s: w.breaker_closed_after,
        slow_clients: w.slow_report,
        fds_before: w.fds_before,
        fds_after_min: w.fds_after_min,
        checks,
        held,
    }
}

/// What the traffic and the watcher saw around one fault, before any expectation is
/// checked against it.
struct Observed<'a> {
    events: &'a [Event],
    ticks: &'a [Tick],
    /// The fault window, µs and ms from the start of the traffic.
    start_us: u64,
    end_us: u64,
    t_start_ms: u64,
    horizon_ms: u64,
    /// Requests overlapping the window, and those outside every fault's window.
    inside: Tally,
    outside: Tally,
    worst: Option<u64>,
    p99: Option<u64>,
    recovery: Option<u64>,
    /// Watcher ticks from the end of the window to the horizon.
    after: Vec<&'a Tick>,
    breaker_closed_after: Option<f64>,
    fds_before: Option<u64>,
    fds_after_min: Option<u64>,
    slow_report: Option<SlowReport>,
}

impl<'a> Observed<'a> {
    fn of(
        fault: &Fault,
        events: &'a [Event],
        ticks: &'a [Tick],
        slow: &[SlowOutcome],
        others: &[(u64, u64)],
        horizon_us: u64,
    ) -> Self {
        let start_us = fault.start.as_micros() as u64;
        let end_us = fault.end().as_micros() as u64;
        let budget = fault
            .expect
            .max_error_rate_outside
            .unwrap_or(DEFAULT_ERROR_BUDGET);
        let mut inside = Tally::default();
        let mut outside = Tally::default();
        let mut waits = Vec::new();
        for ev in events {
            if ev.start_us < end_us && ev.end_us() >= start_us {
                inside.add(ev);
                waits.push(ev.latency_us);
            } else if !others
                .iter()
                .any(|(s, x)| ev.end_us() >= *s && ev.start_us < *x)
            {
                outside.add(ev);
            }
        }
        waits.sort_unstable();
        let t_start_ms = fault.start.as_millis() as u64;
        let t_end = fault.end().as_millis() as u64;
        let horizon_ms = horizon_us / 1000;
        let after: Vec<&Tick> = ticks
            .iter()
            .filter(|t| t.t_ms >= t_end && t.t_ms < horizon_ms)
            .collect();
        let breaker_closed_after = match after.iter().rposition(|t| t.breaker != Some(0.0)) {
            None if !after.is_empty() => Some(0.0),
            Some(i) if i + 1 < after.len() => Some((after[i + 1].t_ms - t_end) as f64 / 1000.0),
            _ => None,
        };
        let fds_after_min = after.iter().filter_map(|t| t.fds).min();
        let mut observed = Observed {
            events,
            ticks,
            start_us,
            end_us,
            t_start_ms,
            horizon_ms,
            inside,
            outside,
            worst: waits.last().copied(),
            p99: percentile(&waits, 0.99),
            recovery: recovery_us(events, end_us, horizon_us, budget),
            after,
            breaker_closed_after,
            fds_before: None,
            fds_after_min,
            slow_report: (!slow.is_empty()).then(|| SlowReport::of(slow)),
        };
        observed.fds_before = observed.at_or_before(t_start_ms).and_then(|t| t.fds);
        observed
    }

    /// The last watcher tick at or before `t_ms`.
    fn at_or_before(&self, t_ms: u64) -> Option<&'a Tick> {
        self.ticks.iter().rev().find(|t| t.t_ms <= t_ms)
    }

    /// Whether a request overlapped the fault window.
    fn overlaps(&self, ev: &Event) -> bool {
        ev.start_us < self.end_us && ev.end_us() >= self.start_us
    }
}

fn push(
    checks: &mut Vec<Check>,
    name: &'static str,
    expected: String,
    observed: String,
    held: bool,
) {
    checks.push(Check {
        name,
        expected,
        observed,
        held,
    });
}

fn fmt_ms(v: Option<u64>) -> String {
    v.map_or("no requests".to_owned(), |us| format!("{:.1} ms", ms(us)))
}

/// Waits inside the window, recovery after it, errors outside every window.
fn latency_checks(e: &Expect, w: &Observed<'_>, checks: &mut Vec<Check>) {
    if let Some(max) = e.max_wait {
        let bound = max.as_micros() as u64;
        push(
            checks,
            "max_wait",
            format!("<= {} ms", max.as_millis()),
            fmt_ms(w.worst),
            w.worst.is_some_and(|v| v <= bound),
        );
    }
    if let Some(max) = e.max_unavailable_wait {
        let worst_503 = w
            .events
            .iter()
            .filter(|ev| ev.status == 503 && w.overlaps(ev))
            .map(|ev| ev.latency_us)
            .max();
        push(
            checks,
            "max_unavailable_wait",
            format!("every 503 within {} ms", max.as_millis()),
            worst_503.map_or("no 503".to_owned(), |us| {
                format!("slowest {:.1} ms", ms(us))
            }),
            worst_503.is_some_and(|v| v <= max.as_micros() as u64),
        );
    }
    if let Some(max) = e.max_p99 {
        let bound = max.as_micros() as u64;
        push(
            checks,
            "max_p99",
            format!("<= {} ms", max.as_millis()),
            fmt_ms(w.p99),
            w.p99.is_some_and(|v| v <= bound),
        );
    }
    if let Some(max) = e.max_recovery {
        push(
            checks,
            "max_recovery",
            format!("<= {:.2} s", max.as_secs_f64()),
            w.recovery.map_or("never recovered".into(), |r| {
                format!("{:.2} s", r as f64 / 1e6)
            }),
            w.recovery.is_some_and(|r| r <= max.as_micros() as u64),
        );
    }
    if let Some(max) = e.max_error_rate_outside {
        push(
            checks,
            "max_error_rate_outside",
            format!("<= {:.2} %", max * 100.0),
            format!(
                "{:.2} % of {}",
                w.outside.error_rate() * 100.0,
                w.outside.requests
            ),
            w.outside.requests > 0 && w.outside.error_rate() <= max,
        );
    }
}

/// The statuses and headers the proxy answered with.
fn answer_checks(e: &Expect, w: &Observed<'_>, checks: &mut Vec<Check>) {
    if let Some(status) = e.window_status {
        let n = w
            .events
            .iter()
            .filter(|ev| ev.start_us >= w.start_us && ev.start_us < w.end_us && ev.status == status)
            .count();
        push(
            checks,
            "window_status",
            format!("some {status} in the window"),
            format!("{n}"),
            n > 0,
        );
    }
    if let Some(true) = e.retry_after {
        let (with, total) = w
            .events
            .iter()
            .filter(|ev| ev.status == 503)
            .fold((0, 0), |(a, t), ev| (a + u64::from(ev.retry_after), t + 1));
        push(
            checks,
            "retry_after",
            "every 503 has Retry-After".into(),
            format!("{with} of {total}"),
            with == total,
        );
    }
}

/// The policy store's fail mode and its circuit breaker, from the watcher's scrapes.
fn store_checks(e: &Expect, w: &Observed<'_>, checks: &mut Vec<Check>) {
    if let Some(mode) = e.store_fail_mode {
        let read = |t: &Tick| match mode {
            FailMode::Open => t.unavailable_open,
            FailMode::Closed => t.unavailable_closed,
        };
        let before = w.at_or_before(w.t_start_ms).and_then(read).unwrap_or(0.0);
        let later = w.after.iter().filter_map(|t| read(t)).next_back();
        let grew = later.map(|l| l - before);
        push(
            checks,
            "store_fail_mode",
            format!("requests decided fail-{} counted", mode.label()),
            grew.map_or("not scraped".into(), |g| format!("{g:.0}")),
            grew.is_some_and(|g| g > 0.0),
        );
    }
    if let Some(true) = e.breaker_recovers {
        let opened = w
            .ticks
            .iter()
            .any(|t| t.t_ms >= w.t_start_ms && t.t_ms < w.horizon_ms && t.breaker == Some(1.0));
        push(
            checks,
            "breaker_recovers",
            "opens in the window, closed again after".into(),
            format!(
                "opened: {opened}, closed after: {}",
                w.breaker_closed_after
                    .map_or("never".into(), |s| format!("{s:.2} s"))
            ),
            opened && w.breaker_closed_after.is_some(),
        );
    }
}

/// Slow clients cut, and file descriptors back to where they were.
fn resource_checks(e: &Expect, w: &Observed<'_>, checks: &mut Vec<Check>) {
    if let Some(max) = e.slow_cut_within {
        let r = w.slow_report.clone().unwrap_or_default();
        let bound = max.as_millis() as u64;
        push(
            checks,
            "slow_cut_within",
            format!("all cut within {} ms", bound),
            format!(
                "{} of {} opened cut, slowest {}",
                r.cut,
                r.opened,
                r.max_cut_ms.map_or("-".into(), |m| format!("{m} ms"))
            ),
            r.opened > 0 && r.still_open == 0 && r.max_cut_ms.is_some_and(|m| m <= bound),
        );
    }
    if let Some(slack) = e.fd_slack {
        let held = match (w.fds_before, w.fds_after_min) {
            (Some(b), Some(a)) => a <= b + slack,
            _ => false,
        };
        push(
            checks,
            "fd_slack",
            format!("back within {slack} of the baseline"),
            format!(
                "before {}, lowest after {}",
                w.fds_before.map_or("-".into(), |v| v.to_string()),
                w.fds_after_min.map_or("-".into(), |v| v.to_string())
            ),
            held,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(start_ms: u64, latency_ms: u64, status: u16) -> Event {
        Event {
            start_us: start_ms * 1000,
            latency_us: latency_ms * 1000,
            status,
            retry_after: status == 503,
        }
    }

    #[test]
    fn recovery_is_the_first_bucket_after_which_errors_stay_in_budget() {
        let mut events = Vec::new();
        for t in (0..3000).step_by(10) {
            let failing = (1000..1600).contains(&t);
            events.push(ev(t, 1, if failing { 503 } else { 200 }));
        }
        assert_eq!(
            recovery_us(&events, 1_000_000, 3_000_000, 0.0),
            Some(750_000)
        );
        assert_eq!(recovery_us(&events, 2_000_000, 3_000_000, 0.0), Some(0));
        let never: Vec<Event> = (0..100).map(|t| ev(t * 10, 1, 502)).collect();
        assert_eq!(recovery_us(&never, 0, 1_000_000, 0.01), None);
    }

    #[test]
    fn judges_waits_statuses_and_outside_errors() {
        let fault: Fault = Fault {
            kind: super::super::spec::FaultKind::OriginSlow { delay_ms: 500 },
            start: Duration::from_secs(1),
            length: Duration::from_secs(1),
            expect: super::super::spec::Expect {
                max_wait: Some(Duration::from_millis(300)),
                window_status: Some(503),
                retry_after: Some(true),
                max_error_rate_outside: Some(0.0),
                ..Default::default()
            },
        };
        let events = vec![
            ev(100, 5, 200),
            ev(1100, 250, 503),
            ev(1500, 400, 200),
            ev(2800, 5, 200),
        ];
        let r = judge(
            &fault,
            &events,
            &[],
            &[],
            &[(1_000_000, 2_000_000)],
            3_000_000,
        );
        assert_eq!(r.inside.requests, 2);
        assert_eq!(r.outside.requests, 2);
        assert_eq!(r.worst_wait_ms, Some(400.0));
        let by = |n: &str| r.checks.iter().find(|c| c.name == n).unwrap().held;
        assert!(!by("max_wait"));
        assert!(by("window_status"));
        assert!(by("retry_after"));
        assert!(by("max_error_rate_outside"));
        assert!(!r.held);
    }
}
