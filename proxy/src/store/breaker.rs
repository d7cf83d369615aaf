//! A circuit breaker in front of Redis: after `threshold` consecutive failures it opens and
//! every call fails fast (no network, no waiting) for `open_for`; then it half-opens and
//! lets exactly one probe through, whose outcome closes or re-opens it.
//!
//! Why: when Redis is down or slow, waiting out a timeout on every request would add that
//! timeout to every request; failing fast keeps the proxy's latency flat while the store's
//! fail mode decides what happens to the traffic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The breaker's state, as exported in metrics (`0` closed, `1` open, `2` half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; failures are counted.
    Closed = 0,
    /// Calls fail fast until the open period ends.
    Open = 1,
    /// One probe call is allowed; the rest fail fast until it reports.
    HalfOpen = 2,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// Called with the new state on every transition (metrics hook).
pub type OnTransition = Arc<dyn Fn(BreakerState) + Send + Sync>;

/// The circuit breaker. Its lock is never held across an `.await`.
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    open_for: Duration,
    on_transition: OnTransition,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .field("threshold", &self.threshold)
            .field("open_for", &self.open_for)
            .finish()
    }
}

impl Breaker {
    /// A closed breaker opening after `threshold` consecutive failures (at least 1) for
    /// `open_for`.
    pub fn new(threshold: u32, open_for: Duration, on_transition: OnTransition) -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            open_for,
            on_transition,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every
        // update is a single assignment), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current state (an open breaker whose period ended reports half-open).
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if Instant::now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Asks to make a call: `None` means fail fast. The permit must be resolved with
    /// [`Permit::success`] or [`Permit::failure`]; dropping it counts as a failure.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut state = self.lock();
        let transition = match *state {
            State::Closed { .. } | State::HalfOpen { probing: false } => None,
            State::HalfOpen { probing: true } => return None,
            State::Open { until } if Instant::now() < until => return None,
            State::Open { .. } => Some(BreakerState::HalfOpen),
        };
        if let State::HalfOpen { .. } | State::Open { .. } = *state {
            *state = State::HalfOpen { probing: true };
        }
        drop(state);
        if let Some(new) = transition {
            (self.on_transition)(new);
        }
        Some(Permit {
            breaker: self,
            resolved: false,
        })
    }

    fn report(&self, ok: bool) {
        let mut state = self.lock();
        let transition = match (&*state, ok) {
            (State::Closed { .. }, true) => {
                *state = State::Closed { failures: 0 };
                None
            }
            (State::Closed { failures }, false) if failures + 1 < self.threshold => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                None
            }
            (State::HalfOpen { .. }, true) => {
                *state = State::Closed { failures: 0 };
                Some(BreakerState::Closed)
            }
            (State::Closed { .. } | State::HalfOpen { .. }, false) => {
                *state = State::Open {
                    until: Instant::now() + self.open_for,
                };
                Some(BreakerState::Open)
            }
            // A call admitted before the breaker opened: its outcome changes nothing.
            (State::Open { .. }, _) => None,
        };
        drop(state);
        if let Some(new) = transition {
            (self.on_transition)(new);
        }
    }
}

/// Permission for one call; report its outcome.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    resolved: bool,
}

impl Permit<'_> {
    /// The call succeeded.
    pub fn success(mut self) {
        self.resolved = true;
        self.breaker.report(true);
    }

    /// The call failed (error or timeout).
    pub fn failure(mut self) {
        self.resolved = true;
        self.breaker.report(false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.resolved {
            self.breaker.report(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU8, Ordering};

    use super::*;

    fn breaker() -> (Breaker, Arc<AtomicU8>) {
        let last = Arc::new(AtomicU8::new(0));
        let seen = Arc::clone(&last);
        let hook: OnTransition = Arc::new(move |s| seen.store(s as u8, Ordering::SeqCst));
        (Breaker::new(3, Duration::from_secs(2), hook), last)
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_fails_fast() {
        let (b, last) = breaker();
        for _ in 0..2 {
            b.try_acquire().expect("closed").failure();
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.try_acquire().expect("closed").success();
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(last.load(Ordering::SeqCst), BreakerState::Open as u8);
        assert!(b.try_acquire().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn half_opens_with_a_single_probe() {
        let (b, last) = breaker();
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        tokio::time::advance(Duration::from_millis(2_001)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().expect("probe allowed");
        assert_eq!(last.load(Ordering::SeqCst), BreakerState::HalfOpen as u8);
        assert!(b.try_acquire().is_none(), "only one probe at a time");
        probe.failure();
        assert_eq!(b.state(), BreakerState::Open);

        tokio::time::advance(Duration::from_millis(2_001)).await;
        b.try_acquire().expect("probe allowed").success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(last.load(Ordering::SeqCst), BreakerState::Closed as u8);
        assert!(b.try_acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_counts_as_failure() {
        let (b, _) = breaker();
        for _ in 0..3 {
            b.try_acquire().expect("closed").failure();
        }
        tokio::time::advance(Duration::from_secs(3)).await;
        drop(b.try_acquire().expect("probe"));
        assert_eq!(b.state(), BreakerState::Open);
    }
}
