//! What a spike run shows: errors and latency before, during and after the surge, and
//! how long the proxy took to recover once the surge ended.
//!
//! Definitions (also in `reports/README.md`):
//! - the surge: from the start of the first stage with more users than the first stage to
//!   the end of the last such stage (for `profiles/spike.toml`: `surge` + `spike`); the
//!   stages come from `run.json`'s `stage_spans` (or the profile's stages);
//! - before: the first stage(s) up to the surge, after the warm-up; after: the rest;
//! - the tracked latency: the per-second p99 of the class with the most requests (the
//!   page loads of a school day), whose per-second samples are dense enough to decide;
//! - pre-spike p99: the median of the tracked per-second p99 over "before";
//! - recovery time: seconds from the end of the surge to the first second after it whose
//!   centred [`RECOVERY_WINDOW`]-second median p99 (that second, the two before and the
//!   two after) is <= [`RECOVERY_FACTOR`] x the pre-spike p99. A per-second p99 of a
//!   hundred or so requests is nearly the slowest request of that second, so single
//!   seconds swing both ways; the median of five lets up to two outlying seconds decide
//!   neither way, and, centred, it puts a clean step back at the second it happened. A
//!   window with a second missing does not count. When no window qualifies before the run
//!   ends, the recovery time is the time left in the run after the surge, flagged as not
//!   recovered (the gate then sees a long recovery, never a pass by default).

use crate::rundir::RunDir;
use crate::stats::median;
use crate::timeseries::Timeseries;
use rundir::run::StageSpan;

/// Seconds in the centred window whose median p99 decides a recovery (odd).
pub const RECOVERY_WINDOW: usize = 5;
/// A second is recovered when its window's median p99 is at most this multiple of the
/// pre-spike p99.
pub const RECOVERY_FACTOR: f64 = 1.2;

/// A span of the run, seconds since the attack started (`start <= s < end`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// First second.
    pub start: f64,
    /// End (exclusive).
    pub end: f64,
}

impl Span {
    fn holds(&self, s: f64) -> bool {
        s >= self.start && s < self.end
    }
}

/// The three parts of a spike run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Steady load before the surge (after the warm-up).
    pub before: Span,
    /// The surge: more users than at the start.
    pub surge: Span,
    /// From the end of the surge to the end of the run.
    pub after: Span,
}

/// Finds the surge in a test plan: `None` when no stage has more users than the first,
/// when the plan does not come back down, or nothing is left before the surge once the
/// warm-up is cut.
pub fn phases(stages: &[StageSpan], warmup_s: f64) -> Option<Phases> {
    let base = stages.first()?.users;
    let first = stages.iter().position(|s| s.users > base)?;
    let last = stages.iter().rposition(|s| s.users > base)?;
    let end = stages.last()?.end_s;
    let surge = Span {
        start: stages[first].start_s,
        end: stages[last].end_s,
    };
    let before = Span {
        start: stages[0].start_s.max(warmup_s),
        end: surge.start,
    };
    (before.end > before.start && end > surge.end).then_some(Phases {
        before,
        surge,
        after: Span {
            start: surge.end,
            end,
        },
    })
}

/// Errors and latency of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseFigures {
    /// Requests in the phase.
    pub requests: f64,
    /// Failed requests in the phase.
    pub errors: f64,
    /// Median per-second p50 and p99 (µs) by class, classes in name order.
    pub latency: Vec<(String, Option<f64>, Option<f64>)>,
}

impl PhaseFigures {
    /// Errors / requests (None without requests).
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| self.errors / self.requests)
    }
}

/// The recovery after the surge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recovery {
    /// Pre-spike p99 of the tracked class, µs.
    pub pre_p99_us: f64,
    /// p99 at or under which a second counts as recovered, µs.
    pub threshold_us: f64,
    /// Seconds from the end of the surge to the recovery (or to the end of the run).
    pub seconds: f64,
    /// False when the run ended first: `seconds` is then the time left in the run.
    pub recovered: bool,
}

/// Everything the spike section shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Spike {
    /// Where the surge was.
    pub phases: Phases,
    /// The class whose p99 decides the recovery.
    pub tracked_class: String,
    /// Before, during and after.
    pub before: PhaseFigures,
    /// During the surge.
    pub surge: PhaseFigures,
    /// After the surge.
    pub after: PhaseFigures,
    /// Recovery, when the tracked class has a pre-spike p99.
    pub recovery: Option<Recovery>,
}

/// Values of `column` in `span`, by second.
fn values_in(ts: &Timeseries, column: &str, span: Span) -> Vec<(f64, f64)> {
    ts.points(column)
        .unwrap_or_default()
        .into_iter()
        .filter(|(s, _)| span.holds(*s))
        .collect()
}

fn figures(ts: &Timeseries, classes: &[String], span: Span) -> PhaseFigures {
    let sum = |c: &str| values_in(ts, c, span).iter().map(|p| p.1).sum::<f64>();
    let med = |c: String| {
        let v: Vec<f64> = values_in(ts, &c, span).iter().map(|p| p.1).collect();
        median(&v)
    };
    PhaseFigures {
        requests: sum("requests"),
        errors: sum("errors"),
        latency: classes
            .iter()
            .map(|c| {
                (
                    c.clone(),
                    med(format!("{c}_p50_us")),
                    med(format!("{c}_p99_us")),
                )
            })
            .collect(),
    }
}

