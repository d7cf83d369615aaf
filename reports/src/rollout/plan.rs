//! Every number the deploy tree carries, derived once from its sources — the gate rules,
//! the committed peak baseline and `deploy/inputs.toml` — and each recorded with the
//! figure or rule it came from ([`Decision`]), so `DECISIONS.md` cannot fall behind the
//! templates: both are rendered from this one plan.

pub use super::decision::Decision;
use super::inputs::Inputs;
use super::timing::{note, Timing};
use crate::error::{ReportError, Result};
use crate::metrics::Metric;
use crate::rules::{fmt_num, Gates, Kind, Rule};
use rundir::baseline::Baseline;
use std::path::Path;

/// The profile whose rules are the production SLOs ("the peak profile enforces the SLOs").
pub const SLO_PROFILE: &str = "peak";
/// The profile whose rules bound memory growth.
pub const SOAK_PROFILE: &str = "soak";

/// A hotfix / rollback pair taken from one gate rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Beyond this: a ticket.
    pub hotfix: f64,
    /// Beyond this: a page (and, for canary signals, a rollback).
    pub rollback: f64,
    /// The rule, as written in `gates.toml`, for the alarm table.
    pub rule: String,
}

/// The derived plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The inputs file.
    pub inputs: Inputs,
    /// Failure-rate thresholds (fraction of requests).
    pub failure: Band,
    /// p99 latency thresholds, seconds.
    pub p99_s: Band,
    /// RSS growth thresholds, bytes/s.
    pub rss_slope: Band,
    /// Availability objective: 1 - the failure-rate rollback threshold.
    pub availability: f64,
    /// Latency objective: this fraction of requests faster than `latency_le_s`.
    pub latency_target: f64,
    /// The histogram bucket the latency SLI counts (smallest bound >= the p99 hotfix).
    pub latency_le_s: f64,
    /// Requests per core-second from the peak baseline's CPU per request.
    pub capacity_per_core: f64,
    /// Target-tracking value: requests/s per instance.
    pub target_rps_per_instance: f64,
    /// Health checks, warm-up and refresh timing.
    pub timing: Timing,
    /// Commit the peak baseline was measured at.
    pub baseline_commit: String,
    /// Every decision, in document order.
    pub decisions: Vec<Decision>,
}

fn rule_for(gates: &Gates, profile: &str, metric: Metric) -> Option<Rule> {
    gates
        .for_profile(profile)
        .into_iter()
        .find(|r| r.metric == metric && r.class.is_none() && r.kind == Kind::Absolute)
}

fn band(gates: &Gates, profile: &str, metric: Metric, scale: f64) -> Result<Band> {
    let rule = rule_for(gates, profile, metric).ok_or_else(|| {
        ReportError::Usage(format!(
            "gates.toml has no absolute rule for {}{} in profile {profile}: the rollout \
             thresholds come from it",
            metric.name(),
            if metric.per_class() { ".*" } else { "" }
        ))
    })?;
    Ok(Band {
        hotfix: rule.hotfix * scale,
        rollback: rule.rollback * scale,
        rule: format!(
            "`{}{}` ({profile}): {}",
            metric.name(),
            if metric.per_class() { ".*" } else { "" },
            rule.describe()
        ),
    })
}

