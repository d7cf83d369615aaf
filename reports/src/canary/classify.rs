//! One metric judged: Kayenta's test with the gate's thresholds.
//!
//! The canary's per-interval values are compared with the control's by the Hodges-Lehmann
//! shift and its confidence interval (the Mann-Whitney test's own interval; its p-value is
//! reported beside it). A metric is worse only when the interval lies wholly on the
//! worse side of zero (the change is real) *and* the estimated shift is beyond a
//! threshold (the change matters); a significant change inside the hotfix line passes,
//! as in the gate. Too few intervals on either side is `nodata`, never a pass.

use super::config::{CanaryConfig, Direction, Kind, MetricRule};
use super::shift::{hodges_lehmann, Shift};
use crate::stats::{mann_whitney, median};
use rundir::verdict::Verdict;

/// How a metric came out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Too few intervals on a side to judge.
    NoData,
    /// Not worse beyond the hotfix line (or not significantly worse).
    Pass,
    /// Significantly worse beyond the hotfix line.
    Hotfix,
    /// Significantly worse beyond the rollback line.
    Rollback,
}

impl Class {
    /// The gate's verdict of this class (`nodata` maps to `missing`).
    pub fn verdict(self, missing: Verdict) -> Verdict {
        match self {
            Class::NoData => missing,
            Class::Pass => Verdict::Pass,
            Class::Hotfix => Verdict::Hotfix,
            Class::Rollback => Verdict::Rollback,
        }
    }
}

/// One metric's judgement, as reported.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Judgement {
    /// The metric series (`name` or `name.CLASS`).
    pub metric: String,
    /// The rule applied.
    pub rule: MetricRule,
    /// Intervals measured: control, canary.
    pub intervals: [usize; 2],
    /// Medians: control, canary.
    pub medians: Option<[f64; 2]>,
    /// The canary's shift against the control, with its interval.
    pub shift: Option<Shift>,
    /// Two-sided Mann-Whitney p-value.
    pub p_value: Option<f64>,
    /// The shift in the rule's terms, signed so that positive is worse (a fraction of
    /// the control's median for relative rules).
    pub effect: Option<f64>,
    /// Whether the interval lies wholly on the worse side of zero.
    pub significant: bool,
    /// The outcome.
    pub class: Class,
}

/// Judges `canary` against `control` for `metric` under `rule`.
pub fn judge(
    metric: &str,
    rule: &MetricRule,
    control: &[f64],
    canary: &[f64],
    config: &CanaryConfig,
) -> Judgement {
    let mut out = Judgement {
        metric: metric.to_string(),
        rule: rule.clone(),
        intervals: [control.len(), canary.len()],
        medians: None,
        shift: None,
        p_value: None,
        effect: None,
        significant: false,
        class: Class::NoData,
    };
    if control.len() < config.min_intervals || canary.len() < config.min_intervals {
        return out;
    }
    let (Some(mc), Some(mk), Some(shift), Some(mw)) = (
        median(control),
        median(canary),
        hodges_lehmann(control, canary, config.confidence),
        mann_whitney(control, canary),
    ) else {
        return out;
    };
    out.medians = Some([mc, mk]);
    out.shift = Some(shift);
    out.p_value = Some(mw.p_value);
    let scale = match rule.kind {
        Kind::Delta => 1.0,
        Kind::Relative => mc.abs(),
    };
    // Differences of equal values computed by different divisions can be 1e-19 rather
    // than 0: an interval edge within rounding of zero does not clear it.
    let zero = 1e-9 * mc.abs().max(mk.abs());
    // Positive = worse; for `both` the larger excursion counts.
    let (effect, significant) = match rule.direction {
        Direction::Lower => (shift.estimate, shift.low > zero),
        Direction::Higher => (-shift.estimate, shift.high < -zero),
        Direction::Both => (shift.estimate.abs(), shift.low > zero || shift.high < -zero),
    };
    let effect = if scale > 0.0 {
        effect / scale
    } else if effect > 0.0 {
        // A relative change from a control median of zero: any increase is unbounded.
        f64::INFINITY
    } else {
        0.0
    };
    out.effect = Some(effect);
    out.significant = significant;
    out.class = if !significant || effect <= rule.hotfix {
        Class::Pass
    } else if effect <= rule.rollback {
        Class::Hotfix
    } else {
        Class::Rollback
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    fn config() -> CanaryConfig {
        CanaryConfig::for_tests()
    }

    fn rule(direction: Direction, kind: Kind) -> MetricRule {
        MetricRule {
            metric: "m".into(),
            direction,
            kind,
            hotfix: 0.10,
            rollback: 0.25,
            weight: 1.0,
            critical: false,
            why: None,
        }
    }

    fn noisy(seed: u64, n: usize, centre: f64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| centre * (1.0 + 0.03 * rng.normal()))
            .collect()
    }

    #[test]
    fn direction_and_thresholds_decide() {
        let c = config();
        let control = noisy(1, 30, 100.0);
        let lower = rule(Direction::Lower, Kind::Relative);
        let same = judge("m", &lower, &control, &noisy(2, 30, 100.0), &c);
        assert_eq!(same.class, Class::Pass, "{same:?}");
        let small = judge("m", &lower, &control, &noisy(3, 30, 105.0), &c);
        assert!(small.significant, "{small:?}");
        assert_eq!(
            small.class,
            Class::Pass,
            "significant but inside the hotfix line"
        );
        let hot = judge("m", &lower, &control, &noisy(4, 30, 118.0), &c);
        assert_eq!(hot.class, Class::Hotfix, "{hot:?}");
        let bad = judge("m", &lower, &control, &noisy(5, 30, 140.0), &c);
        assert_eq!(bad.class, Class::Rollback, "{bad:?}");
        // Better is not worse, unless any change is.
        let better = judge("m", &lower, &control, &noisy(6, 30, 60.0), &c);
        assert_eq!(better.class, Class::Pass, "{better:?}");
        let higher = rule(Direction::Higher, Kind::Relative);
        assert_eq!(
            judge("m", &higher, &control, &noisy(6, 30, 60.0), &c).class,
            Class::Rollback
        );
        let both = rule(Direction::Both, Kind::Relative);
        assert_eq!(
            judge("m", &both, &control, &noisy(6, 30, 60.0), &c).class,
            Class::Rollback
        );
    }

    #[test]
    fn too_few_intervals_is_nodata_never_pass() {
        let c = config();
        let r = rule(Direction::Lower, Kind::Relative);
        let j = judge("m", &r, &noisy(1, 7, 100.0), &noisy(2, 30, 100.0), &c);
        assert_eq!(j.class, Class::NoData);
        assert_eq!(j.class.verdict(Verdict::Rollback), Verdict::Rollback);
    }

    #[test]
    fn ratios_from_zero_use_deltas() {
        let c = config();
        let mut r = rule(Direction::Lower, Kind::Delta);
        r.hotfix = 0.001;
        r.rollback = 0.01;
        let zeros = vec![0.0; 12];
        let failing = vec![0.5; 12];
        let j = judge("fail_open_ratio", &r, &zeros, &failing, &c);
        assert_eq!(j.class, Class::Rollback, "{j:?}");
        assert_eq!(judge("x", &r, &zeros, &zeros, &c).class, Class::Pass);
    }
}
