//! Least-squares trend of a time series with a 95% confidence interval of its slope: the
//! leak statistics of a soak run (RSS, allocator memory, fds, threads against time).
//!
//! Why a confidence interval and not the slope alone: a 30-minute run of once-a-second
//! samples has a slope on every series, and the question a gate asks is whether the
//! growth is distinguishable from noise and how large it could plausibly be.
//!
//! The interval is the textbook one (`slope ± t(0.975, df) · se`) with one correction:
//! per-second samples of memory are autocorrelated (RSS moves in steps and stays), which
//! makes the plain standard error far too small. When the residuals' lag-1
//! autocorrelation `r` is positive the standard error is inflated by `sqrt((1 + r) /
//! (1 - r))` and the degrees of freedom shrink to the effective sample size `n (1 - r) /
//! (1 + r) - 2` (the usual AR(1) approximation). With `r <= 0` nothing changes.
//!
//! The t quantiles come from [`t_975`], a table (df 1-30, 40, 60, 120, and the normal
//! limit) interpolated linearly in `1/df` between entries: exact at the tabulated df and
//! within 0.1% elsewhere, without a statistics dependency.

/// A fitted line with the confidence interval of its slope.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Trend {
    /// Points fitted.
    pub n: usize,
    /// Slope, y units per x unit.
    pub slope: f64,
    /// Value of the line at x = 0.
    pub intercept: f64,
    /// Standard error of the slope (after the autocorrelation correction).
    pub se: f64,
    /// Degrees of freedom used for the t quantile.
    pub df: f64,
    /// Lag-1 autocorrelation of the residuals (0 when fewer than three points).
    pub lag1: f64,
    /// Lower end of the 95% interval of the slope.
    pub ci_low: f64,
    /// Upper end of the 95% interval of the slope.
    pub ci_high: f64,
}

