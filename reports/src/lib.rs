//! `perf-report`: renders load-test runs, promotes a run to a committed baseline, and diffs
//! a run against a baseline under the release gate's rules.
//!
//! The flow: a run directory (written by the load generator and the harness) is read
//! through a typed, tolerant view ([`rundir`]); metrics are extracted ([`metrics`]) into the
//! same shape a baseline stores ([`baseline`]); the rule engine ([`rules`], [`gate`])
//! compares two metric sets with robust statistics ([`stats`]) and returns pass, hotfix
//! or rollback. The workers of a distributed run are first merged into one run
//! directory ([`merge`]: histograms added, seconds summed by wall clock). [`canary`] asks
//! the same question of live telemetry: canary instances against control instances
//! serving the same traffic at the same time.

pub mod ab;
pub mod atomic;
pub mod baseline;
pub mod callgrind;
pub mod canary;
pub mod clean;
pub mod diff;
pub mod error;
pub mod fixtures;
pub mod gate;
pub mod hist;
pub mod machine;
pub mod merge;
pub mod metrics;
pub mod plots;
pub mod promote;
pub mod regression;
pub mod render;
pub mod rollout;
pub mod rules;
pub mod rundir;
pub mod sizing;
pub mod soak;
pub mod spike;
pub mod stats;
pub mod timeseries;
pub mod units;

pub use error::{ReportError, Result};
