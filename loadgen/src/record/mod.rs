//! Latency recording in microseconds, per request class and per second.
//!
//! Goose's own response times stop at the response head and are kept in
//! milliseconds; a proxy's overhead lives in microseconds and in the body. So
//! every request's time to first byte and to last body byte is recorded here
//! into HDR histograms (1 µs to 60 s, 3 significant digits). Users never share
//! a lock: each owns a [`UserRecorder`] that ships batches of samples over a
//! channel to one [`Aggregator`] thread.

pub mod aggregate;
pub mod recorder;
pub mod timeseries;

use hdrhistogram::Histogram;
use serde::Serialize;

pub use aggregate::{Aggregator, ClassSummary, Summary};
pub use recorder::{RunClock, UserRecorder};

/// Lowest recordable latency, µs.
pub const LOWEST_US: u64 = 1;
/// Highest recordable latency, µs (60 s); longer values are clamped.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// A new empty latency histogram with the run's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG)
        .expect("constant bounds 1 µs..60 s at 3 digits are valid")
}

/// Records `us` into `h`, clamped into the histogram's range.
pub fn record_clamped(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(LOWEST_US, HIGHEST_US));
}

/// The kind of traffic a request belongs to; each has its own histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Allowed browsing.
    Allowed,
    /// Browsing expected to be blocked.
    Blocked,
    /// HTTPS through CONNECT.
    Tunnel,
    /// CORS preflights and XHR.
    Cors,
    /// Identity header checks.
    Identity,
    /// Large streaming downloads.
    Download,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 6] = [
        Class::Allowed,
        Class::Blocked,
        Class::Tunnel,
        Class::Cors,
        Class::Identity,
        Class::Download,
    ];

    /// Position in [`Class::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Allowed => "allowed",
            Class::Blocked => "blocked",
            Class::Tunnel => "tunnel",
            Class::Cors => "cors",
            Class::Identity => "identity",
            Class::Download => "download",
        }
    }
}

/// How a request ended: anything but `Ok` is a failure, a wrong answer as
/// much as a transport error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The expected answer.
    Ok,
    /// An unexpected status code.
    Status,
    /// A wrong or truncated body.
    Body,
    /// Missing or wrong headers (CORS, identity, block page type).
    Headers,
    /// Connect, reset or protocol error.
    Transport,
    /// The request timed out.
    Timeout,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::Status,
        Outcome::Body,
        Outcome::Headers,
        Outcome::Transport,
        Outcome::Timeout,
    ];

    /// Name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Status => "status",
            Outcome::Body => "body",
            Outcome::Headers => "headers",
            Outcome::Transport => "transport",
            Outcome::Timeout => "timeout",
        }
    }
}

/// One finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Its class.
    pub class: Class,
    /// How it ended.
    pub outcome: Outcome,
    /// When it finished, µs since the run started.
    pub done_us: u64,
    /// Time to first byte (response head), µs.
    pub ttfb_us: u64,
    /// Time to last body byte, µs.
    pub ttlb_us: u64,
    /// Time to last byte counted from the intended send time, µs, when the
    /// run paces requests to a target rate (coordinated omission corrected).
    pub corrected_us: Option<u64>,
}
