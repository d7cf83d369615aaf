//! The traffic side of the suite: a test origin, Goose scenarios of a school
//! day sent through the proxy, and latency recording in microseconds.
//!
//! The binary (`loadgen`) is a thin command line over this library so tests
//! and other crates can run an origin or an attack in-process.

pub mod appliance;
pub mod attack;
pub mod capacity;
pub mod cli;
pub mod corpus;
pub mod faults;
pub mod get_loop;
pub mod harness;
pub mod instructions;
pub mod judged;
pub mod mix;
pub mod openloop;
pub mod origin;
pub mod output;
pub mod parity;
pub mod profile;
pub mod record;
pub mod rig;
pub mod roster;
pub mod scenarios;
pub mod schedule;
pub mod units;
