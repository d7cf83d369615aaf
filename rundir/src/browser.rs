//! `browser-load.json`: the browser load class's results (`browser-check --load`), the
//! document the run report's "Browser" section reads when a run directory holds one.
//!
//! A few real browsers load one page with N subresources through the proxy and straight
//! to the origin, in the same run, a bounded number of times; each load's Navigation
//! Timing figures are kept, and per path their median and p90, and what the proxy adds.
//! Few users: this measures the experience, not capacity. The machine's contention (load
//! average, steal) is recorded beside the figures, since a contended machine moves them.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::atomic::{write_atomic, WriteError};

/// The file name in a run directory.
pub const FILE: &str = "browser-load.json";

/// The current `schema_version`.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole document.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct BrowserLoad {
    /// [`SCHEMA_VERSION`] when written.
    pub schema_version: u32,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// The page every browser loads (its URL, through the proxy and direct alike).
    pub page: String,
    /// Subresources the page loads (stylesheet, script, images, one XHR).
    pub subresources: u32,
    /// Browsers per path, loading at the same time.
    pub browsers: u32,
    /// Loads asked for per browser (the run also stops at `max_seconds`).
    pub repetitions: u32,
    /// Longest the run may take, in seconds.
    pub max_seconds: f64,
    /// What the run took, in seconds.
    pub took_seconds: f64,
    /// The machine while the browsers ran.
    pub machine: Contention,
    /// Per path: `proxy` and `direct`.
    pub paths: Vec<PathTiming>,
    /// What the proxy adds: proxy minus direct, per figure.
    pub proxy_adds: Vec<Difference>,
}

/// The machine's contention over the run, from `/proc`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Contention {
    /// CPUs online.
    pub cpus: u32,
    /// 1-minute load average at the start.
    pub load_avg_start: f64,
    /// 1-minute load average at the end.
    pub load_avg_end: f64,
    /// Share of CPU time stolen by the hypervisor over the run, in percent.
    pub steal_pct: f64,
    /// Share of CPU time busy (not idle or iowait) over the run, in percent.
    pub busy_pct: f64,
}

/// One path's loads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct PathTiming {
    /// `proxy` or `direct`.
    pub path: String,
    /// Loads that completed (each with every figure).
    pub loads: u32,
    /// Loads that failed (navigation error, or a subresource or the XHR missing).
    pub failed: u32,
    /// Per figure: its median and p90.
    pub figures: Vec<Figure>,
    /// Every completed load's figures, in the order they ran.
    pub samples: Vec<Sample>,
}

/// One figure's summary over a path's loads, in milliseconds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Figure {
    /// `ttfb`, `dom_content_loaded`, `load` or `xhr`.
    pub name: String,
    /// Median.
    pub median_ms: f64,
    /// 90th percentile (nearest rank).
    pub p90_ms: f64,
}

/// One load's Navigation Timing figures, in milliseconds from its `startTime`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Sample {
    /// `responseStart - requestStart`: time to the first byte of the page.
    pub ttfb: f64,
    /// `domContentLoadedEventEnd`.
    pub dom_content_loaded: f64,
    /// `loadEventEnd`: every subresource loaded.
    pub load: f64,
    /// The XHR's duration (its Resource Timing entry).
    pub xhr: f64,
}

/// What the proxy adds to one figure.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Difference {
    /// The figure.
    pub name: String,
    /// Proxy median minus direct median.
    pub median_ms: f64,
    /// Proxy p90 minus direct p90.
    pub p90_ms: f64,
}

/// Why `browser-load.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It is not the document.
    #[error("{path} is not a browser load document: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

impl BrowserLoad {
    /// Reads `dir/browser-load.json`; `None` when the run directory has none.
    pub fn read_from(dir: &Path) -> Result<Option<BrowserLoad>, ReadError> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReadError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ReadError::Parse {
                path: path.display().to_string(),
                source,
            })
    }

    /// Writes `dir/browser-load.json` atomically.
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        let text = serde_json::to_string_pretty(self).expect("the document serialises") + "\n";
        write_atomic(&dir.join(FILE), text.as_bytes())
    }

    /// The figure named `name` of `path`, if present.
    pub fn figure(&self, path: &str, name: &str) -> Option<&Figure> {
        self.paths
            .iter()
            .find(|p| p.path == path)?
            .figures
            .iter()
            .find(|f| f.name == name)
    }
}

/// The figures in the order tables show them, with their labels.
pub const FIGURES: [(&str, &str); 4] = [
    ("ttfb", "time to first byte"),
    ("dom_content_loaded", "DOMContentLoaded"),
    ("load", "load"),
    ("xhr", "XHR"),
];

impl BrowserLoad {
    /// The summary table (header and rows, in ms): per figure the median and p90 of each
    /// path and what the proxy adds. One table for both the Markdown file `browser-check`
    /// writes and the run report's section.
    pub fn table(&self) -> (Vec<&'static str>, Vec<Vec<String>>) {
        let header = vec![
            "figure (ms)",
            "direct p50",
            "proxy p50",
            "proxy adds p50",
            "direct p90",
            "proxy p90",
            "proxy adds p90",
        ];
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let signed = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:+.1}"));
        let rows = FIGURES
            .iter()
            .map(|(name, label)| {
                let direct = self.figure("direct", name);
                let proxy = self.figure("proxy", name);
                let adds = self.proxy_adds.iter().find(|d| d.name == *name);
                vec![
                    (*label).to_owned(),
                    ms(direct.map(|f| f.median_ms)),
                    ms(proxy.map(|f| f.median_ms)),
                    signed(adds.map(|d| d.median_ms)),
                    ms(direct.map(|f| f.p90_ms)),
                    ms(proxy.map(|f| f.p90_ms)),
                    signed(adds.map(|d| d.p90_ms)),
                ]
            })
            .collect();
        (header, rows)
    }

    /// One sentence on what ran and the machine meanwhile.
    pub fn context(&self) -> String {
        let loads = |path: &str| {
            self.paths
                .iter()
                .find(|p| p.path == path)
                .map_or((0, 0), |p| (p.loads, p.failed))
        };
        let ((pl, pf), (dl, df)) = (loads("proxy"), loads("direct"));
        let m = &self.machine;
        format!(
            "{} browsers per path loaded {} ({} subresources: stylesheet, script, images, one \
             XHR) up to {} times each in {:.0} s: {pl} loads through the proxy ({pf} failed), \
             {dl} direct ({df} failed). Machine: {} CPUs, load average {:.2} at the start and \
             {:.2} at the end, {:.1}% busy, {:.1}% steal. Navigation Timing, ms from each \
             load's start; the cache disabled, so every load fetches every subresource.",
            self.browsers,
            self.page,
            self.subresources,
            self.repetitions,
            self.took_seconds,
            m.cpus,
            m.load_avg_start,
            m.load_avg_end,
            m.busy_pct,
            m.steal_pct,
        )
    }

    /// The results as a Markdown section (`browser-load.md`).
    pub fn markdown(&self) -> String {
        let (header, rows) = self.table();
        let mut s = format!("## Browser\n\n{}\n\n", self.context());
        s.push_str(&format!("| {} |\n", header.join(" | ")));
        s.push_str(&format!("|{}\n", " --- |".repeat(header.len())));
        for row in rows {
            s.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        s
    }
}