impl Trend {
    /// The trend with every slope figure multiplied by `factor` (unit conversion, e.g.
    /// bytes per second to MB per hour).
    pub fn scaled(self, factor: f64) -> Self {
        Self {
            slope: self.slope * factor,
            se: self.se * factor,
            ci_low: self.ci_low * factor,
            ci_high: self.ci_high * factor,
            ..self
        }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom (two-sided 95%).
/// `df` below 1 is treated as 1.
pub fn t_975(df: f64) -> f64 {
    const TABLE: [(f64, f64); 33] = [
        (1.0, 12.706),
        (2.0, 4.303),
        (3.0, 3.182),
        (4.0, 2.776),
        (5.0, 2.571),
        (6.0, 2.447),
        (7.0, 2.365),
        (8.0, 2.306),
        (9.0, 2.262),
        (10.0, 2.228),
        (11.0, 2.201),
        (12.0, 2.179),
        (13.0, 2.160),
        (14.0, 2.145),
        (15.0, 2.131),
        (16.0, 2.120),
        (17.0, 2.110),
        (18.0, 2.101),
        (19.0, 2.093),
        (20.0, 2.086),
        (21.0, 2.080),
        (22.0, 2.074),
        (23.0, 2.069),
        (24.0, 2.064),
        (25.0, 2.060),
        (26.0, 2.056),
        (27.0, 2.052),
        (28.0, 2.048),
        (29.0, 2.045),
        (30.0, 2.042),
        (40.0, 2.021),
        (60.0, 2.000),
        (120.0, 1.980),
    ];
    const NORMAL: f64 = 1.960;
    let df = df.max(1.0);
    if let Some(&(_, t)) = TABLE.iter().find(|(d, _)| *d == df) {
        return t;
    }
    // Interpolate in 1/df: t is close to linear in it.
    let mut lower = (f64::INFINITY, NORMAL);
    for &(d, t) in TABLE.iter().rev() {
        if d < df {
            let (hi_inv, hi_t) = (1.0 / lower.0, lower.1);
            let lo_inv = 1.0 / d;
            let frac = (1.0 / df - hi_inv) / (lo_inv - hi_inv);
            return hi_t + (t - hi_t) * frac;
        }
        lower = (d, t);
    }
    NORMAL
}

/// Fits `y = intercept + slope · x` by least squares; `None` with fewer than three points
/// or without two distinct x.
pub fn trend(points: &[(f64, f64)]) -> Option<Trend> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: Vec<f64> = points
        .iter()
        .map(|p| p.1 - intercept - slope * p.0)
        .collect();
    let sse: f64 = residuals.iter().map(|r| r * r).sum();
    let lag1 = lag1_autocorrelation(&residuals);
    let plain_se = (sse / (nf - 2.0) / sxx).sqrt();
    let (se, df) = if lag1 > 0.0 {
        let inflate = ((1.0 + lag1) / (1.0 - lag1)).sqrt();
        let n_eff = nf * (1.0 - lag1) / (1.0 + lag1);
        (plain_se * inflate, (n_eff - 2.0).max(1.0))
    } else {
        (plain_se, nf - 2.0)
    };
    let half = t_975(df) * se;
    Some(Trend {
        n,
        slope,
        intercept,
        se,
        df,
        lag1,
        ci_low: slope - half,
        ci_high: slope + half,
    })
}

/// Lag-1 autocorrelation of residuals (mean zero by construction); 0 when undefined.
/// Capped below 1 so the correction stays finite.
fn lag1_autocorrelation(residuals: &[f64]) -> f64 {
    let denom: f64 = residuals.iter().map(|r| r * r).sum();
    if residuals.len() < 3 || denom <= 0.0 {
        return 0.0;
    }
    let num: f64 = residuals.windows(2).map(|w| w[0] * w[1]).sum();
    (num / denom).clamp(-1.0, 0.99)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn t_table_is_exact_at_entries_and_monotone_between() {
        assert_eq!(t_975(3.0), 3.182);
        assert_eq!(t_975(30.0), 2.042);
        assert_eq!(t_975(0.2), 12.706);
        // Between 40 and 60 (true value at 50: 2.009).
        assert!(close(t_975(50.0), 2.009, 0.002), "{}", t_975(50.0));
        // Beyond the table: towards the normal quantile (true value at 1000: 1.962).
        assert!(close(t_975(1000.0), 1.962, 0.002), "{}", t_975(1000.0));
        let mut last = f64::INFINITY;
        for df in 1..2000 {
            let t = t_975(df as f64);
            assert!(t <= last && t >= 1.96, "df {df}: {t}");
            last = t;
        }
    }

    #[test]
    fn table_of_known_fits() {
        struct Case {
            name: &'static str,
            points: Vec<(f64, f64)>,
            slope: f64,
            ci: (f64, f64),
            tol: f64,
        }
        let cases = [
            Case {
                name: "exact line: zero-width interval",
                points: (0..20).map(|x| (x as f64, 5.0 + 2.5 * x as f64)).collect(),
                slope: 2.5,
                ci: (2.5, 2.5),
                tol: 1e-9,
            },
            Case {
                // Worked by hand: slope 0.8, se sqrt(1.2 / 10), t(3) = 3.182; the
                // residuals alternate in sign, so no autocorrelation correction.
                name: "noisy line",
                points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 5.0), (4.0, 4.0)],
                slope: 0.8,
                ci: (
                    0.8 - 3.182 * (0.12_f64).sqrt(),
                    0.8 + 3.182 * (0.12_f64).sqrt(),
                ),
                tol: 1e-9,
            },
            Case {
                // Sxy = 5, Sxx = 82.5; SSE = 10 - 5^2 / 82.5; t(8) = 2.306.
                name: "flat with alternating noise",
                points: (0..10)
                    .map(|x| (x as f64, if x % 2 == 0 { 10.0 } else { 12.0 }))
                    .collect(),
                slope: 5.0 / 82.5,
                ci: {
                    let se = ((10.0 - 25.0 / 82.5) / 8.0 / 82.5_f64).sqrt();
                    (5.0 / 82.5 - 2.306 * se, 5.0 / 82.5 + 2.306 * se)
                },
                tol: 1e-9,
            },
        ];
        for c in &cases {
            let t = trend(&c.points).unwrap_or_else(|| panic!("{}: no fit", c.name));
            assert!(
                close(t.slope, c.slope, 1e-6),
                "{}: slope {}",
                c.name,
                t.slope
            );
            assert!(
                close(t.ci_low, c.ci.0, c.tol) && close(t.ci_high, c.ci.1, c.tol),
                "{}: ci {}..{}",
                c.name,
                t.ci_low,
                t.ci_high
            );
            assert!(t.ci_low <= t.slope && t.slope <= t.ci_high, "{}", c.name);
        }
        let flat = trend(&cases[2].points).unwrap();
        assert!(
            flat.ci_low < 0.0 && flat.ci_high > 0.0,
            "flat: 0 inside the CI"
        );
    }

    #[test]
    fn autocorrelated_steps_widen_the_interval() {
        // A flat series that moves in long steps (as RSS does): the plain interval would
        // claim a tight slope; the corrected one must be wider than the plain one.
        let points: Vec<(f64, f64)> = (0..200)
            .map(|x| (x as f64, if (x / 25) % 2 == 0 { 100.0 } else { 104.0 }))
            .collect();
        let t = trend(&points).unwrap();
        assert!(t.lag1 > 0.5, "lag1 {}", t.lag1);
        let nf = points.len() as f64;
        let mean_x = (nf - 1.0) / 2.0;
        let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let sse: f64 = points
            .iter()
            .map(|p| (p.1 - t.intercept - t.slope * p.0).powi(2))
            .sum();
        let plain_se = (sse / (nf - 2.0) / sxx).sqrt();
        assert!(t.se > 2.0 * plain_se, "se {} vs plain {plain_se}", t.se);
        assert!(t.df < nf - 2.0);
        assert!(t.ci_low < 0.0 && t.ci_high > 0.0);
    }

    #[test]
    fn too_few_or_degenerate_points_have_no_trend() {
        assert_eq!(trend(&[]), None);
        assert_eq!(trend(&[(0.0, 1.0), (1.0, 2.0)]), None);
        assert_eq!(trend(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
        let t = trend(&[(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)]).unwrap();
        let s = t.scaled(3600.0);
        assert_eq!((s.slope, s.ci_low, s.ci_high), (7200.0, 7200.0, 7200.0));
    }
}
