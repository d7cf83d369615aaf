//! A worker's place in a distributed run: its execution segment and the shared start.
//!
//! Every worker of a run is given the same `--start-at`; each sets itself up (origin,
//! corpus, roster, connections' targets), then waits for that instant and starts its run
//! clock there, so the warm-ups end and the steady windows begin together and a merge can
//! add their seconds by wall clock. A worker that gets there late still runs (the load it
//! adds is still wanted) but says so on stderr and in `run.json` (`worker.late`), and a
//! merge marks the whole run invalid, naming it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rundir::run::WorkerFacts;

use super::plan::AttackError;
use crate::record::RunClock;
use crate::segment::Segment;

/// Later than this past the shared start, a worker's seconds no longer line up with the
/// others' (the per-second series and the interval log have one-second resolution).
pub const LATE_TOLERANCE: Duration = Duration::from_secs(1);

/// The furthest ahead a start may be: a typo in the date must not park a worker for days.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A shared start time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAt {
    /// As given (RFC 3339), kept for `run.json`.
    pub text: String,
    /// The instant.
    pub at: SystemTime,
}

impl StartAt {
    /// Parses an RFC 3339 time.
    pub fn parse(text: &str) -> Result<StartAt, rundir::time::TimeParseError> {
        Ok(StartAt {
            text: text.to_owned(),
            at: rundir::time::parse_rfc3339(text)?,
        })
    }
}

/// Which slice of the run this process makes, and when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worker {
    /// The execution segment (`1/1`: the whole run).
    pub segment: Segment,
    /// The shared start, when coordinated.
    pub start_at: Option<StartAt>,
}

impl Worker {
    /// One process making the whole run, starting when ready.
    pub fn whole() -> Worker {
        Worker {
            segment: Segment::WHOLE,
            start_at: None,
        }
    }

    /// Whether this is part of a distributed run (its `run.json` gains `worker`).
    pub fn is_distributed(&self) -> bool {
        !self.segment.is_whole() || self.start_at.is_some()
    }

    /// What to do at `now` about the shared start: nothing, wait, or go late; a start
    /// further ahead than [`MAX_WAIT`] is refused.
    pub fn plan_start(&self, now: SystemTime) -> Result<StartPlan, AttackError> {
        let Some(start) = &self.start_at else {
            return Ok(StartPlan::Now);
        };
        match start.at.duration_since(now) {
            Ok(wait) if wait > MAX_WAIT => Err(AttackError::Setup(format!(
                "--start-at {} is more than {} h ahead",
                start.text,
                MAX_WAIT.as_secs() / 3600
            ))),
            Ok(wait) => Ok(StartPlan::Wait(wait)),
            Err(past) => Ok(StartPlan::Late(past.duration())),
        }
    }

    /// Waits for the shared start (if any) and starts the run clock.
    pub async fn start(&self) -> Result<Started, AttackError> {
        let late_by = match self.plan_start(SystemTime::now())? {
            StartPlan::Now => None,
            StartPlan::Wait(wait) => {
                // Bounded by MAX_WAIT (plan_start).
                tokio::time::sleep(wait).await;
                Some(Duration::ZERO)
            }
            StartPlan::Late(by) => Some(by),
        };
        let clock = RunClock::start_now();
        let wall = SystemTime::now();
        let cpu_ms = own_cpu_ms();
        if let (Some(late), Some(start)) = (late_by, &self.start_at) {
            if late > LATE_TOLERANCE {
                tracing::warn!(
                    segment = %self.segment,
                    start_at = %start.text,
                    late_s = late.as_secs_f64(),
                    "worker started late: its windows do not line up with the others' \
                     and a merge will mark the run invalid"
                );
            }
        }
        Ok(Started {
            clock,
            wall,
            late_by,
            cpu_ms,
        })
    }

