//! The run harness: one command (`loadgen run --profile FILE`) takes a checkout to a
//! complete run directory.
//!
//! It starts the test origin, a `redis-server` when the profile uses the Redis store,
//! and the `filter-proxy` binary with a config generated into the run directory; pins
//! the proxy to a core of its own; runs `loadgen attack` against it while sampling the
//! proxy and the load generator once a second; profiles the proxy's CPU and allocations
//! in the steady window; stops everything it started (also on Ctrl-C, error or panic);
//! and completes the run directory with provenance, resources and the sampled columns.
//!
//! Why a separate orchestrator rather than more flags on `attack`: the measurement is
//! only trustworthy when the load generator's own limits are visible (its CPU, its
//! achieved rate) and the proxy runs as it ships (the release binary, its own process,
//! its own core); the harness owns that setup so every run is made the same way.
//!
//! The parts it starts, and how they are stopped, are the rig's ([`crate::rig`]); what is
//! the harness's own is what it measures and writes.
//!
//! # Layout
//! - [`args`]: the arguments of `loadgen run`.
//! - [`run`](mod@run): orchestration of one run (the rig started, light passes, the
//!   attack sampled, the instruction pass, the run directory completed).
//! - [`sampler`]: the per-second samples while the attack runs; [`scrape`]: Prometheus text.
//! - [`resources`]: per-request arithmetic over the steady window; [`latency`]: the
//!   latency the proxy adds (light passes).
//! - [`host`]: the machine's contention (steal, other processes) per second.
//! - [`provenance`]: commit, binary, machine; [`profile_view`]: what the harness reads of
//!   a profile.
//! - [`flame`]: the flame graph of the steady window's CPU profile.
//! - [`rundir`]: merging into the run directory; [`summary`]: the printed summary.

pub mod args;
pub mod flame;
pub mod host;
pub mod latency;
pub mod profile_view;
pub mod provenance;
pub mod resources;
pub mod run;
pub mod rundir;
pub mod sampler;
pub mod scrape;
pub mod summary;

pub use args::RunArgs;
pub use run::{run, RunOutcome};
