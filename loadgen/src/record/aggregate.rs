//! The collecting side of recording: one thread owns every histogram.
//!
//! Users send batches of samples over a channel; this thread merges them into
//! per-class histograms (time to first byte, time to last byte and, when the
//! run paces requests, the coordinated-omission corrected time) and into the
//! per-second [`Timeseries`]. Samples that finish inside the warm-up only feed
//! the timeseries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::sample::{new_histogram, record_clamped, Class, Outcome, Sample};
use super::timeseries::{Row, SecondHistogram, Timeseries};

/// Statistics of one class over the measured part of the run.
#[derive(Debug, Clone)]
pub struct ClassSummary {
    /// The class.
    pub class: Class,
    /// Requests counted (after warm-up).
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Count per [`Outcome`], in [`Outcome::ALL`] order.
    pub outcomes: [u64; 6],
    /// Time to first byte, µs.
    pub ttfb: Histogram<u64>,
    /// Time to last byte, µs.
    pub ttlb: Histogram<u64>,
    /// Time to last byte from the intended send time, µs (paced runs only).
    pub corrected: Option<Histogram<u64>>,
}

impl ClassSummary {
    fn new(class: Class) -> Self {
        ClassSummary {
            class,
            requests: 0,
            errors: 0,
            outcomes: [0; 6],
            ttfb: new_histogram(),
            ttlb: new_histogram(),
            corrected: None,
        }
    }

    fn add(&mut self, s: &Sample) {
        self.requests += 1;
        if s.outcome != Outcome::Ok {
            self.errors += 1;
        }
        self.outcomes[Outcome::ALL
            .iter()
            .position(|o| *o == s.outcome)
            .expect("every outcome is in Outcome::ALL")] += 1;
        record_clamped(&mut self.ttfb, s.ttfb_us);
        record_clamped(&mut self.ttlb, s.ttlb_us);
        if let Some(c) = s.corrected_us {
            record_clamped(self.corrected.get_or_insert_with(new_histogram), c);
        }
    }
}

/// Everything recorded in a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Per class, in [`Class::ALL`] order.
    pub classes: Vec<ClassSummary>,
    /// Per-second rows (warm-up included, flagged).
    pub rows: Vec<Row>,
    /// Per-second time-to-last-byte histograms by class (warm-up included), for the
    /// interval log.
    pub intervals: Vec<SecondHistogram>,
    /// Samples that arrived after their second had closed.
    pub late_samples: u64,
    /// Samples that finished inside the warm-up (not in the class statistics).
    pub warmup_samples: u64,
    /// When the last sample finished, µs since the start of the run.
    pub last_done_us: u64,
}

impl Summary {
    /// Requests counted over all classes.
    pub fn total_requests(&self) -> u64 {
        self.classes.iter().map(|c| c.requests).sum()
    }

    /// Failures over all classes.
    pub fn total_errors(&self) -> u64 {
        self.classes.iter().map(|c| c.errors).sum()
    }

    /// The summary of one class.
    pub fn class(&self, class: Class) -> &ClassSummary {
        &self.classes[class.index()]
    }
}

/// A running aggregator thread.
#[derive(Debug)]
pub struct Aggregator {
    finish: Arc<AtomicBool>,
    thread: JoinHandle<Summary>,
}

impl Aggregator {
    /// Starts the thread; returns it and the sender users clone.
    pub fn spawn(warmup: Duration) -> (Aggregator, Sender<Vec<Sample>>) {
        let (tx, rx) = mpsc::channel::<Vec<Sample>>();
        let finish = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&finish);
        let thread = std::thread::Builder::new()
            .name("loadgen-aggregate".into())
            .spawn(move || run(rx, flag, warmup))
            .expect("spawning a thread only fails when the OS is out of resources");
        (Aggregator { finish, thread }, tx)
    }

    /// Asks the thread to finish once every sender is gone, or `grace` after
    /// this call at the latest, and returns what it collected.
    pub fn finish(self, grace: Duration) -> Summary {
        self.finish.store(true, Ordering::Release);
        let deadline = Instant::now() + grace;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.thread
            .join()
            .expect("the aggregator thread does not panic: it only records numbers")
    }
}

/// The thread's state: class statistics and the per-second series.
struct Collect {
    warmup_us: u64,
    classes: Vec<ClassSummary>,
    series: Timeseries,
    warmup_samples: u64,
    last_done_us: u64,
}

impl Collect {
    fn apply(&mut self, batch: &[Sample]) {
        for s in batch {
            self.last_done_us = self.last_done_us.max(s.done_us);
            self.series.add(s);
            if s.done_us < self.warmup_us {
                self.warmup_samples += 1;
            } else {
                self.classes[s.class.index()].add(s);
            }
        }
    }
}

fn run(rx: Receiver<Vec<Sample>>, finish: Arc<AtomicBool>, warmup: Duration) -> Summary {
    let mut c = Collect {
        warmup_us: warmup.as_micros() as u64,
        classes: Class::ALL.iter().map(|c| ClassSummary::new(*c)).collect(),
        series: Timeseries::new(warmup.as_secs()),
        warmup_samples: 0,
        last_done_us: 0,
    };
    let mut deadline: Option<Instant> = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(batch) => c.apply(&batch),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if finish.load(Ordering::Acquire) {
            // Some sender outlives the run (a user not yet dropped): give the
            // stragglers a moment, take what is queued, and stop.
            let d = *deadline.get_or_insert_with(|| Instant::now() + Duration::from_millis(500));
            if Instant::now() >= d {
                while let Ok(batch) = rx.try_recv() {
                    c.apply(&batch);
                }
                break;
            }
        }
    }
    let (rows, intervals, late_samples) = c.series.finish();
    Summary {
        classes: c.classes,
        rows,
        intervals,
        late_samples,
        warmup_samples: c.warmup_samples,
        last_done_us: c.last_done_us,
    }
}
