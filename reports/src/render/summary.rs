//! `summary.csv`: one row per request class, for spreadsheets and trend scripts. Empty
//! cells mean "not measured".

use super::tables::{class_latency, ordered_classes};
use crate::error::{ReportError, Result};
use crate::rundir::RunDir;
use serde::Serialize;

#[derive(Serialize)]
struct Row {
    class: String,
    requests: Option<u64>,
    failures: Option<u64>,
    failure_rate: Option<f64>,
    rps: Option<f64>,
    min_us: Option<f64>,
    p50_us: Option<f64>,
    p90_us: Option<f64>,
    p99_us: Option<f64>,
    p999_us: Option<f64>,
    max_us: Option<f64>,
    ttfb_p50_us: Option<f64>,
    ttfb_p99_us: Option<f64>,
    ttlb_p50_us: Option<f64>,
    ttlb_p99_us: Option<f64>,
}

/// The per-class summary as CSV bytes.
pub fn summary_csv(run: &RunDir) -> Result<Vec<u8>> {
    let err = |e: csv::Error| ReportError::Write {
        path: run.path.join("summary.csv"),
        source: std::io::Error::other(e.to_string()),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    let classes = &run.run.classes;
    for class in ordered_classes(classes.keys().chain(run.histograms.keys())) {
        let s = classes.get(&class);
        let p = class_latency(s, run.histograms.get(&class));
        let ttfb = s.and_then(|s| s.ttfb_us).unwrap_or_default();
        let ttlb = s.and_then(|s| s.ttlb_us).unwrap_or_default();
        writer
            .serialize(Row {
                requests: s.map(|s| s.count),
                failures: s.map(|s| s.failures),
                failure_rate: s
                    .filter(|s| s.count > 0)
                    .map(|s| s.failures as f64 / s.count as f64),
                rps: s.and_then(|s| s.rps),
                min_us: p.min,
                p50_us: p.p50,
                p90_us: p.p90,
                p99_us: p.p99,
                p999_us: p.p999,
                max_us: p.max,
                ttfb_p50_us: ttfb.p50,
                ttfb_p99_us: ttfb.p99,
                ttlb_p50_us: ttlb.p50,
                ttlb_p99_us: ttlb.p99,
                class,
            })
            .map_err(err)?;
    }
    writer.into_inner().map_err(|e| ReportError::Write {
        path: run.path.join("summary.csv"),
        source: std::io::Error::other(e.to_string()),
    })
}
