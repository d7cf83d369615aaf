//! The rate a step sustained, read from its per-second requests.
//!
//! Why not `run.json`'s whole-window rate: it divides the requests after the warm-up by
//! the time to the last answer, and when the step stops, the users stop part-way through
//! a second while one slow answer (a download) can land a second later. On a 14 s window
//! that read a paced school-day step that held 150 req/s in every full second as 140
//! (93%), below the 95% a step must achieve, so the climb stopped on the load's own
//! stop. The median of the full measured seconds is the rate the proxy kept up with, and
//! still falls when it falls behind in most of them.

use rundir::columns::{REQUESTS, SECOND, WARMUP};

/// Median requests per second over the seconds after the warm-up, the last recorded
/// second left out (the stop cuts it short). `None` without at least three such seconds.
pub fn steady_rate(timeseries_csv: &str) -> Option<f64> {
    let mut reader = csv::Reader::from_reader(timeseries_csv.as_bytes());
    let header = reader.headers().ok()?.clone();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (second, warmup, requests) = (col(SECOND)?, col(WARMUP)?, col(REQUESTS)?);
    let mut rows: Vec<(f64, f64)> = reader
        .records()
        .filter_map(Result::ok)
        .filter(|r| r.get(warmup) == Some("0"))
        .filter_map(|r| {
            let s = r.get(second)?.parse::<f64>().ok()?;
            let n = r.get(requests)?.parse::<f64>().ok()?;
            Some((s, n))
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows.pop();
    if rows.len() < 3 {
        return None;
    }
    let counts: Vec<f64> = rows.into_iter().map(|(_, n)| n).collect();
    rundir::baseline::median(&counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(rows: &[(u32, u8, u32)]) -> String {
        let mut s = "second,warmup,requests,errors\n".to_owned();
        for (sec, w, n) in rows {
            s += &format!("{sec},{w},{n},0\n");
        }
        s
    }

    #[test]
    fn the_stop_and_a_late_answer_do_not_lower_the_rate() {
        // Warm-up, 13 full seconds at 150, then the stop: 62, and 5 late answers.
        let mut rows: Vec<(u32, u8, u32)> = (0..8).map(|s| (s, 1, 150)).collect();
        rows.extend((8..21).map(|s| (s, 0, 150)));
        rows.extend([(21, 0, 62), (22, 0, 5)]);
        assert_eq!(steady_rate(&csv(&rows)), Some(150.0));
    }

    #[test]
    fn a_proxy_behind_in_most_seconds_lowers_it() {
        let mut rows: Vec<(u32, u8, u32)> = vec![(0, 1, 150)];
        rows.extend((1..11).map(|s| (s, 0, if s % 3 == 0 { 150 } else { 120 })));
        rows.push((11, 0, 10));
        assert_eq!(steady_rate(&csv(&rows)), Some(120.0));
    }

    #[test]
    fn too_few_seconds_or_no_columns_give_none() {
        assert_eq!(steady_rate(&csv(&[(0, 1, 5), (1, 0, 5), (2, 0, 5)])), None);
        assert_eq!(steady_rate("second,requests\n1,5\n"), None);
    }
}
