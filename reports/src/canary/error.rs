//! Every way `perf-report canary` can fail to judge, with the context to act on it.
//! All of them are bad input (exit 2): the judge never turns a failure into a verdict.

use std::path::PathBuf;

/// Why the canary judge could not give a verdict.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// The `[canary]` section of gates.toml is missing or malformed.
    #[error("gates file {path}: {message}")]
    Config { path: PathBuf, message: String },
    /// The command line asked for something inconsistent.
    #[error("{0}")]
    Usage(String),
    /// A URL the judge cannot use (only plain `http://host:port/path` is supported).
    #[error("URL {url}: {message}")]
    Url { url: String, message: String },
    /// A scrape or an API call failed.
    #[error("GET {url}: {message}")]
    Fetch { url: String, message: String },
    /// The Prometheus API answered with something else than a range-query result.
    #[error("Prometheus query {query}: {message}")]
    Query { query: String, message: String },
    /// The two sides did not serve comparable traffic: judging them would compare mixes,
    /// not builds.
    #[error("not comparable: {0}")]
    NotComparable(String),
    /// Not one metric had enough intervals on both sides.
    #[error("no metric had data on both sides: nothing to judge")]
    NoData,
    /// Writing the reports failed.
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}