/// The recovery of the per-second p99 `points` after `phases.surge`, against the
/// median of the points before it (definitions in the module doc).
pub fn recovery(points: &[(f64, f64)], phases: &Phases) -> Option<Recovery> {
    let before: Vec<f64> = points
        .iter()
        .filter(|(s, _)| phases.before.holds(*s))
        .map(|p| p.1)
        .collect();
    let pre = median(&before)?;
    let threshold = pre * RECOVERY_FACTOR;
    let by_second = |s: f64| points.iter().find(|p| p.0 == s).map(|p| p.1);
    let half = (RECOVERY_WINDOW / 2) as f64;
    let window_median = |s: f64| -> Option<f64> {
        let values: Option<Vec<f64>> = (0..RECOVERY_WINDOW)
            .map(|k| by_second(s - half + k as f64))
            .collect();
        median(&values?)
    };
    let mut s = phases.after.start.ceil();
    // The window's last second must lie inside the run (seconds are < after.end).
    while s + half < phases.after.end {
        if window_median(s).is_some_and(|m| m <= threshold) {
            return Some(Recovery {
                pre_p99_us: pre,
                threshold_us: threshold,
                seconds: s - phases.after.start,
                recovered: true,
            });
        }
        s += 1.0;
    }
    Some(Recovery {
        pre_p99_us: pre,
        threshold_us: threshold,
        seconds: phases.after.end - phases.after.start,
        recovered: false,
    })
}

/// The class with the most requests.
fn busiest_class(run: &RunDir) -> Option<String> {
    run.run
        .classes
        .iter()
        .max_by_key(|(_, c)| c.count)
        .map(|(name, _)| name.clone())
}

/// Computes the spike figures of a run; `None` when the plan has no surge or the run
/// has no time series.
pub fn summarise(run: &RunDir) -> Option<Spike> {
    let ts = run.timeseries.as_ref()?;
    let warmup = run
        .run
        .profile
        .settings
        .get("warmup")
        .and_then(|w| w.as_str())
        .and_then(rundir::run::parse_seconds)
        .unwrap_or(0.0);
    let phases = phases(&run.run.stages(), warmup)?;
    let mut classes: Vec<String> = run.run.classes.keys().cloned().collect();
    classes.sort();
    let tracked = busiest_class(run)?;
    let points = ts.points(&format!("{tracked}_p99_us")).unwrap_or_default();
    Some(Spike {
        phases,
        before: figures(ts, &classes, phases.before),
        surge: figures(ts, &classes, phases.surge),
        after: figures(ts, &classes, phases.after),
        recovery: recovery(&points, &phases),
        tracked_class: tracked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, users: u64, start_s: f64, end_s: f64) -> StageSpan {
        StageSpan {
            name: name.into(),
            users,
            start_s,
            end_s,
        }
    }

    fn plan() -> Vec<StageSpan> {
        vec![
            stage("calm", 200, 0.0, 50.0),
            stage("surge", 1000, 50.0, 55.0),
            stage("spike", 1000, 55.0, 115.0),
            stage("recovery", 200, 115.0, 120.0),
            stage("after", 200, 120.0, 180.0),
        ]
    }

    #[test]
    fn the_surge_is_the_stages_above_the_first() {
        let p = phases(&plan(), 20.0).unwrap();
        assert_eq!(
            p.before,
            Span {
                start: 20.0,
                end: 50.0
            }
        );
        assert_eq!(
            p.surge,
            Span {
                start: 50.0,
                end: 115.0
            }
        );
        assert_eq!(
            p.after,
            Span {
                start: 115.0,
                end: 180.0
            }
        );
        let flat = vec![
            stage("ramp-up", 10, 0.0, 5.0),
            stage("steady", 10, 5.0, 60.0),
        ];
        assert_eq!(phases(&flat, 0.0), None, "no surge");
        assert_eq!(phases(&plan()[..3], 0.0), None, "never comes back down");
        assert_eq!(phases(&plan(), 60.0), None, "warm-up eats the calm");
    }

    /// p99 of 1000 µs before, 5000 during, and back to 1000 from `back_at` on.
    fn p99(back_at: f64) -> Vec<(f64, f64)> {
        (0..180)
            .map(|s| {
                let s = s as f64;
                let v = if (50.0..back_at).contains(&s) {
                    5000.0
                } else {
                    1000.0
                };
                (s, v)
            })
            .collect()
    }

    #[test]
    fn recovery_is_the_first_good_window_after_the_surge() {
        let p = phases(&plan(), 20.0).unwrap();
        let r = recovery(&p99(123.0), &p).unwrap();
        assert_eq!((r.pre_p99_us, r.threshold_us), (1000.0, 1200.0));
        assert_eq!((r.seconds, r.recovered), (8.0, true));
        // Good from the first second after the surge: zero.
        assert_eq!(recovery(&p99(115.0), &p).unwrap().seconds, 0.0);
        // A two-second dip is outvoted by the window; a single slow second after the
        // recovery does not delay it.
        let mut dip = p99(140.0);
        for point in dip.iter_mut().filter(|(s, _)| (118.0..120.0).contains(s)) {
            point.1 = 900.0;
        }
        assert_eq!(recovery(&dip, &p).unwrap().seconds, 25.0);
        let mut blip = p99(110.0);
        for point in blip.iter_mut().filter(|(s, _)| *s == 116.0) {
            point.1 = 9000.0;
        }
        assert_eq!(recovery(&blip, &p).unwrap().seconds, 0.0);
    }

    #[test]
    fn no_recovery_is_the_time_left_and_flagged() {
        let p = phases(&plan(), 20.0).unwrap();
        let r = recovery(&p99(178.0), &p).unwrap();
        assert!(!r.recovered);
        assert_eq!(r.seconds, 65.0);
        // A window with a missing second does not count.
        let gappy: Vec<(f64, f64)> = p99(115.0)
            .into_iter()
            .filter(|(s, _)| (*s as u64) % 4 != 0 || *s < 115.0)
            .collect();
        assert!(!recovery(&gappy, &p).unwrap().recovered);
        assert_eq!(recovery(&[], &p), None, "no pre-spike p99");
    }
}
