//! The fuzz targets, one module per parser; one test binary so that they share one build
//! and run on parallel test threads. `FUZZ_DURATION` sets each target's budget (see the
//! crate docs); `cargo test -p fuzz-targets -- --ignored write_seeds` rewrites the
//! generated seeds under `fuzz/corpus/`.

mod categories;
mod client_hello;
mod framing;
mod loaders;
mod proxy_v2;
mod radius;
mod seeds;
