//! The open-loop schedule every paced sender shares: request `k` is *intended* to start
//! at `start + k / rate`, whether or not earlier answers came back (the definition that
//! makes coordinated omission visible).
//!
//! One owner for it, because the three paced senders (the open-loop attack driver, a fault
//! run's background traffic, an appliance run's traffic) must agree on when a request was
//! due: a ticket counter handed out across connections, a deadline after which nothing new
//! is due, and a hard stop past which an overloaded sender stops draining its backlog and
//! counts the rest as unsent. Senders differ only in what they do with a ticket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// One scheduled request: its index and when it was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// 0-based position in the schedule.
    pub index: u64,
    /// When the request was due to start.
    pub intended: Instant,
}

/// The schedule: shared by every connection (or dispatcher) of one sender.
#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    /// `None`: closed loop, every ticket is due at once.
    rate: Option<f64>,
    /// Tickets in an open-loop schedule (`duration x rate`, rounded up).
    total: u64,
    deadline: Instant,
    /// Past this, due tickets are counted as unsent instead of handed out.
    hard_stop: Option<Instant>,
    next: AtomicU64,
    unsent: AtomicU64,
}

impl Schedule {
    /// A schedule of `rate` requests per second (closed loop when `None`) for `duration`
    /// from `start`. With `grace`, late tickets are still handed out until `grace` past the
    /// end and counted as unsent after it; without, every ticket is handed out however late.
    pub fn new(
        start: Instant,
        rate: Option<f64>,
        duration: Duration,
        grace: Option<Duration>,
    ) -> Self {
        let rate = rate.filter(|r| *r > 0.0 && r.is_finite());
        // k is due while k / rate < duration; the epsilon keeps an integer product (the
        // usual case: 30 s at 200/s) from gaining a ticket to float rounding.
        let total = rate.map_or(0, |r| {
            (duration.as_secs_f64() * r - 1e-9).ceil().max(0.0) as u64
        });
        let deadline = start + duration;
        Self {
            start,
            rate,
            total,
            deadline,
            hard_stop: grace.map(|g| deadline + g),
            next: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
        }
    }

    /// When the schedule began.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Whether tickets are paced (open loop) rather than handed out back to back.
    pub fn is_paced(&self) -> bool {
        self.rate.is_some()
    }

    /// Tickets an open-loop schedule holds (0 for a closed loop).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Due tickets never handed out because the sender was past the hard stop.
    pub fn unsent(&self) -> u64 {
        self.unsent.load(Ordering::Relaxed)
    }

    /// The next ticket, once it is due (sleeps until then); `None` when the schedule is over.
    pub async fn next(&self) -> Option<Ticket> {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let intended = match self.rate {
                Some(r) => {
                    if index >= self.total {
                        return None;
                    }
                    self.start + Duration::from_secs_f64(index as f64 / r)
                }
                None => {
                    let now = Instant::now();
                    if now >= self.deadline {
                        return None;
                    }
                    now
                }
            };
            let now = Instant::now();
            if self.hard_stop.is_some_and(|h| now >= h) {
                // Overloaded: the backlog of late requests is not drained for ever.
                self.unsent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if intended > now {
                tokio::time::sleep_until(intended.into()).await;
            }
            return Some(Ticket { index, intended });
        }
    }
}

#[cfg(test)]
mod tests {
    //! Real time, short schedules: every sleep is a lower bound, so none of these can be
    //! made to pass or fail by a slow machine.
    use super::*;

    #[tokio::test]
    async fn an_open_loop_schedule_hands_out_duration_times_rate_tickets_at_their_times() {
        let start = Instant::now();
        let s = Schedule::new(start, Some(400.0), Duration::from_millis(20), None);
        let mut got = Vec::new();
        while let Some(t) = s.next().await {
            assert!(Instant::now() >= t.intended, "handed out before it was due");
            got.push((t.index, t.intended - start));
        }
        let want: Vec<_> = (0..8)
            .map(|k| (k, Duration::from_micros(2500 * k)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(s.total(), 8);
        assert_eq!(s.unsent(), 0);
    }

    #[test]
    fn a_non_integer_product_rounds_up_and_an_integer_one_gains_nothing_to_rounding() {
        let s = Schedule::new(Instant::now(), Some(2.5), Duration::from_secs(3), None);
        assert_eq!(s.total(), 8, "k / 2.5 < 3 for k = 0..=7");
        let s = Schedule::new(Instant::now(), Some(3.0), Duration::from_secs(10), None);
        assert_eq!(s.total(), 30);
        let s = Schedule::new(Instant::now(), None, Duration::from_secs(10), None);
        assert_eq!(s.total(), 0);
        assert!(!s.is_paced());
    }

    #[tokio::test]
    async fn past_the_hard_stop_due_tickets_are_counted_unsent() {
        let start = Instant::now();
        let s = Schedule::new(
            start,
            Some(100.0),
            Duration::from_millis(50),
            Some(Duration::ZERO),
        );
        assert_eq!(s.next().await.map(|t| t.index), Some(0));
        // The sender stalls past the end of the schedule.
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(s.next().await, None);
        assert_eq!(s.unsent(), 4);
    }

    #[tokio::test]
    async fn without_a_hard_stop_late_tickets_are_all_handed_out() {
        let s = Schedule::new(Instant::now(), Some(100.0), Duration::from_millis(50), None);
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut n = 0;
        while s.next().await.is_some() {
            n += 1;
        }
        assert_eq!((n, s.unsent()), (5, 0));
    }

    #[tokio::test]
    async fn a_closed_loop_hands_out_tickets_at_once_until_the_deadline() {
        let s = Schedule::new(Instant::now(), None, Duration::from_millis(30), None);
        let a = s.next().await.expect("due");
        let b = s.next().await.expect("due");
        assert_eq!((a.index, b.index), (0, 1));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(s.next().await, None);
    }
}
