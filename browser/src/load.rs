//! The `browser` load class: what a page load costs a real browser through the proxy.
//!
//! A few browsers per path (through the proxy, and straight to the origin) load the
//! origin's load page (`/page/load`: stylesheet, script, images, one cross-origin XHR) in
//! rounds: each round, each path's browsers load it at the same time, the paths taking
//! turns to go first. It stops after `repetitions` rounds or `max` time, whichever comes
//! first. Each load reads Navigation Timing (TTFB = `responseStart - requestStart`,
//! `domContentLoadedEventEnd`, `loadEventEnd`, ms from the load's start) and the XHR's
//! Resource Timing duration. The cache is disabled, so every load fetches every
//! subresource. Few users: this measures the experience, not capacity.
//!
//! The machine's contention (load average at both ends, busy and steal shares over the
//! run, from `/proc`) is recorded beside the figures.

use std::path::Path;
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::network::SetCacheDisabledParams;
use futures_util::future::join_all;
use loadgen::origin::pages::LOAD_SUBRESOURCES;
use rundir::browser::{BrowserLoad, Contention, Difference, Figure, PathTiming, Sample, FIGURES};
use serde_json::Value;

use crate::chrome::{Chrome, Reach};
use crate::{BrowserError, Setup};

/// The page every browser loads.
pub const PAGE: &str = "http://school-app.example/page/load";
/// Longest one load may take before it counts as failed.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How much load to run.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Browsers per path, loading at the same time.
    pub browsers: u32,
    /// Rounds (loads per browser).
    pub repetitions: u32,
    /// Longest the run may take; no round starts after it.
    pub max: Duration,
}

/// Starts the origin and the proxy, runs the load class and returns its results.
/// Everything started is stopped on return.
pub async fn run_load(setup: &Setup, spec: &LoadSpec) -> Result<BrowserLoad, BrowserError> {
    let rig = setup.start_rig(setup.out.join("browser-load")).await?;
    let ca = rig.origin.ca_path().to_path_buf();
    let mut paths: Vec<(&str, Vec<Chrome>)> = Vec::new();
    for (name, reach) in [
        ("proxy", Reach::Proxy(rig.listen)),
        ("direct", Reach::Direct(rig.origin.addr())),
    ] {
        let mut browsers = Vec::new();
        for _ in 0..spec.browsers.max(1) {
            browsers.push(Chrome::launch(reach, &ca).await?);
        }
        paths.push((name, browsers));
    }
    let started = rundir::time::now_rfc3339();
    let before = Machine::read();
    let t0 = Instant::now();
    let mut samples: Vec<(Vec<Sample>, u32)> = vec![(Vec::new(), 0); paths.len()];
    for round in 0..spec.repetitions {
        if t0.elapsed() >= spec.max {
            break;
        }
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for i in order {
            let loads = join_all(paths[i].1.iter().map(load_once)).await;
            for load in loads {
                match load {
                    Some(sample) => samples[i].0.push(sample),
                    None => samples[i].1 += 1,
                }
            }
        }
    }
    let took = t0.elapsed();
    let after = Machine::read();
    for (_, browsers) in paths.iter_mut() {
        for chrome in browsers.drain(..) {
            chrome.close().await;
        }
    }
    drop(rig);
    let timings: Vec<PathTiming> = paths
        .iter()
        .zip(samples)
        .map(|((name, _), (samples, failed))| path_timing(name, samples, failed))
        .collect();
    let proxy_adds = differences(&timings);
    Ok(BrowserLoad {
        schema_version: rundir::browser::SCHEMA_VERSION,
        started,
        page: PAGE.into(),
        subresources: LOAD_SUBRESOURCES,
        browsers: spec.browsers.max(1),
        repetitions: spec.repetitions,
        max_seconds: spec.max.as_secs_f64(),
        took_seconds: took.as_secs_f64(),
        machine: Machine::contention(&before, &after),
        paths: timings,
        proxy_adds,
    })
}

/// Writes `browser-load.json` and `browser-load.md` into `out`.
pub fn write(out: &Path, load: &BrowserLoad) -> Result<(), BrowserError> {
    load.write_to(out)
        .map_err(|e| BrowserError::io("write browser-load.json", e.cause))?;
    std::fs::write(out.join("browser-load.md"), load.markdown())
        .map_err(|e| BrowserError::io("write browser-load.md", e))
}

/// Reads the figures once `load` fired and the XHR answered.
const TIMING_SCRIPT: &str = "() => new Promise(resolve => {
    const ready = () => {
        const n = performance.getEntriesByType('navigation')[0];
        return n && n.loadEventEnd > 0 && window.xhrDone;
    };
    const done = () => {
        const n = performance.getEntriesByType('navigation')[0];
        const x = performance.getEntriesByType('resource').find(e => e.name.includes('/api/cors'));
        const images = Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length;
        resolve({
            ttfb: n.responseStart - n.requestStart,
            dom_content_loaded: n.domContentLoadedEventEnd - n.startTime,
            load: n.loadEventEnd - n.startTime,
            xhr: x ? x.duration : null,
            xhr_status: window.xhrStatus,
            images: images,
            all_images: document.images.length,
            status: n.responseStatus,
        });
    };
    const wait = () => ready() ? done() : setTimeout(wait, 5);
    wait();
})";

