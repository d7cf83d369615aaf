//! Health checks, warm-up and the instance refresh's pacing, derived from the measured
//! start-to-ready time, the proxy's shutdown grace and how fast the rollback alarms can
//! fire. Each value is recorded with its reasoning.

use super::decision::Decision;
use super::inputs::Inputs;

/// `DatapointsToAlarm` of the rollback alarms: two breaching periods, so one bad minute
/// (a deploy blip, a client burst) does not roll a release back.
pub const ROLLBACK_DATAPOINTS: u32 = 2;
/// `EvaluationPeriods` of the rollback alarms.
pub const ROLLBACK_EVALUATION: u32 = 3;

use crate::rules::fmt_num;

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

/// Health checks plus the refresh's pacing.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Target-group and group health checks.
    pub health: Health,
    /// Seconds a rollback alarm may take to fire after a breach starts.
    pub detection_s: u32,
    /// Instance refresh `CheckpointDelay`, s.
    pub checkpoint_delay_s: u32,
    /// Instance refresh `BakeTime`, s.
    pub bake_time_s: u32,
}

/// Rounds seconds up to whole minutes.
fn ceil_minute(s: f64) -> u32 {
    ((s / 60.0).ceil() * 60.0) as u32
}

/// Records one decision.
pub fn note(out: &mut Vec<Decision>, parameter: &str, value: String, source: String) {
    out.push(Decision {
        parameter: parameter.to_owned(),
        value,
        source,
    });
}

/// Derives the timing, appending its decisions to `out`.
pub fn derive(inputs: &Inputs, out: &mut Vec<Decision>) -> Timing {
    let f = &inputs.fleet;
    let unhealthy_threshold = 2;
    let interval_s = (f.shutdown_grace_s / unhealthy_threshold).clamp(5, 300);
    let healthy_threshold = 2;
    let timeout_s = (interval_s - 1).max(2);
    note(
        out,
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
        out,
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
        out,
        "deregistration_delay.timeout_seconds",
        format!("{deregistration_delay_s} s"),
        format!(
            "the proxy's shutdown grace: connections keep being served while it drains, \
                 none longer{idle_drain}"
        ),
    );
    let ready_s = inputs.measured.start_to_ready_ms / 1000.0;
    let grace_period_s = (f64::from(f.boot_allowance_s)
        + ready_s
        + f64::from(healthy_threshold * interval_s))
    .ceil() as u32;
    note(
        out,
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
        out,
        "InstanceWarmup / DefaultInstanceWarmup",
        format!("{warmup_s} s"),
        format!(
            "grace period + one scrape interval ({} s): the first datapoint of a new \
                 instance",
            m.scrape_interval_s
        ),
    );
    let detection_s = m.alarm_period_s * (ROLLBACK_DATAPOINTS + 1) + m.scrape_interval_s;
    let checkpoint_delay_s = ceil_minute(f64::from(warmup_s + detection_s));
    note(
        out,
        "CheckpointDelay",
        format!("{checkpoint_delay_s} s"),
        format!(
            "warm-up ({warmup_s} s) + the slowest a rollback alarm fires after a breach \
                 starts ({detection_s} s: {} breaching periods of {} s, one partial period, \
                 one scrape), rounded up to a minute",
            ROLLBACK_DATAPOINTS, m.alarm_period_s
        ),
    );
    let bake_time_s = ceil_minute(f64::from(detection_s));
    note(
        out,
        "BakeTime",
        format!("{bake_time_s} s"),
        "the rollback alarms' detection time: after the last instance, the alarms get \
             one full chance to fire"
            .to_owned(),
    );
    note(
        out,
        "CheckpointPercentages / MinHealthyPercentage",
        format!(
            "{:?} / {}",
            inputs.canary.checkpoints, inputs.canary.min_healthy_percentage
        ),
        "a tenth of the fleet meets real traffic first, then half, then all; capacity \
             never drops below the minimum while instances are replaced"
            .to_owned(),
    );
    Timing {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(grace: u32, ready_ms: f64) -> Inputs {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/inputs.toml"),
        )
        .unwrap();
        let mut i = Inputs::parse(&text).unwrap();
        i.fleet.shutdown_grace_s = grace;
        i.measured.start_to_ready_ms = ready_ms;
        i
    }

    #[test]
    fn a_draining_proxy_is_unhealthy_within_its_grace_and_checks_stay_in_range() {
        for grace in [1, 10, 30, 1000] {
            let t = derive(&inputs(grace, 50.0), &mut Vec::new());
            let h = &t.health;
            assert!((5..=300).contains(&h.interval_s), "{grace}: {h:?}");
            assert!(h.timeout_s < h.interval_s);
            if grace >= 10 {
                assert!(
                    h.interval_s * h.unhealthy_threshold <= grace,
                    "{grace}: {h:?}"
                );
            }
            assert_eq!(h.deregistration_delay_s, grace);
        }
    }

    #[test]
    fn a_slower_start_lengthens_grace_warmup_and_checkpoint_delay() {
        let fast = derive(&inputs(10, 50.0), &mut Vec::new());
        let slow = derive(&inputs(10, 95_000.0), &mut Vec::new());
        assert!(slow.health.grace_period_s >= fast.health.grace_period_s + 90);
        assert!(slow.health.warmup_s > fast.health.warmup_s);
        assert!(slow.checkpoint_delay_s > fast.checkpoint_delay_s);
        for t in [&fast, &slow] {
            assert!(t.checkpoint_delay_s >= t.health.warmup_s + t.detection_s);
            assert!(t.bake_time_s >= t.detection_s);
            assert_eq!(t.checkpoint_delay_s % 60, 0);
        }
    }
}
