//! Every number the deploy tree carries, derived once from its sources — the gate rules,
//! the committed peak baseline and `deploy/inputs.toml` — and each recorded with the
//! figure or rule it came from ([`Decision`]), so `DECISIONS.md` cannot fall behind the
//! templates: both are rendered from this one plan.

use super::inputs::Inputs;
use crate::baseline::Baseline;
use crate::error::{ReportError, Result};
use crate::metrics::Metric;
use crate::rules::{fmt_num, Gates, Kind, Rule};
use std::path::Path;

/// The profile whose rules are the production SLOs ("the peak profile enforces the SLOs").
pub const SLO_PROFILE: &str = "peak";
/// The profile whose rules bound memory growth.
pub const SOAK_PROFILE: &str = "soak";

/// One configuration decision: what, its value, and where the value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The parameter, as it appears in the generated files.
    pub parameter: String,
    /// Its value.
    pub value: String,
    /// The baseline figure, rule or reasoning it came from.
    pub source: String,
}

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

/// Health checks and warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Target group health-check interval, s.
    pub interval_s: u32,
    /// Health-check timeout, s.
    pub timeout_s: u32,
    /// Consecutive successes before a target takes traffic.
    pub healthy_threshold: u32,
    /// Consecutive failures before a target stops taking new connections.
    pub unhealthy_threshold: u32,
    /// NLB deregistration delay, s.
    pub deregistration_delay_s: u32,
    /// ASG health-check grace period, s.
    pub grace_period_s: u32,
    /// Instance warm-up (refresh and scaling), s.
    pub warmup_s: u32,
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
    /// Health checks and warm-up.
    pub health: Health,
    /// Seconds a rollback alarm may take to fire after a breach starts.
    pub detection_s: u32,
    /// Instance refresh `CheckpointDelay`, s.
    pub checkpoint_delay_s: u32,
    /// Instance refresh `BakeTime`, s.
    pub bake_time_s: u32,
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

/// Rounds seconds up to whole minutes.
fn ceil_minute(s: f64) -> u32 {
    ((s / 60.0).ceil() * 60.0) as u32
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
        let mut note = |parameter: &str, value: String, source: String| {
            d.push(Decision {
                parameter: parameter.to_owned(),
                value,
                source,
            })
        };
        let availability = 1.0 - failure.rollback;
        note(
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
        let capacity_per_core = 1e6 / cpu;
        note(
            "capacity",
            format!("{:.0} requests per core-second", capacity_per_core),
            format!(
                "1e6 / proxy_cpu_us_per_request {:.1} µs (baselines/{}.json, commit {}); \
                 to be replaced by the Sizing section's figure when it lands",
                cpu,
                baseline.profile,
                &baseline_commit[..baseline_commit.len().min(12)]
            ),
        );
        let f = &inputs.fleet;
        let target_rps_per_instance =
            (capacity_per_core * f64::from(f.vcpus) * inputs.scaling.headroom).floor();
        note(
            "TargetTrackingConfiguration.TargetValue",
            format!("{target_rps_per_instance:.0} requests/s per instance"),
            format!(
                "capacity x {} vCPUs x headroom {}: {}",
                f.vcpus, inputs.scaling.headroom, inputs.scaling.why
            ),
        );
        let unhealthy_threshold = 2;
        let interval_s = (f.shutdown_grace_s / unhealthy_threshold).clamp(5, 300);
        let healthy_threshold = 2;
        let timeout_s = (interval_s - 1).max(2);
        note(
            "HealthCheckIntervalSeconds / UnhealthyThresholdCount",
            format!("{interval_s} s / {unhealthy_threshold}"),
            format!(
                "a draining proxy answers /readyz 503 at once; {unhealthy_threshold} failed checks \
                 {interval_s} s apart mark it unhealthy within its shutdown grace ({} s, \
                 server.shutdown_grace)",
                f.shutdown_grace_s
            ),
        );
        note(
            "HealthyThresholdCount / HealthCheckTimeoutSeconds",
            format!("{healthy_threshold} / {timeout_s} s"),
            "the minimum count: /readyz turns 200 only once config, data and store are \
             loaded, so one more success adds nothing but delay; timeout one second under \
             the interval"
                .to_owned(),
        );
        let deregistration_delay_s = f.shutdown_grace_s;
        let idle_drain = format!(
            "; an idle proxy exits {} ms after SIGTERM (measured, as start-to-ready)",
            fmt_num(inputs.measured.idle_drain_ms)
        );
        note(
            "deregistration_delay.timeout_seconds",
            format!("{deregistration_delay_s} s"),
            format!(
                "the proxy's shutdown grace: connections keep being served while it drains, \
                 none longer{idle_drain}"
            ),
        );
        let ready_s = inputs.measured.start_to_ready_ms / 1000.0;
        let grace_period_s =
            (f64::from(f.boot_allowance_s) + ready_s + f64::from(healthy_threshold * interval_s))
                .ceil() as u32;
        note(
            "HealthCheckGracePeriod",
            format!("{grace_period_s} s"),
            format!(
                "boot allowance {} s (an assumption, not measured) + start-to-ready {} ms \
                 (measured: `{}`, {} starts, commit {}) + {healthy_threshold} checks x \
                 {interval_s} s",
                f.boot_allowance_s,
                fmt_num(inputs.measured.start_to_ready_ms),
                inputs.measured.command,
                inputs.measured.start_to_ready_runs,
                inputs.measured.commit
            ),
        );
        let m = &inputs.metrics;
        let warmup_s = grace_period_s + m.scrape_interval_s;
        note(
            "InstanceWarmup / DefaultInstanceWarmup",
            format!("{warmup_s} s"),
            format!(
                "grace period + one scrape interval ({} s): the first datapoint of a new \
                 instance",
                m.scrape_interval_s
            ),
        );
        let detection_s =
            m.alarm_period_s * (super::alarms::ROLLBACK_DATAPOINTS + 1) + m.scrape_interval_s;
        let checkpoint_delay_s = ceil_minute(f64::from(warmup_s + detection_s));
        note(
            "CheckpointDelay",
            format!("{checkpoint_delay_s} s"),
            format!(
                "warm-up ({warmup_s} s) + the slowest a rollback alarm fires after a breach \
                 starts ({detection_s} s: {} breaching periods of {} s, one partial period, \
                 one scrape), rounded up to a minute",
                super::alarms::ROLLBACK_DATAPOINTS,
                m.alarm_period_s
            ),
        );
        let bake_time_s = ceil_minute(f64::from(detection_s));
        note(
            "BakeTime",
            format!("{bake_time_s} s"),
            "the rollback alarms' detection time: after the last instance, the alarms get \
             one full chance to fire"
                .to_owned(),
        );
        note(
            "CheckpointPercentages / MinHealthyPercentage",
            format!(
                "{:?} / {}",
                inputs.canary.checkpoints, inputs.canary.min_healthy_percentage
            ),
            "a tenth of the fleet meets real traffic first, then half, then all; capacity \
             never drops below the minimum while instances are replaced"
                .to_owned(),
        );
        let peak_rss_slope = baseline
            .metrics
            .get(Metric::RssSlopeBytesPerS.name())
            .and_then(|v| v.value());
        note(
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
            health: Health {
                interval_s,
                timeout_s,
                healthy_threshold,
                unhealthy_threshold,
                deregistration_delay_s,
                grace_period_s,
                warmup_s,
            },
            detection_s,
            checkpoint_delay_s,
            bake_time_s,
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
