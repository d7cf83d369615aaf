//! The CloudWatch alarms, as data: which signal, which threshold from which gate rule, and
//! how CloudWatch evaluates it. The template, the decision record and the alarm-model
//! tests all read this one list.
//!
//! Rollback alarms page and are named in the instance refresh's `AlarmSpecification`, so
//! a canary that breaches them is rolled back; hotfix alarms open a ticket.

use super::alarm_model::{Evaluation, TreatMissing};
use super::plan::{Band, Plan};
use crate::rules::fmt_num;

pub use super::timing::{ROLLBACK_DATAPOINTS, ROLLBACK_EVALUATION};
/// Hotfix alarms look at a longer window: a ticket is for what persists.
const HOTFIX_PERIOD_FACTOR: u32 = 5;
const HOTFIX_DATAPOINTS: u32 = 3;
const HOTFIX_EVALUATION: u32 = 6;

/// Who is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Pages; wired to the instance refresh when the signal is a canary signal.
    Rollback,
    /// Opens a ticket.
    Hotfix,
}

/// What an alarm measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Requests answered 5xx / all requests.
    Failures,
    /// Requests decided by fail-open (unfiltered) / all requests.
    FailOpen,
    /// Pool acquisitions that timed out (503) / all requests.
    PoolExhausted,
    /// Upstream failures of every kind / all requests.
    UpstreamErrors,
    /// Growth of the proxy's resident memory, bytes/s.
    RssGrowth,
    /// The canary judge's verdict between checkpoints: 1 when `perf-report canary` said
    /// rollback, published by the job that runs it.
    CanaryVerdict,
}

impl Signal {
    /// Every signal, in table order.
    pub const ALL: [Signal; 6] = [
        Signal::Failures,
        Signal::FailOpen,
        Signal::PoolExhausted,
        Signal::UpstreamErrors,
        Signal::RssGrowth,
        Signal::CanaryVerdict,
    ];

    /// Short name, used in alarm names and logical ids.
    pub fn slug(self) -> &'static str {
        match self {
            Signal::Failures => "failure-ratio",
            Signal::FailOpen => "fail-open-ratio",
            Signal::PoolExhausted => "pool-exhausted-ratio",
            Signal::UpstreamErrors => "upstream-error-ratio",
            Signal::RssGrowth => "rss-growth",
            Signal::CanaryVerdict => "canary-verdict",
        }
    }

    /// CamelCase form for logical ids.
    pub fn camel(self) -> &'static str {
        match self {
            Signal::Failures => "FailureRatio",
            Signal::FailOpen => "FailOpenRatio",
            Signal::PoolExhausted => "PoolExhaustedRatio",
            Signal::UpstreamErrors => "UpstreamErrorRatio",
            Signal::RssGrowth => "RssGrowth",
            Signal::CanaryVerdict => "CanaryVerdict",
        }
    }
}

/// One generated alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    /// What it measures.
    pub signal: Signal,
    /// Page or ticket.
    pub severity: Severity,
    /// `Period`, s.
    pub period_s: u32,
    /// Threshold and evaluation.
    pub eval: Evaluation,
    /// Whether the instance refresh watches it (rolls back on ALARM).
    pub in_refresh: bool,
    /// The gate rule the threshold came from.
    pub rule: String,
    /// Why these evaluation settings.
    pub why: String,
}

impl Alarm {
    /// Logical id in the template, e.g. `RollbackFailureRatioAlarm`.
    pub fn logical_id(&self) -> String {
        format!("{}{}Alarm", self.severity_word(), self.signal.camel())
    }

    /// Name suffix after the stack name, e.g. `rollback-failure-ratio`.
    pub fn name_suffix(&self) -> String {
        format!(
            "{}-{}",
            self.severity_word().to_lowercase(),
            self.signal.slug()
        )
    }

    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Rollback => "Rollback",
            Severity::Hotfix => "Hotfix",
        }
    }
}

