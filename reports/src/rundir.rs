//! Loading a run directory: `run.json`, `timeseries.csv`, `hist/<class>.hdr`, `cpu.folded`,
//! `browser-load.json`.
//!
//! Only `run.json` is required. The schema version is checked before anything else is read
//! so that a document from another tool version is refused with a clear message instead of
//! a confusing "missing field" error.

use crate::error::{ReportError, Result};
use crate::timeseries::Timeseries;
use hdrhistogram::Histogram;
use rundir::run::{DocError, RunJson};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File names inside a run directory.
pub mod files {
    /// The run summary.
    pub const RUN_JSON: &str = "run.json";
    /// Per-second series.
    pub const TIMESERIES: &str = "timeseries.csv";
    /// Directory of per-class HDR histograms.
    pub const HIST_DIR: &str = "hist";
    /// Directory of coordinated-omission corrected histograms (paced runs).
    pub const CORRECTED_DIR: &str = "hist/corrected";
    /// Collapsed CPU stacks of the proxy.
    pub const FOLDED: &str = "cpu.folded";
    /// The run's flame graph.
    pub const FLAMEGRAPH: &str = "flamegraph.svg";
}

/// A loaded run directory.
#[derive(Debug)]
pub struct RunDir {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// The summary document.
    pub run: RunJson,
    /// The per-second series, if recorded.
    pub timeseries: Option<Timeseries>,
    /// Latency histograms (µs) by class, if recorded.
    pub histograms: BTreeMap<String, Histogram<u64>>,
    /// Latency from the intended send time (µs), by class, for paced runs.
    pub corrected: BTreeMap<String, Histogram<u64>>,
    /// Collapsed CPU stacks, if recorded.
    pub folded: Option<String>,
    /// The browser load class's results (`browser-load.json`), when the run has them.
    pub browser: Option<rundir::browser::BrowserLoad>,
}

impl RunDir {
    /// Loads a run directory; only `run.json` must exist.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            return Err(ReportError::Read {
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "run directory does not exist",
                ),
            });
        }
        let run = read_run_json(&path.join(files::RUN_JSON))?;
        let ts_path = path.join(files::TIMESERIES);
        let timeseries = if ts_path.is_file() {
            Some(Timeseries::read(&ts_path)?)
        } else {
            None
        };
        let histograms = read_histograms(&path.join(files::HIST_DIR))?;
        let corrected = read_histograms(&path.join(files::CORRECTED_DIR))?;
        let folded_path = path.join(files::FOLDED);
        let folded = if folded_path.is_file() {
            Some(read_to_string(&folded_path)?)
        } else {
            None
        };
        let browser = rundir::browser::BrowserLoad::read_from(path).map_err(|e| match e {
            rundir::browser::ReadError::Io { source, .. } => ReportError::Read {
                path: path.join(rundir::browser::FILE),
                source,
            },
            rundir::browser::ReadError::Parse { source, .. } => ReportError::Malformed {
                path: path.join(rundir::browser::FILE),
                detail: source.to_string(),
            },
        })?;
        Ok(Self {
            path: path.to_owned(),
            run,
            timeseries,
            histograms,
            corrected,
            folded,
            browser,
        })
    }

    /// The run's profile name.
    pub fn profile(&self) -> &str {
        &self.run.profile.name
    }
}

/// Reads a file to a string, naming the file on error.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads a versioned JSON document with `parse` (a `from_json` of `rundir`, which checks
/// the schema version and migrates older ones), naming the file on error.
pub fn read_document<T>(
    path: &Path,
    parse: fn(serde_json::Value) -> std::result::Result<T, DocError>,
) -> Result<T> {
    let text = read_to_string(path)?;
    let malformed = |e: serde_json::Error| ReportError::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(malformed)?;
    parse(value).map_err(|e| match e {
        DocError::Version { found, expected } => ReportError::SchemaMismatch {
            path: path.to_owned(),
            found: found.map_or_else(|| "missing".to_owned(), |v| v.to_string()),
            expected,
        },
        DocError::Shape(e) => malformed(e),
    })
}

/// Reads `run.json`.
pub fn read_run_json(path: &Path) -> Result<RunJson> {
    read_document(path, RunJson::from_json)
}

fn read_histograms(dir: &Path) -> Result<BTreeMap<String, Histogram<u64>>> {
    let mut out = BTreeMap::new();
    let mut ranks: BTreeMap<String, usize> = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| ReportError::Read {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ReportError::Read {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("hdr") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        // `<class>.hdr`, else `<class>-ttlb.hdr`, else `<class>-ttfb.hdr` (any of - . _).
        let split = stem
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(stem.len());
        let (class, suffix) = (
            &stem[..split],
            stem[split..].trim_start_matches(['-', '.', '_']),
        );
        let Some(rank) = ["", "ttlb", "ttfb"].iter().position(|s| *s == suffix) else {
            continue;
        };
        if ranks.get(class).is_some_and(|&r| r <= rank) {
            continue;
        }
        ranks.insert(class.to_owned(), rank);
        let bytes = std::fs::read(&path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        let histogram = rundir::hdr::decode(&bytes).map_err(|e| ReportError::Malformed {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if !histogram.is_empty() {
            out.insert(class.to_owned(), histogram);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixture;

    fn histogram(value: u64) -> Vec<u8> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        h.record(value).unwrap();
        rundir::hdr::encode(&h)
    }

    #[test]
    fn histogram_names_prefer_whole_request_latency() {
        let tmp = tempfile::tempdir().unwrap();
        Fixture::default().write(tmp.path()).unwrap();
        let dir = tmp.path().join(files::HIST_DIR);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir(&dir).unwrap();
        for (name, v) in [
            ("allowed-ttfb.hdr", 1),
            ("allowed-ttlb.hdr", 2),
            ("allowed-corrected.hdr", 3),
            ("blocked-ttfb.hdr", 4),
            ("tunnel.hdr", 5),
            ("tunnel_ttlb.hdr", 6),
        ] {
            std::fs::write(dir.join(name), histogram(v)).unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
        let run = RunDir::load(tmp.path()).unwrap();
        let max = |c: &str| run.histograms[c].max();
        assert_eq!((max("allowed"), max("blocked"), max("tunnel")), (2, 4, 5));
        assert_eq!(run.histograms.len(), 3);
    }

    #[test]
    fn schema_mismatch_and_malformed_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        Fixture {
            schema_version: 3,
            ..Fixture::default()
        }
        .write(tmp.path())
        .unwrap();
        let err = RunDir::load(tmp.path()).unwrap_err();
        assert!(matches!(err, ReportError::SchemaMismatch { .. }) && err.is_bad_input());
        assert!(err.to_string().contains("schema_version 3"), "{err}");
        // Without a version it is what the harness wrote before versions: version 1.
        std::fs::write(tmp.path().join("run.json"), "{\"profile\": \"ci\"}").unwrap();
        assert_eq!(RunDir::load(tmp.path()).unwrap().run.profile.name, "ci");
        std::fs::write(tmp.path().join("run.json"), "{not json").unwrap();
        let err = RunDir::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("run.json is malformed"), "{err}");
        Fixture::default().write(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("hist/allowed.hdr"), b"garbage").unwrap();
        let err = RunDir::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("allowed.hdr is malformed"), "{err}");
    }
}
