//! The per-second side of a merge: workers' `timeseries.csv` rows and interval-log
//! histograms added by wall-clock second.
//!
//! Each worker counts seconds from its own run clock; `offset_s` (its clock start minus
//! the earliest worker's, whole seconds) puts its second `s` at merged second
//! `s + offset_s`. Counts add. Percentiles do not: a merged second's p50 and p99 come
//! from the sum of the workers' histograms of that second (their interval logs), and are
//! left empty when a worker that had requests then left no histogram for it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use rundir::columns::{class_column, load_generator_header, CLASSES, ERRORS, REQUESTS, WARMUP};

use crate::error::{ReportError, Result};
use crate::timeseries::Timeseries;

/// One worker's per-second data, read.
#[derive(Debug, Default)]
pub struct WorkerSeries {
    /// Its seconds' offset into the merged series.
    pub offset_s: u64,
    /// Its rows, if it wrote `timeseries.csv`.
    pub rows: Option<Timeseries>,
    /// Its per-second histograms by (second, class), if it wrote an interval log.
    pub intervals: Option<BTreeMap<(u64, String), Histogram<u64>>>,
}

impl WorkerSeries {
    /// Seconds in its series.
    pub fn seconds(&self) -> u64 {
        self.rows.as_ref().map_or(0, |r| r.len() as u64)
    }
}

/// Reads a worker's interval log into histograms by (second since its base time, tag).
pub fn read_intervals(path: &Path) -> Result<BTreeMap<(u64, String), Histogram<u64>>> {
    let log = rundir::hlog::read(path).map_err(|e| ReportError::Malformed {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let mut out: BTreeMap<(u64, String), Histogram<u64>> = BTreeMap::new();
    for i in log.intervals {
        add_into(&mut out, (i.start.as_secs(), i.tag), &i.histogram, path)?;
    }
    Ok(out)
}

/// Adds `h` into `map[key]` (a copy of `h` when absent).
pub fn add_into<K: Ord>(
    map: &mut BTreeMap<K, Histogram<u64>>,
    key: K,
    h: &Histogram<u64>,
    path: &Path,
) -> Result<()> {
    match map.get_mut(&key) {
        Some(sum) => sum.add(h).map_err(|e| ReportError::Malformed {
            path: path.to_owned(),
            detail: format!("a histogram does not fit the others' range: {e:?}"),
        }),
        None => {
            map.insert(key, h.clone());
            Ok(())
        }
    }
}

/// The merged per-second histograms by (merged second, class).
pub fn merged_intervals(
    workers: &[WorkerSeries],
    path: &Path,
) -> Result<BTreeMap<(u64, String), Histogram<u64>>> {
    let mut out = BTreeMap::new();
    for w in workers {
        for ((s, class), h) in w.intervals.iter().flatten() {
            add_into(&mut out, (s + w.offset_s, class.clone()), h, path)?;
        }
    }
    Ok(out)
}

/// Writes the merged `timeseries.csv` (the load generator's columns).
pub fn write_timeseries(
    path: &Path,
    workers: &[WorkerSeries],
    intervals: &BTreeMap<(u64, String), Histogram<u64>>,
) -> Result<()> {
    let seconds = workers
        .iter()
        .map(|w| w.offset_s + w.seconds())
        .max()
        .unwrap_or(0);
    let write_err = |e: csv::Error| ReportError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut out = csv::Writer::from_path(path).map_err(write_err)?;
    out.write_record(load_generator_header(CLASSES))
        .map_err(write_err)?;
    for t in 0..seconds {
        // The cells of every worker that has a row at merged second t.
        let at = |name: &str| -> Vec<Option<f64>> {
            workers
                .iter()
                .filter_map(|w| {
                    let rows = w.rows.as_ref()?;
                    let i = usize::try_from(t.checked_sub(w.offset_s)?).ok()?;
                    (i < rows.len()).then(|| rows.column(name).and_then(|c| c[i]))
                })
                .collect()
        };
        let sum = |name: &str| -> u64 { at(name).iter().flatten().map(|v| *v as u64).sum() };
        let warmup = at(WARMUP).iter().flatten().any(|v| *v != 0.0);
        let mut rec = vec![
            t.to_string(),
            u8::from(warmup).to_string(),
            sum(REQUESTS).to_string(),
            sum(ERRORS).to_string(),
        ];
        for class in CLASSES {
            let requests = sum(&class_column(class, "requests"));
            rec.push(requests.to_string());
            rec.push(sum(&class_column(class, "errors")).to_string());
            let h = intervals
                .get(&(t, class.to_owned()))
                .filter(|h| h.len() == requests && requests > 0);
            match h {
                Some(h) => {
                    rec.push(h.value_at_quantile(0.5).to_string());
                    rec.push(h.value_at_quantile(0.99).to_string());
                }
                None => rec.extend([String::new(), String::new()]),
            }
        }
        out.write_record(&rec).map_err(write_err)?;
    }
    out.flush().map_err(|source| ReportError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes the merged interval log (base time: the earliest worker's clock start).
pub fn write_interval_log(
    path: &Path,
    start: SystemTime,
    intervals: &BTreeMap<(u64, String), Histogram<u64>>,
) -> Result<()> {
    rundir::hlog::write(
        path,
        start,
        intervals.iter().map(|((s, class), h)| {
            (
                class.as_str(),
                Duration::from_secs(*s),
                Duration::from_secs(1),
                h,
            )
        }),
    )
    .map_err(|e| ReportError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })
}
