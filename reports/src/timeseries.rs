//! The per-second `timeseries.csv` of a run, read column-wise.
//!
//! Columns are looked up by name because the load generator and the harness each add their
//! own; an absent column is "not measured". Empty cells are missing values, not zeros.
//! Counters (`requests`, `errors`, `proxy_cpu_*_ms`) are per-second deltas; the others are
//! gauges sampled once a second.

use crate::error::{ReportError, Result};
use crate::runjson::SteadyWindow;
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
        Ok(Self { columns, rows })
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

    /// Row indices inside the steady window (all rows when there is none).
    pub fn steady_rows(&self, window: Option<SteadyWindow>) -> Vec<usize> {
        let seconds = self.column("second").unwrap_or(&[]);
        (0..self.rows)
            .filter(|&i| match (window, seconds.get(i).copied().flatten()) {
                (Some(w), Some(s)) => s >= w.start && s <= w.end,
                (Some(_), None) => false,
                (None, _) => true,
            })
            .collect()
    }
}
