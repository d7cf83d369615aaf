//! `perf-report canary`: the gate's question asked of production telemetry. Are the new
//! instances (canary) worse than the old ones (control), serving the same traffic at the
//! same time?
//!
//! # Layout
//! - sources: [`prometheus`] (range queries of the HTTP API) or [`scrape`] (the judge
//!   scrapes the `/metrics` endpoints itself; [`http`], [`exposition`]); both give each
//!   side's cumulative [`snapshot`]s at the judge's interval;
//! - [`intervals`]: per interval and side, latency percentiles per request class from
//!   histogram deltas ([`histogram`]), error, block, pool-503 and fail-open ratios, CPU
//!   seconds per request, resident memory and its slope; and the traffic served;
//! - [`comparable`]: the refusal to judge sides that served different traffic;
//! - [`classify`]: per metric, the Hodges-Lehmann shift with its 98% interval
//!   ([`shift`]) and the Mann-Whitney test, against the `[canary]` thresholds of
//!   gates.toml ([`config`]): pass, hotfix, rollback or nodata;
//! - [`verdict`]: the Kayenta-style score and the gate's verdict; [`report`]: JSON and
//!   Markdown.
//!
//! Exit codes are the gate's: 0 pass, 1 rollback, 3 hotfix, 2 bad input (which includes
//! non-comparable traffic and nothing to judge).

pub mod calibration;
pub mod classify;
pub mod comparable;
pub mod config;
pub mod error;
pub mod exposition;
pub mod histogram;
pub mod http;
pub mod intervals;
pub mod prometheus;
pub mod report;
pub mod scrape;
pub mod shift;
pub mod snapshot;
pub mod verdict;

use std::path::PathBuf;
use std::time::Duration;

use classify::{judge, Judgement};
use config::CanaryConfig;
use error::CanaryError;
use http::HttpUrl;
use intervals::{derive, Traffic};
use snapshot::Snapshot;

/// Where the judge reads the two sides.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Prometheus server and one label selector per side, over `[end - window, end]`.
    Prometheus {
        /// The server's base URL.
        url: HttpUrl,
        /// Selector of the control's series.
        control: String,
        /// Selector of the canary's series.
        canary: String,
        /// End of the window, Unix seconds.
        end: f64,
    },
    /// The instances' `/metrics` endpoints, scraped from now for the window.
    Scrape {
        /// The control's instances.
        control: Vec<HttpUrl>,
        /// The canary's instances.
        canary: Vec<HttpUrl>,
    },
}

/// What to judge and how.
#[derive(Debug, Clone)]
pub struct CanaryOptions {
    /// The sides.
    pub source: Source,
    /// The gates file with the `[canary]` section.
    pub gates: PathBuf,
    /// Seconds judged (rounded down to whole intervals).
    pub window_s: f64,
    /// Overrides the section's `interval_s`.
    pub interval_s: Option<f64>,
}

/// A finished judgement, as written to `canary.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CanaryReport {
    /// Version of this document's shape.
    pub schema_version: u32,
    /// Where the data came from (URLs and selectors).
    pub source: String,
    /// Seconds per interval.
    pub interval_s: f64,
    /// Intervals requested.
    pub intervals: usize,
    /// Traffic of the control and of the canary.
    pub traffic: [Traffic; 2],
    /// Why the sides were not judged (then `judgements` is empty and the exit is 2).
    pub not_comparable: Option<String>,
    /// Every metric judged, in name order.
    pub judgements: Vec<Judgement>,
    /// Score and verdict (None when not judged).
    pub decision: Option<verdict::Decision>,
}

/// Version of [`CanaryReport`]'s shape.
pub const REPORT_SCHEMA_VERSION: u32 = 1;

impl CanaryReport {
    /// The exit code: the verdict's, or 2 when the sides were not judged.
    pub fn exit_code(&self) -> u8 {
        self.decision
            .as_ref()
            .map_or(2, |d| verdict::exit_code(d.verdict))
    }
}

/// Collects both sides and judges them. Non-comparable traffic is a report (with the
/// reason) whose exit code is 2, so the figures that made it so are kept.
pub fn run(opts: &CanaryOptions) -> Result<CanaryReport, CanaryError> {
    let config = CanaryConfig::load(&opts.gates)?;
    let interval_s = opts.interval_s.unwrap_or(config.interval_s);
    if !config::positive(interval_s) || opts.window_s.is_nan() || opts.window_s < interval_s {
        return Err(CanaryError::Usage(format!(
            "window {}s must hold at least one interval of {interval_s}s",
            opts.window_s
        )));
    }
    let intervals = (opts.window_s / interval_s).floor() as usize;
    let (control, canary, source) = match &opts.source {
        Source::Prometheus {
            url,
            control,
            canary,
            end,
        } => {
            let range = prometheus::Range {
                start: end - intervals as f64 * interval_s,
                end: *end,
                step: interval_s,
            };
            (
                prometheus::collect(url, control, range)?,
                prometheus::collect(url, canary, range)?,
                format!("prometheus {url}: control {{{control}}}, canary {{{canary}}}"),
            )
        }
        Source::Scrape { control, canary } => {
            if control.is_empty() || canary.is_empty() {
                return Err(CanaryError::Usage(
                    "give at least one --control and one --canary URL".into(),
                ));
            }
            let (a, b) = scrape::collect(
                control,
                canary,
                Duration::from_secs_f64(interval_s),
                intervals,
            )?;
            let list = |u: &[HttpUrl]| {
                u.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            (
                a,
                b,
                format!("scrape: control {}, canary {}", list(control), list(canary)),
            )
        }
    };
    Ok(judge_snapshots(
        &control, &canary, &config, source, interval_s, intervals,
    ))
}

/// Judges two sides' snapshots (the part of [`run`] after collection).
pub fn judge_snapshots(
    control: &[Snapshot],
    canary: &[Snapshot],
    config: &CanaryConfig,
    source: String,
    interval_s: f64,
    intervals: usize,
) -> CanaryReport {
    let (control_series, control_traffic) = derive(control);
    let (canary_series, canary_traffic) = derive(canary);
    let mut report = CanaryReport {
        schema_version: REPORT_SCHEMA_VERSION,
        source,
        interval_s,
        intervals,
        traffic: [control_traffic, canary_traffic],
        not_comparable: None,
        judgements: Vec::new(),
        decision: None,
    };
    if let Err(why) = comparable::check(&report.traffic[0], &report.traffic[1], config) {
        report.not_comparable = Some(why);
        return report;
    }
    let mut names: Vec<&String> = control_series.keys().chain(canary_series.keys()).collect();
    names.sort();
    names.dedup();
    // Every exact rule is judged even when neither side measured it: a critical metric
    // nobody measured must show up as nodata, not vanish.
    let exact = config
        .rules
        .iter()
        .filter(|r| !r.metric.ends_with(".*"))
        .map(|r| &r.metric);
    let mut all: Vec<&String> = names.into_iter().chain(exact).collect();
    all.sort();
    all.dedup();
    let empty = Vec::new();
    for name in all {
        let Some(rule) = config.rule_for(name) else {
            continue;
        };
        let a = control_series.get(name).unwrap_or(&empty);
        let b = canary_series.get(name).unwrap_or(&empty);
        report.judgements.push(judge(name, rule, a, b, config));
    }
    match verdict::decide(&report.judgements, config) {
        Ok(d) => report.decision = Some(d),
        Err(e) => report.not_comparable = Some(e.to_string()),
    }
    report
}
