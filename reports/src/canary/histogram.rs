//! Quantiles of one interval from the difference of two cumulative histograms, the way
//! Prometheus' `histogram_quantile` computes them: find the bucket holding the rank and
//! interpolate linearly inside it; a rank in the `+Inf` bucket reads as the largest
//! finite bound (the histogram knows nothing beyond it).

use std::collections::BTreeMap;

use super::snapshot::Bound;

/// Per-bucket counts of an interval: `end - start` per bound. None when a bound went
/// backwards (a counter reset: the process restarted) or the interval saw no request.
pub fn delta(start: &BTreeMap<Bound, f64>, end: &BTreeMap<Bound, f64>) -> Option<Vec<(f64, f64)>> {
    let mut out = Vec::with_capacity(end.len());
    for (le, e) in end {
        let s = start.get(le).copied().unwrap_or(0.0);
        if e < &s {
            return None;
        }
        out.push((le.0, e - s));
    }
    let total = out.last().map(|(_, c)| *c)?;
    (total > 0.0).then_some(out)
}

/// The `q` quantile (0..=1) of cumulative `(upper bound, count)` pairs sorted by bound,
/// the last bound `+Inf`.
pub fn quantile(q: f64, cumulative: &[(f64, f64)]) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut prev_bound = 0.0;
    let mut prev_count = 0.0;
    for &(le, count) in cumulative {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev_bound);
            }
            let in_bucket = count - prev_count;
            if in_bucket <= 0.0 {
                return Some(le);
            }
            return Some(prev_bound + (le - prev_bound) * (rank - prev_count) / in_bucket);
        }
        prev_bound = le;
        prev_count = count;
    }
    Some(prev_bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_like_histogram_quantile() {
        // 100 observations: 50 <= 1 ms, 40 in (1, 2] ms, 10 in (2, 4] ms.
        let h = [
            (0.001, 50.0),
            (0.002, 90.0),
            (0.004, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((quantile(0.5, &h).unwrap() - 0.001).abs() < 1e-12);
        assert!((quantile(0.7, &h).unwrap() - 0.0015).abs() < 1e-12);
        assert!((quantile(0.99, &h).unwrap() - 0.0038).abs() < 1e-12);
        assert!((quantile(0.25, &h).unwrap() - 0.0005).abs() < 1e-12);
        // Everything beyond the last finite bound reads as that bound.
        let over = [(0.001, 0.0), (f64::INFINITY, 3.0)];
        assert_eq!(quantile(0.5, &over), Some(0.001));
        assert_eq!(quantile(0.5, &[(f64::INFINITY, 0.0)]), None);
    }

    #[test]
    fn deltas_refuse_resets_and_empty_intervals() {
        let a: BTreeMap<Bound, f64> = [(Bound(0.001), 5.0), (Bound(f64::INFINITY), 8.0)].into();
        let b: BTreeMap<Bound, f64> = [(Bound(0.001), 7.0), (Bound(f64::INFINITY), 12.0)].into();
        assert_eq!(
            delta(&a, &b),
            Some(vec![(0.001, 2.0), (f64::INFINITY, 4.0)])
        );
        assert_eq!(delta(&b, &a), None, "a reset");
        assert_eq!(delta(&a, &a), None, "no request");
    }
}