fn ratio_alarms(plan: &Plan, signal: Signal, band: &Band, out: &mut Vec<Alarm>) {
    let p = plan.inputs.metrics.alarm_period_s;
    out.push(Alarm {
        signal,
        severity: Severity::Rollback,
        period_s: p,
        eval: Evaluation {
            threshold: band.rollback,
            evaluation_periods: ROLLBACK_EVALUATION as usize,
            datapoints_to_alarm: ROLLBACK_DATAPOINTS as usize,
            treat_missing: TreatMissing::NotBreaching,
        },
        in_refresh: true,
        rule: band.rule.clone(),
        why: format!(
            "{ROLLBACK_DATAPOINTS} of {ROLLBACK_EVALUATION} periods of {p} s: one bad period \
             does not roll back, two do within minutes; missing data is not breaching \
             (no requests, no failures; a silent fleet is the health checks' job)"
        ),
    });
    out.push(Alarm {
        signal,
        severity: Severity::Hotfix,
        period_s: p * HOTFIX_PERIOD_FACTOR,
        eval: Evaluation {
            threshold: band.hotfix,
            evaluation_periods: HOTFIX_EVALUATION as usize,
            datapoints_to_alarm: HOTFIX_DATAPOINTS as usize,
            treat_missing: TreatMissing::NotBreaching,
        },
        in_refresh: false,
        rule: band.rule.clone(),
        why: format!(
            "{HOTFIX_DATAPOINTS} of {HOTFIX_EVALUATION} periods of {} s: a ticket for what \
             recurs over half an hour, not for a single burst",
            p * HOTFIX_PERIOD_FACTOR
        ),
    });
}

/// Every alarm of the plan.
pub fn alarms(plan: &Plan) -> Vec<Alarm> {
    let mut out = Vec::new();
    for signal in [
        Signal::Failures,
        Signal::FailOpen,
        Signal::PoolExhausted,
        Signal::UpstreamErrors,
    ] {
        ratio_alarms(plan, signal, &plan.failure, &mut out);
    }
    let r = &plan.rss_slope;
    for (severity, threshold, n) in [
        (Severity::Rollback, r.rollback, 3),
        (Severity::Hotfix, r.hotfix, 6),
    ] {
        out.push(Alarm {
            signal: Signal::RssGrowth,
            severity,
            period_s: 3600,
            eval: Evaluation {
                threshold,
                evaluation_periods: n,
                datapoints_to_alarm: n,
                treat_missing: TreatMissing::Ignore,
            },
            in_refresh: false,
            rule: r.rule.clone(),
            why: format!(
                "growth above {} B/s in each of {n} hours; not a canary signal (see the \
                 parameters); a gap (agent restart) keeps the state",
                fmt_num(threshold)
            ),
        });
    }
    out.push(Alarm {
        signal: Signal::CanaryVerdict,
        severity: Severity::Rollback,
        period_s: CANARY_VERDICT_PERIOD_S,
        eval: Evaluation {
            threshold: 0.5,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            treat_missing: TreatMissing::NotBreaching,
        },
        in_refresh: true,
        rule: "the canary judge's verdict (`perf-report canary`, `[canary]` of gates.toml)"
            .to_owned(),
        why: format!(
            "the job judging the canary between checkpoints publishes `{CANARY_VERDICT_METRIC}` \
             1 on a rollback verdict, 0 otherwise; one period of {CANARY_VERDICT_PERIOD_S} s, \
             since the verdict already decides over its whole window; no judge running is \
             not breaching"
        ),
    });
    out
}

/// The metric the canary judge's job publishes (1: rollback verdict), with the fleet's
/// namespace and `fleet` dimension.
pub const CANARY_VERDICT_METRIC: &str = "canary_rollback_verdict";
/// Period of the canary verdict alarm, s.
pub const CANARY_VERDICT_PERIOD_S: u32 = 60;