impl Plan {
    /// Derives the plan from the three sources.
    pub fn derive(
        gates: &Gates,
        baseline: &Baseline,
        baseline_path: &Path,
        inputs: Inputs,
    ) -> Result<Self> {
        let failure = band(gates, SLO_PROFILE, Metric::FailureRate, 1.0)?;
        let p99_s = band(gates, SLO_PROFILE, Metric::P99Us, 1e-6)?;
        let rss_slope = band(gates, SOAK_PROFILE, Metric::RssSlopeBytesPerS, 1.0)?;
        let mut d = Vec::new();
        let availability = 1.0 - failure.rollback;
        note(
            &mut d,
            "SLO: availability",
            format!("{}%", fmt_num(availability * 100.0)),
            format!("1 - the failure-rate rollback threshold; {}", failure.rule),
        );
        let latency_target = 0.99;
        let bounds = &inputs.metrics.latency_buckets_s;
        let latency_le_s = bounds
            .iter()
            .copied()
            .find(|&b| b >= p99_s.hotfix - 1e-12)
            .ok_or_else(|| {
                ReportError::Usage(format!(
                    "no latency bucket bound at or above the p99 hotfix threshold {} s",
                    p99_s.hotfix
                ))
            })?;
        note(
            &mut d,
            "SLO: latency",
            format!("99% of requests within {} s", fmt_num(latency_le_s)),
            format!(
                "p99 at the hotfix threshold ({} s; {}); counted at the proxy's histogram \
                 bucket `le=\"{}\"`, the smallest bound not below it, so the alert fires only \
                 when the rule is certainly broken",
                fmt_num(p99_s.hotfix),
                p99_s.rule,
                fmt_num(latency_le_s)
            ),
        );
        let cpu = baseline
            .metrics
            .get(Metric::ProxyCpuUsPerRequest.name())
            .and_then(|v| v.value())
            .filter(|v| *v > 0.0)
            .ok_or_else(|| ReportError::Malformed {
                path: baseline_path.to_owned(),
                detail: "metrics.proxy_cpu_us_per_request is missing: capacity comes from it"
                    .to_owned(),
            })?;
        let baseline_commit = baseline
            .provenance
            .git_commit
            .clone()
            .unwrap_or_else(|| "unknown".to_owned());
        let capacity_per_core = crate::sizing::requests_per_core(cpu);
        note(
            &mut d,
            "capacity",
            format!("{:.0} requests per core-second", capacity_per_core),
            format!(
                "1e6 / proxy_cpu_us_per_request {:.1} µs (baselines/{}.json, commit {}): \
                 the requests per core of that document's Sizing section",
                cpu,
                baseline.profile,
                &baseline_commit[..baseline_commit.len().min(12)]
            ),
        );
        let f = &inputs.fleet;
        let target_rps_per_instance =
            (capacity_per_core * f64::from(f.vcpus) * inputs.scaling.headroom).floor();
        note(
            &mut d,
            "TargetTrackingConfiguration.TargetValue",
            format!("{target_rps_per_instance:.0} requests/s per instance"),
            format!(
                "capacity x {} vCPUs x headroom {}: {}",
                f.vcpus, inputs.scaling.headroom, inputs.scaling.why
            ),
        );
        let timing = super::timing::derive(&inputs, &mut d);
        let peak_rss_slope = baseline
            .metrics
            .get(Metric::RssSlopeBytesPerS.name())
            .and_then(|v| v.value());
        note(
            &mut d,
            "RSS growth alarms: not in the refresh",
            format!(
                "{} / {} B/s",
                fmt_num(rss_slope.hotfix),
                fmt_num(rss_slope.rollback)
            ),
            format!(
                "{}; the rule bounds steady-state growth over hours, and a new instance grows \
                 while it warms: the peak baseline's own RSS slope was {} B/s",
                rss_slope.rule,
                peak_rss_slope.map_or("not measured".to_owned(), |v| format!("{v:.0}"))
            ),
        );
        Ok(Plan {
            inputs,
            failure,
            p99_s,
            rss_slope,
            availability,
            latency_target,
            latency_le_s,
            capacity_per_core,
            target_rps_per_instance,
            timing,
            baseline_commit,
            decisions: d,
        })
    }

    /// The availability error budget: the failure fraction the SLO allows.
    pub fn error_budget(&self) -> f64 {
        1.0 - self.availability
    }

    /// The latency budget: the fraction of requests allowed to be slow.
    pub fn latency_budget(&self) -> f64 {
        1.0 - self.latency_target
    }
}
