//! The traffic side of the suite: a test origin, Goose scenarios of a school
//! day sent through the proxy, and latency recording in microseconds.
//!
//! The binary (`loadgen`) is a thin command line over this library so tests
//! and other crates can run an origin or an attack in-process.

pub mod harness;
pub mod origin;
pub mod profile;
pub mod record;
pub mod units;
