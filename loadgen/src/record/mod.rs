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
pub mod sample;
pub mod timeseries;

pub use aggregate::{Aggregator, ClassSummary, Summary};
pub use recorder::{RunClock, UserRecorder};
pub use sample::{
    new_histogram, record_clamped, Class, Outcome, Sample, HIGHEST_US, LOWEST_US, SIGFIG,
};
