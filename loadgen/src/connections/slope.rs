//! Least-squares slope of a value over the open connection count, with its 95% interval:
//! the cost of one more connection, and how sure the run is of it.

use rundir::run::connections::Slope;

/// Two-sided 95% quantiles of Student's t for 1..=30 degrees of freedom; beyond, the
/// normal's 1.96 plus a small correction (within 0.5% of the exact value).
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

fn t975(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T975[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// The slope of `y` over `x` with its 95% interval; `None` with fewer than three points or
/// when `x` does not vary (no slope can be told).
pub fn fit(points: &[(f64, f64)]) -> Option<Slope> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let sse = (syy - b * sxy).max(0.0);
    let se = (sse / (nf - 2.0) / sxx).sqrt();
    let half = t975(n - 2) * se;
    Some(Slope {
        per_connection: b,
        lower: b - half,
        upper: b + half,
        samples: n as u64,
        r_squared: if syy > 0.0 { 1.0 - sse / syy } else { 1.0 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_line_has_a_point_interval() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64, 100.0 + 16.0 * i as f64))
            .collect();
        let s = fit(&pts).unwrap();
        assert!((s.per_connection - 16.0).abs() < 1e-9);
        assert!((s.upper - s.lower).abs() < 1e-6);
        assert!((s.r_squared - 1.0).abs() < 1e-9);
    }

    #[test]
    fn noise_widens_the_interval_around_the_slope() {
        let pts: Vec<(f64, f64)> = (0..40)
            .map(|i| {
                (
                    i as f64,
                    10.0 * i as f64 + if i % 2 == 0 { 5.0 } else { -5.0 },
                )
            })
            .collect();
        let s = fit(&pts).unwrap();
        assert!(s.lower < 10.0 && 10.0 < s.upper, "{s:?}");
        assert!(s.upper - s.lower < 1.0, "{s:?}");
    }

    #[test]
    fn no_slope_without_spread() {
        assert!(fit(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]).is_none());
        assert!(fit(&[(1.0, 1.0), (2.0, 2.0)]).is_none());
    }
}
