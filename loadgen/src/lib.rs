//! The traffic side of the suite: a test origin, Goose scenarios of a school
//! day sent through the proxy, and latency recording in microseconds.
//!
//! The binary (`loadgen`) is a thin command line over this library so tests
//! and other crates can run an origin or an attack in-process.
//!
//! # Layout
//! From the bottom up; a module imports only from modules above it in this list's
//! layers, never from one that depends on it (`proxy/tests/module_graph.rs` checks every
//! crate of the workspace).
//! - Data: [`units`] (durations, sizes), [`profile`], [`mix`], [`roster`], [`corpus`]
//!   (data files -> typed values); [`segment`] (one worker's slice of a distributed run).
//! - Recording: [`record`] (µs HDR histograms per class and per second), [`output`]
//!   (the run directory an attack writes).
//! - Traffic: [`origin`] (the test origin), [`scenarios`] (Goose scenarios),
//!   [`schedule`] (the one open-loop schedule), [`get_loop`] (paced GETs over keep-alive
//!   connections), [`attack`] (one attack: Goose, or the open-loop driver in
//!   `attack/open_loop.rs`).
//! - The rig: [`rig`] (child guards, the shutdown signal, paths, origin, Redis, config
//!   generation, proxy launch, pinning, CPU quota, `/proc` samples).
//! - Commands above the rig: [`harness`] (`loadgen run`), [`instructions`] (the
//!   instruction pass), [`appliance`] (appliance runs), [`connections`] (connection
//!   storms), [`faults`], [`capacity`], [`parity`], [`fleet`] (a distributed run's
//!   workers on one machine); [`judged`] (what a judged command returns); [`cli`] (the `origin` and
//!   `attack` arguments).

pub mod appliance;
pub mod attack;
pub mod canary;
pub mod capacity;
pub mod cli;
pub mod connections;
pub mod corpus;
pub mod faults;
pub mod fleet;
pub mod get_loop;
pub mod harness;
pub mod instructions;
pub mod judged;
pub mod k8s;
pub mod mix;
pub mod origin;
pub mod output;
pub mod parity;
pub mod profile;
pub mod record;
pub mod rig;
pub mod roster;
pub mod scenarios;
pub mod schedule;
pub mod segment;
pub mod units;
