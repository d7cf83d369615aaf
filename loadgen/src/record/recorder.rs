//! The per-user side of recording: a buffer of samples shipped in batches.
//!
//! Each simulated user owns one; no lock is shared between users. A batch
//! leaves when it is full or its oldest sample is 100 ms old (checked at each
//! record), and on drop, so the per-second rows close promptly.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::sample::Sample;

/// Samples per batch.
const BATCH: usize = 256;
/// Oldest a buffered sample may get before its batch is sent.
const MAX_AGE: Duration = Duration::from_millis(100);

/// The run's time origin, shared by value.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    /// When the run started.
    pub start: Instant,
}

impl RunClock {
    /// A clock starting now.
    pub fn start_now() -> Self {
        RunClock {
            start: Instant::now(),
        }
    }

    /// µs from the start of the run to `at` (0 if before).
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_micros() as u64
    }
}

/// One user's recorder.
#[derive(Debug)]
pub struct UserRecorder {
    clock: RunClock,
    tx: Sender<Vec<Sample>>,
    buf: Vec<Sample>,
    oldest: Option<Instant>,
}

impl Clone for UserRecorder {
    /// A clone shares the channel and starts with an empty buffer.
    fn clone(&self) -> Self {
        UserRecorder::new(self.clock, self.tx.clone())
    }
}

impl UserRecorder {
    /// A recorder sending to an aggregator's channel.
    pub fn new(clock: RunClock, tx: Sender<Vec<Sample>>) -> Self {
        UserRecorder {
            clock,
            tx,
            buf: Vec::new(),
            oldest: None,
        }
    }

    /// The run clock.
    pub fn clock(&self) -> RunClock {
        self.clock
    }

    /// Buffers one sample, sending the batch when due.
    pub fn record(&mut self, sample: Sample) {
        let now = Instant::now();
        if self.buf.capacity() == 0 {
            self.buf.reserve(BATCH);
        }
        self.buf.push(sample);
        let oldest = *self.oldest.get_or_insert(now);
        if self.buf.len() >= BATCH || now.duration_since(oldest) >= MAX_AGE {
            self.flush();
        }
    }

    /// Sends whatever is buffered.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.buf);
        self.oldest = None;
        // The aggregator gone means the run is over; the samples have nowhere to go.
        let _ = self.tx.send(batch);
    }
}

impl Drop for UserRecorder {
    fn drop(&mut self) {
        self.flush();
    }
}
