//! The admin listener: health, readiness, Prometheus metrics, and profiling.
//!
//! `pprof` and `jemalloc` serve `/debug/pprof/profile` and `/debug/jemalloc`.

pub mod jemalloc;
pub mod pprof;