    /// The `run.json` `worker` section, when distributed.
    pub fn facts(
        &self,
        started: &Started,
        users: u64,
        rate: Option<f64>,
        roster_range: Option<std::ops::Range<u64>>,
    ) -> Option<WorkerFacts> {
        if !self.is_distributed() {
            return None;
        }
        Some(WorkerFacts {
            index: self.segment.index(),
            count: self.segment.count(),
            start_at: self.start_at.as_ref().map(|s| s.text.clone()),
            late_by_s: started.late_by.map(|d| d.as_secs_f64()),
            late: started.late_by.is_some_and(|d| d > LATE_TOLERANCE),
            clock_start_unix_ms: started
                .wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            users,
            rate,
            roster_range: roster_range.map(|r| [r.start, r.end]),
            cpu_s: started
                .cpu_ms
                .zip(own_cpu_ms())
                .map(|(from, to)| to.saturating_sub(from) as f64 / 1000.0),
            peak_rss_bytes: own_peak_rss(),
            optimized_build: Some(!cfg!(debug_assertions)),
        })
    }
}

/// This process's CPU so far (user + system), milliseconds; `None` off Linux.
fn own_cpu_ms() -> Option<u64> {
    let tps = crate::rig::sample::clock_ticks_per_second();
    crate::rig::sample::cpu_ms(std::process::id(), tps).ok()
}

/// This process's peak resident set size, bytes; `None` off Linux.
fn own_peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    crate::rig::sample::parse_status(&status)
        .ok()
        .map(|s| s.hwm_bytes)
}

/// What a worker does about its shared start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPlan {
    /// No shared start: go.
    Now,
    /// Sleep this long, then go on time.
    Wait(Duration),
    /// The start has passed by this much: go, late.
    Late(Duration),
}

/// The moment a worker's run began.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    /// The run clock (samples are timed from it).
    pub clock: RunClock,
    /// The wall-clock time it started.
    pub wall: SystemTime,
    /// How far past the shared start, when there is one.
    pub late_by: Option<Duration>,
    /// This process's CPU at the start, milliseconds (the run's cost is measured from it).
    pub cpu_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(at: SystemTime) -> Worker {
        Worker {
            segment: Segment::new(2, 3).unwrap(),
            start_at: Some(StartAt {
                text: rundir::time::rfc3339(at),
                at,
            }),
        }
    }

    #[test]
    fn the_start_is_waited_for_gone_late_or_refused_when_days_ahead() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_863_900);
        let ahead = worker(now + Duration::from_secs(30));
        assert_eq!(
            ahead.plan_start(now).unwrap(),
            StartPlan::Wait(Duration::from_secs(30))
        );
        let past = worker(now - Duration::from_secs(5));
        assert_eq!(
            past.plan_start(now).unwrap(),
            StartPlan::Late(Duration::from_secs(5))
        );
        assert!(worker(now + MAX_WAIT * 2).plan_start(now).is_err());
        assert_eq!(Worker::whole().plan_start(now).unwrap(), StartPlan::Now);
    }

    #[test]
    fn run_json_says_the_segment_and_whether_it_was_late() {
        let w = worker(SystemTime::now());
        let started = |late: u64| Started {
            clock: RunClock::start_now(),
            wall: SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_863_900_250),
            late_by: Some(Duration::from_millis(late)),
            cpu_ms: None,
        };
        let late = w.facts(&started(7_500), 4, Some(10.0), Some(3..6)).unwrap();
        assert!(late.late, "{late:?}");
        assert_eq!(late.late_by_s, Some(7.5));
        assert_eq!((late.index, late.count, late.users), (2, 3, 4));
        assert_eq!(late.roster_range, Some([3, 6]));
        assert_eq!(late.clock_start_unix_ms, 1_795_863_900_250);
        let on_time = w.facts(&started(300), 4, None, None).unwrap();
        assert!(!on_time.late, "within the tolerance is on time");
        assert!(Worker::whole().facts(&started(0), 1, None, None).is_none());
    }
}
