//! A model of how CloudWatch evaluates a metric alarm, as a pure function, so the
//! generated alarms can be checked against recorded series before they ever page anyone.
//!
//! Each period yields one datapoint (or none: missing). After each period the alarm looks
//! at the last `evaluation_periods` datapoints and goes to ALARM when at least
//! `datapoints_to_alarm` of them breach. Missing datapoints follow `TreatMissingData`:
//! `breaching` / `notBreaching` count them as such; `missing` evaluates the present ones
//! and gives INSUFFICIENT_DATA when none are present; `ignore` keeps the previous state
//! when none are present. (CloudWatch also looks further back for present datapoints when
//! some are missing; this model keeps to the window, which is what the alarms here need:
//! their ratio metrics are present whenever the fleet serves traffic.)

use serde::{Deserialize, Serialize};

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissing {
    /// Missing datapoints are skipped; none present gives INSUFFICIENT_DATA.
    Missing,
    /// Missing datapoints count as within the threshold.
    NotBreaching,
    /// Missing datapoints count as beyond the threshold.
    Breaching,
    /// Missing datapoints are skipped; none present keeps the current state.
    Ignore,
}

impl TreatMissing {
    /// The CloudFormation value.
    pub fn as_str(self) -> &'static str {
        match self {
            TreatMissing::Missing => "missing",
            TreatMissing::NotBreaching => "notBreaching",
            TreatMissing::Breaching => "breaching",
            TreatMissing::Ignore => "ignore",
        }
    }
}

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmState {
    /// Within the threshold.
    Ok,
    /// Beyond it.
    Alarm,
    /// Not enough data to decide.
    InsufficientData,
}

/// The evaluation settings of a `GreaterThanThreshold` alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Datapoints breach when strictly greater than this.
    pub threshold: f64,
    /// `EvaluationPeriods`.
    pub evaluation_periods: usize,
    /// `DatapointsToAlarm`.
    pub datapoints_to_alarm: usize,
    /// `TreatMissingData`.
    pub treat_missing: TreatMissing,
}

/// The alarm's state after each datapoint, starting from INSUFFICIENT_DATA.
pub fn evaluate(datapoints: &[Option<f64>], e: &Evaluation) -> Vec<AlarmState> {
    let n = e.evaluation_periods.max(1);
    let mut state = AlarmState::InsufficientData;
    (0..datapoints.len())
        .map(|i| {
            let window = &datapoints[(i + 1).saturating_sub(n)..=i];
            let present = window.iter().filter(|d| d.is_some()).count();
            let breaching = window
                .iter()
                .filter(|d| match d {
                    Some(v) => *v > e.threshold,
                    None => e.treat_missing == TreatMissing::Breaching,
                })
                .count();
            state = if breaching >= e.datapoints_to_alarm {
                AlarmState::Alarm
            } else if present > 0
                || matches!(
                    e.treat_missing,
                    TreatMissing::NotBreaching | TreatMissing::Breaching
                )
            {
                AlarmState::Ok
            } else if e.treat_missing == TreatMissing::Ignore {
                state
            } else {
                AlarmState::InsufficientData
            };
            state
        })
        .collect()
}

/// One second of counter increments: `bad` of `total` requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    /// Seconds from the start of the series.
    pub t_s: f64,
    /// Requests counted by the alarm's numerator in this second.
    pub bad: f64,
    /// All requests in this second.
    pub total: f64,
}

/// Sums per-second increments into periods of `period_s` and divides, as the alarm's
/// metric math does (`IF(total > 0, bad / total, 0)`); a period with no seconds is
/// missing.
pub fn ratio_datapoints(seconds: &[Second], period_s: u32) -> Vec<Option<f64>> {
    let period = f64::from(period_s.max(1));
    let periods = seconds
        .iter()
        .map(|s| (s.t_s / period).floor() as usize + 1)
        .max()
        .unwrap_or(0);
    let mut sums = vec![None::<(f64, f64)>; periods];
    for s in seconds {
        let slot = &mut sums[(s.t_s / period).floor() as usize];
        let (b, t) = slot.get_or_insert((0.0, 0.0));
        *b += s.bad;
        *t += s.total;
    }
    sums.into_iter()
        .map(|p| p.map(|(b, t)| if t > 0.0 { b / t } else { 0.0 }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use AlarmState::*;

    fn alarm(m: usize, n: usize, treat_missing: TreatMissing) -> Evaluation {
        Evaluation {
            threshold: 1.0,
            evaluation_periods: n,
            datapoints_to_alarm: m,
            treat_missing,
        }
    }

    #[test]
    fn m_of_n_needs_m_breaching_datapoints_within_the_window() {
        let d = [
            Some(2.0),
            Some(0.0),
            Some(2.0),
            Some(0.0),
            Some(0.0),
            Some(0.0),
        ];
        let s = evaluate(&d, &alarm(2, 3, TreatMissing::Missing));
        assert_eq!(s, vec![Ok, Ok, Alarm, Ok, Ok, Ok]);
        // Equal to the threshold is not beyond it.
        let s = evaluate(&[Some(1.0), Some(1.0)], &alarm(1, 1, TreatMissing::Missing));
        assert_eq!(s, vec![Ok, Ok]);
    }

    #[test]
    fn missing_data_follows_treat_missing_data() {
        let d = [Some(2.0), None, None, None];
        assert_eq!(
            evaluate(&d, &alarm(2, 2, TreatMissing::Breaching)),
            vec![Ok, Alarm, Alarm, Alarm]
        );
        assert_eq!(
            evaluate(&d, &alarm(1, 2, TreatMissing::NotBreaching)),
            vec![Alarm, Alarm, Ok, Ok]
        );
        assert_eq!(
            evaluate(&d, &alarm(1, 2, TreatMissing::Missing)),
            vec![Alarm, Alarm, InsufficientData, InsufficientData]
        );
        assert_eq!(
            evaluate(&d, &alarm(1, 2, TreatMissing::Ignore)),
            vec![Alarm, Alarm, Alarm, Alarm]
        );
        assert_eq!(
            evaluate(&[None], &alarm(1, 1, TreatMissing::Ignore)),
            vec![InsufficientData]
        );
    }

    #[test]
    fn seconds_are_summed_per_period_before_dividing() {
        let s = |t, bad, total| Second { t_s: t, bad, total };
        let seconds = [
            s(0.0, 1.0, 10.0),
            s(1.0, 0.0, 30.0),
            s(2.5, 0.0, 0.0),
            s(7.0, 4.0, 8.0),
        ];
        let d = ratio_datapoints(&seconds, 2);
        assert_eq!(d, vec![Some(0.025), Some(0.0), None, Some(0.5)]);
        assert!(ratio_datapoints(&[], 60).is_empty());
    }
}
