//! Source (b): the judge scrapes the instances' `/metrics` itself, every interval over
//! the window, for when no Prometheus is at hand (a test rig, one machine).
//!
//! Both sides are scraped at each tick, one right after the other, so their snapshots
//! cover the same moments. A failed scrape is an error: a side whose instance vanished
//! mid-window is not comparable any more.

use std::time::{Duration, Instant};

use super::error::CanaryError;
use super::exposition::parse;
use super::http::{get, HttpUrl};
use super::snapshot::Snapshot;

/// Scrapes the two sides `intervals + 1` times, `interval` apart; returns the snapshots
/// of the control and of the canary. Bounded: at most `intervals` intervals.
pub fn collect(
    control: &[HttpUrl],
    canary: &[HttpUrl],
    interval: Duration,
    intervals: usize,
) -> Result<(Vec<Snapshot>, Vec<Snapshot>), CanaryError> {
    let start = Instant::now();
    let mut out = (Vec::new(), Vec::new());
    for tick in 0..=intervals {
        let due = start + interval * u32::try_from(tick).unwrap_or(u32::MAX);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        out.0.push(scrape_side(control, start)?);
        out.1.push(scrape_side(canary, start)?);
    }
    Ok(out)
}

/// One snapshot of a side: every instance scraped and merged.
pub fn scrape_side(urls: &[HttpUrl], epoch: Instant) -> Result<Snapshot, CanaryError> {
    let mut parts = Vec::with_capacity(urls.len());
    let mut at = 0.0;
    for url in urls {
        let body = get(url)?;
        at = epoch.elapsed().as_secs_f64();
        let samples = parse(&body, &url.to_string())?;
        parts.push(Snapshot::from_samples(at, &samples));
    }
    Ok(Snapshot::merge(at, &parts))
}