/// One load in a fresh tab, cache disabled; `None` when it failed (navigation error,
/// timeout, an image or the XHR missing).
async fn load_once(chrome: &Chrome) -> Option<Sample> {
    let attempt = async {
        let tab = chrome.tab().await?;
        tab.page.execute(SetCacheDisabledParams::new(true)).await?;
        tab.page.goto(PAGE).await?;
        let saw: Value = tab
            .page
            .evaluate_function(TIMING_SCRIPT)
            .await?
            .into_value()?;
        tab.close().await;
        Ok::<_, BrowserError>(saw)
    };
    let saw = tokio::time::timeout(LOAD_TIMEOUT, attempt)
        .await
        .ok()?
        .ok()?;
    let complete = saw["images"] == saw["all_images"]
        && saw["xhr_status"] == 200
        && saw["all_images"].as_u64() > Some(0);
    if !complete {
        return None;
    }
    Some(Sample {
        ttfb: saw["ttfb"].as_f64()?,
        dom_content_loaded: saw["dom_content_loaded"].as_f64()?,
        load: saw["load"].as_f64()?,
        xhr: saw["xhr"].as_f64()?,
    })
}

fn figure_of(sample: &Sample, name: &str) -> f64 {
    match name {
        "ttfb" => sample.ttfb,
        "dom_content_loaded" => sample.dom_content_loaded,
        "load" => sample.load,
        _ => sample.xhr,
    }
}

/// Nearest-rank percentile `q` (0..=1) of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn path_timing(name: &str, samples: Vec<Sample>, failed: u32) -> PathTiming {
    let figures = if samples.is_empty() {
        Vec::new()
    } else {
        FIGURES
            .iter()
            .map(|(figure, _)| {
                let mut values: Vec<f64> = samples.iter().map(|s| figure_of(s, figure)).collect();
                values.sort_by(f64::total_cmp);
                Figure {
                    name: (*figure).into(),
                    median_ms: median(&values),
                    p90_ms: percentile(&values, 0.9),
                }
            })
            .collect()
    };
    PathTiming {
        path: name.into(),
        loads: samples.len() as u32,
        failed,
        figures,
        samples,
    }
}

/// Proxy minus direct, per figure both paths have.
fn differences(paths: &[PathTiming]) -> Vec<Difference> {
    let find = |path: &str, name: &str| {
        paths
            .iter()
            .find(|p| p.path == path)
            .and_then(|p| p.figures.iter().find(|f| f.name == name))
    };
    FIGURES
        .iter()
        .filter_map(|(name, _)| {
            let (p, d) = (find("proxy", name)?, find("direct", name)?);
            Some(Difference {
                name: (*name).into(),
                median_ms: p.median_ms - d.median_ms,
                p90_ms: p.p90_ms - d.p90_ms,
            })
        })
        .collect()
}

/// `/proc` readings for the contention figures.
struct Machine {
    load_avg: f64,
    /// `/proc/stat` cpu line: total, idle (idle + iowait), steal jiffies.
    jiffies: Option<(u64, u64, u64)>,
}

impl Machine {
    fn read() -> Machine {
        let load_avg = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            // Zero when /proc cannot be read (the suite runs on Linux, where it can).
            .unwrap_or(0.0);
        let jiffies = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("cpu "))?;
            let v: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest is inside user).
            let total: u64 = v.iter().take(8).sum();
            Some((total, v.get(3)? + v.get(4)?, *v.get(7)?))
        });
        Machine { load_avg, jiffies }
    }

    fn contention(before: &Machine, after: &Machine) -> Contention {
        let (busy_pct, steal_pct) = match (before.jiffies, after.jiffies) {
            (Some((t0, i0, s0)), Some((t1, i1, s1))) if t1 > t0 => {
                let total = (t1 - t0) as f64;
                (
                    100.0 * (total - (i1 - i0) as f64) / total,
                    100.0 * (s1 - s0) as f64 / total,
                )
            }
            _ => (0.0, 0.0),
        };
        Contention {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            load_avg_start: before.load_avg,
            load_avg_end: after.load_avg,
            steal_pct,
            busy_pct,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank_and_the_median_of_an_even_count() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.9), 9.0);
        assert_eq!(percentile(&v[..1], 0.9), 1.0);
        assert_eq!(median(&v), 5.5);
        assert_eq!(median(&v[..3]), 2.0);
    }

    #[test]
    fn the_proxy_adds_proxy_minus_direct() {
        let sample = |ms: f64| Sample {
            ttfb: ms,
            dom_content_loaded: ms * 2.0,
            load: ms * 3.0,
            xhr: ms,
        };
        let proxy = path_timing("proxy", vec![sample(3.0), sample(5.0)], 0);
        let direct = path_timing("direct", vec![sample(1.0)], 1);
        let adds = differences(&[proxy, direct]);
        let load = adds.iter().find(|d| d.name == "load").unwrap();
        assert_eq!(load.median_ms, 12.0 - 3.0);
        assert_eq!(load.p90_ms, 15.0 - 3.0);
        assert_eq!(adds.len(), FIGURES.len());
    }
}
