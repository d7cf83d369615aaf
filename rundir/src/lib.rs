//! The run directory as a contract: what `loadgen` writes and `perf-report` reads.
//!
//! Both sides used to keep their own copy of each piece (the RFC 3339 formatter, the
//! timeseries column names, HDR file handling, a folded-stack parser each) and read
//! `run.json` through a tolerant view that papered over writers that disagreed. Each piece
//! now has one owner here, and both crates go through it.
//!
//! # Layout
//! - [`atomic`]: atomic file writes (temp file, sync, rename), for both sides.
//! - [`run`]: the typed `run.json`: [`run::RunJson`], which every writer builds and the
//!   reports read (schema version 2), and [`run::migrate`], which brings every version 1
//!   shape to that layout (no reader-side normalising).
//! - [`browser`]: `browser-load.json`, the browser load class's results (real browsers
//!   through the proxy and direct), which the report's "Browser" section reads.
//! - [`baseline`]: the baseline document (`baselines/NAME.json`).
//! - [`verdict`]: the verdict documents of `perf-report diff` and of a gate session.
//! - [`schema`]: the JSON Schemas of those documents, generated from the types and committed
//!   under `rundir/schemas/`.
//! - [`time`]: UTC time stamps as the run directory spells them (RFC 3339, second precision),
//!   and the RFC 3339 parser a coordinated start is given with.
//! - [`columns`]: the request classes and the columns of `timeseries.csv`.
//! - [`hdr`]: HDR histograms (V2) in files, in bytes and as base64 for JSON documents.
//! - [`hlog`]: HdrHistogram interval logs (`.hlog`, V2-deflate): per-second histograms
//!   other HdrHistogram tools read, and the merge adds.
//! - [`folded`]: the one parser of collapsed CPU stacks and the frame rankings built on it.
//! - [`flame`]: flame graphs (plain and differential) drawn from collapsed stacks.

pub mod atomic;
pub mod baseline;
pub mod browser;
pub mod columns;
pub mod flame;
pub mod folded;
pub mod hdr;
pub mod hlog;
pub mod run;
pub mod schema;
pub mod time;
pub mod verdict;
