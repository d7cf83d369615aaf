//! The per-second `timeseries.csv` of a run, read column-wise.
//!
//! Columns are looked up by name because the load generator and the harness each add their
//! own; an absent column is "not measured". Empty cells are missing values, not zeros.
//! Counters (`requests`, `errors`, `proxy_cpu_*_ms`) are per-second deltas; the others are
//! gauges sampled once a second. When the whole-run `requests`/`errors` columns are absent
//! they are summed from the per-class `<class>_requests`/`<class>_errors` columns; rows
//! flagged `warmup` are outside the steady window when the run names none.

use crate::error::{ReportError, Result};
use rundir::run::SteadyWindow;
use std::collections::BTreeMap;
use std::path::Path;

/// A per-second time series, one vector per column, all of equal length.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeseries {
    columns: BTreeMap<String, Vec<Option<f64>>>,
    rows: usize,
}

impl Timeseries {
    /// Reads a CSV file with a header row.
    pub fn read(path: &Path) -> Result<Self> {
        let malformed = |detail: String| ReportError::Malformed {
            path: path.to_owned(),
            detail,
        };
        let mut reader = csv::Reader::from_path(path).map_err(|e| match e.kind() {
            csv::ErrorKind::Io(_) => ReportError::Read {
                path: path.to_owned(),
                source: std::io::Error::other(e.to_string()),
            },
            _ => malformed(e.to_string()),
        })?;
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| malformed(e.to_string()))?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if !headers.iter().any(|h| h == "second") {
            return Err(malformed("no `second` column".to_owned()));
        }
        let mut columns: BTreeMap<String, Vec<Option<f64>>> =
            headers.iter().map(|h| (h.clone(), Vec::new())).collect();
        let mut rows = 0;
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(|e| malformed(e.to_string()))?;
            for (header, cell) in headers.iter().zip(record.iter()) {
                let cell = cell.trim();
                let value = if cell.is_empty() {
                    None
                } else {
                    Some(cell.parse::<f64>().map_err(|_| {
                        malformed(format!(
                            "row {}: column {header}: not a number: {cell:?}",
                            line + 2
                        ))
                    })?)
                };
                columns
                    .get_mut(header)
                    .expect("columns built from headers")
                    .push(value);
            }
            rows += 1;
        }
        let mut ts = Self { columns, rows };
        ts.derive_totals();
        Ok(ts)
    }

    /// Adds `requests` and `errors` as sums of the per-class columns when absent.
    fn derive_totals(&mut self) {
        for total in ["requests", "errors"] {
            if self.columns.contains_key(total) {
                continue;
            }
            let suffix = format!("_{total}");
            let parts: Vec<&Vec<Option<f64>>> = self
                .columns
                .iter()
                .filter(|(name, _)| name.ends_with(&suffix))
                .map(|(_, v)| v)
                .collect();
            if parts.is_empty() {
                continue;
            }
            let sums = (0..self.rows)
                .map(|i| {
                    let cells: Vec<f64> = parts.iter().filter_map(|p| p[i]).collect();
                    (!cells.is_empty()).then(|| cells.iter().sum())
                })
                .collect();
            self.columns.insert(total.to_owned(), sums);
        }
    }

    /// Builds a series from named columns (used by fixtures and tests).
    pub fn from_columns(columns: BTreeMap<String, Vec<Option<f64>>>) -> Self {
        let rows = columns.values().map(Vec::len).max().unwrap_or(0);
        Self { columns, rows }
    }

    /// Number of rows (seconds).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the series has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// A column by name, if it was recorded.
    pub fn column(&self, name: &str) -> Option<&[Option<f64>]> {
        self.columns.get(name).map(Vec::as_slice)
    }

    /// Column names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.keys().map(String::as_str)
    }

    /// `(second, value)` points of a column, skipping missing cells.
    pub fn points(&self, name: &str) -> Option<Vec<(f64, f64)>> {
        let seconds = self.column("second")?;
        let values = self.column(name)?;
        let points: Vec<(f64, f64)> = seconds
            .iter()
            .zip(values)
            .filter_map(|(s, v)| Some(((*s)?, (*v)?)))
            .collect();
        (!points.is_empty()).then_some(points)
    }

    /// Row indices inside the steady window; without one, the rows not flagged `warmup`.
    pub fn steady_rows(&self, window: Option<SteadyWindow>) -> Vec<usize> {
        self.rows_where(window)
    }

    /// Every row after the warm-up except the last (a stop cuts the last second short):
    /// the ramp and the CPU profile's seconds included. Latency judged on uncontended time
    /// reads these, not the steady window, because a short trial's steady window (the
    /// part before its CPU profile) holds only a few seconds, and users feel the ramp too.
    pub fn after_warmup_rows(&self) -> Vec<usize> {
        let mut rows = self.rows_where(None);
        rows.pop();
        rows
    }

    fn rows_where(&self, window: Option<SteadyWindow>) -> Vec<usize> {
        let seconds = self.column("second").unwrap_or(&[]);
        let warmup = self.column("warmup");
        (0..self.rows)
            .filter(|&i| match (window, seconds.get(i).copied().flatten()) {
                (Some(w), Some(s)) => s >= w.start && s <= w.end,
                (Some(_), None) => false,
                (None, _) => warmup.and_then(|w| w[i]).is_none_or(|w| w == 0.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_derives_totals_and_skips_warmup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeseries.csv");
        std::fs::write(
            &path,
            "second,warmup,allowed_requests,blocked_requests,allowed_errors,allowed_p99_us\n\
             0,1,5,5,0,900\n1,0,10,20,1,\n2,0,12,18,0,1000\n",
        )
        .unwrap();
        let ts = Timeseries::read(&path).unwrap();
        assert_eq!(ts.len(), 3);
        assert_eq!(
            ts.column("requests").unwrap(),
            &[Some(10.0), Some(30.0), Some(30.0)]
        );
        assert_eq!(
            ts.column("errors").unwrap(),
            &[Some(0.0), Some(1.0), Some(0.0)]
        );
        assert_eq!(
            ts.column("allowed_p99_us").unwrap()[1],
            None,
            "empty cell is missing, not zero"
        );
        assert_eq!(ts.steady_rows(None), vec![1, 2]);
        let window = SteadyWindow {
            start: 0.0,
            end: 1.0,
        };
        assert_eq!(ts.steady_rows(Some(window)), vec![0, 1]);
        assert_eq!(
            ts.points("allowed_p99_us").unwrap(),
            vec![(0.0, 900.0), (2.0, 1000.0)]
        );
    }

    #[test]
    fn malformed_cells_name_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "second,requests\n0,abc\n").unwrap();
        let err = Timeseries::read(&path).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("requests"), "{err}");
        std::fs::write(&path, "requests\n1\n").unwrap();
        assert!(Timeseries::read(&path)
            .unwrap_err()
            .to_string()
            .contains("second"));
    }
}
