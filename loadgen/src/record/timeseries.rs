//! Per-second rows of a run: requests, errors, p50 and p99 per class.
//!
//! A histogram per class per second for a whole soak would take gigabytes, so
//! only a short window of seconds is open at a time; a second closes (its
//! percentiles are computed and its histograms reused) once samples ten
//! seconds newer arrive. Users ship samples within ~100 ms, so a sample for a
//! closed second is rare; it still counts in the run's totals and is reported
//! as `late`.
//!
//! Each class's histogram of a second is also kept, V2-deflate compressed (a few hundred
//! bytes, where the histogram itself is some 200 KiB), when the second closes: the run's
//! interval log (`.hlog`) is written from them, and a merge of workers adds them by
//! wall-clock second to get exact per-second percentiles of the whole fleet.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::sample::{new_histogram, record_clamped, Class, Outcome, Sample};

/// Seconds kept open behind the newest sample.
const WINDOW_S: u64 = 10;

/// One class during one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassSecond {
    /// Requests that finished in this second.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Median time to last byte, µs (0 with no request).
    pub p50_us: u64,
    /// 99th percentile time to last byte, µs (0 with no request).
    pub p99_us: u64,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Seconds since the start of the run.
    pub second: u64,
    /// Whether the second is inside the warm-up.
    pub warmup: bool,
    /// Per class, in [`Class::ALL`] order.
    pub classes: [ClassSecond; 6],
}

/// One class's time-to-last-byte histogram over one closed second, compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondHistogram {
    /// Seconds since the start of the run.
    pub second: u64,
    /// The class.
    pub class: Class,
    /// The histogram, V2-deflate encoded (`rundir::hlog::deflate`).
    pub deflated: Vec<u8>,
}

#[derive(Debug)]
struct OpenSecond {
    classes: [ClassSecond; 6],
    hists: [Option<Histogram<u64>>; 6],
}

/// Builds the rows as samples arrive.
#[derive(Debug)]
pub struct Timeseries {
    warmup_s: u64,
    open: BTreeMap<u64, OpenSecond>,
    closed_below: u64,
    rows: Vec<Row>,
    pool: Vec<Histogram<u64>>,
    late: u64,
    intervals: Vec<SecondHistogram>,
}

impl Timeseries {
    /// An empty series; seconds before `warmup_s` are flagged as warm-up.
    pub fn new(warmup_s: u64) -> Self {
        Timeseries {
            warmup_s,
            open: BTreeMap::new(),
            closed_below: 0,
            rows: Vec::new(),
            pool: Vec::new(),
            late: 0,
            intervals: Vec::new(),
        }
    }

    /// Adds one sample to its second.
    pub fn add(&mut self, s: &Sample) {
        let second = s.done_us / 1_000_000;
        if second < self.closed_below {
            self.late += 1;
            return;
        }
        let pool = &mut self.pool;
        let open = self.open.entry(second).or_insert_with(|| OpenSecond {
            classes: [ClassSecond::default(); 6],
            hists: Default::default(),
        });
        let i = s.class.index();
        open.classes[i].requests += 1;
        if s.outcome != Outcome::Ok {
            open.classes[i].errors += 1;
        }
        let h = open.hists[i].get_or_insert_with(|| pool.pop().unwrap_or_else(new_histogram));
        record_clamped(h, s.ttlb_us);
        while let (Some((&first, _)), Some((&last, _))) =
            (self.open.first_key_value(), self.open.last_key_value())
        {
            if first + WINDOW_S >= last {
                break;
            }
            self.close_first();
        }
    }

    fn close_first(&mut self) {
        let Some((second, mut open)) = self.open.pop_first() else {
            return;
        };
        // Seconds nobody finished a request in still get a row.
        while self.closed_below < second {
            let empty = self.closed_below;
            self.push_row(empty, [ClassSecond::default(); 6]);
            self.closed_below += 1;
        }
        for (i, slot) in open.hists.iter_mut().enumerate() {
            if let Some(mut h) = slot.take() {
                open.classes[i].p50_us = h.value_at_quantile(0.5);
                open.classes[i].p99_us = h.value_at_quantile(0.99);
                self.intervals.push(SecondHistogram {
                    second,
                    class: Class::ALL[i],
                    deflated: rundir::hlog::deflate(&h),
                });
                h.reset();
                self.pool.push(h);
            }
        }
        self.push_row(second, open.classes);
        self.closed_below = second + 1;
    }

    fn push_row(&mut self, second: u64, classes: [ClassSecond; 6]) {
        self.rows.push(Row {
            second,
            warmup: second < self.warmup_s,
            classes,
        });
    }

    /// Closes every open second and returns the rows, the per-second histograms (by
    /// second, then class) and the late count.
    pub fn finish(mut self) -> (Vec<Row>, Vec<SecondHistogram>, u64) {
        while !self.open.is_empty() {
            self.close_first();
        }
        (self.rows, self.intervals, self.late)
    }
}

/// Writes the rows as CSV: `second,warmup,requests,errors`, then per class
/// `<class>_requests,<class>_errors,<class>_p50_us,<class>_p99_us`. A class
/// with no request in a second has empty percentile cells (not measured, not 0).
pub fn write_csv<W: std::io::Write>(rows: &[Row], out: W) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    let header = rundir::columns::load_generator_header(Class::ALL.map(Class::as_str));
    w.write_record(&header)?;
    for row in rows {
        let requests: u64 = row.classes.iter().map(|c| c.requests).sum();
        let errors: u64 = row.classes.iter().map(|c| c.errors).sum();
        let mut rec = vec![row.second.to_string(), u8::from(row.warmup).to_string()];
        rec.extend([requests.to_string(), errors.to_string()]);
        for c in &row.classes {
            rec.extend([c.requests.to_string(), c.errors.to_string()]);
            if c.requests == 0 {
                rec.extend([String::new(), String::new()]);
            } else {
                rec.extend([c.p50_us.to_string(), c.p99_us.to_string()]);
            }
        }
        w.write_record(&rec)?;
    }
    w.flush()?;
    Ok(())
}
