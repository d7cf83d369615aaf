//! Robust two-sample statistics for the gate: medians, a seeded bootstrap confidence
//! interval of the ratio of medians, and the Mann-Whitney U test.
//!
//! Per-second samples of a load test are skewed and have outliers (GC-free but not
//! noise-free: scheduler hiccups, page faults), so the gate compares medians and asks
//! whether the whole distribution moved, not whether one number did. The bootstrap uses a
//! self-contained SplitMix64 generator with a fixed seed so a verdict is reproducible
//! bit-for-bit on every machine and every version of this crate.

use rundir::verdict::RatioCi;

/// A small, fast, seedable generator (SplitMix64). Not cryptographic; reproducible.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with the given seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift; the bias for n far below 2^64 is negligible here.
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal deviate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The median of a sample (None when empty). NaNs must not be present.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_sorted(&sorted)
}

fn median_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A `q`-quantile (0..=1) of sorted values, by linear interpolation.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Bootstrap settings; the defaults are what the gate uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Number of resamples.
    pub resamples: usize,
    /// Two-sided confidence level, e.g. 0.95.
    pub confidence: f64,
    /// RNG seed.
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            resamples: 2000,
            confidence: 0.95,
            seed: 0x5EED_0F6A_7E00,
        }
    }
}

/// Percentile bootstrap CI of the ratio of medians `current / baseline`.
///
/// Returns None when either sample is empty or the baseline median is not positive
/// (a ratio is meaningless then).
pub fn bootstrap_ratio_of_medians(
    baseline: &[f64],
    current: &[f64],
    cfg: Bootstrap,
) -> Option<RatioCi> {
    let base_med = median(baseline)?;
    let cur_med = median(current)?;
    if base_med <= 0.0 {
        return None;
    }
    let mut rng = SplitMix64::new(cfg.seed);
    let mut scratch_b = vec![0.0; baseline.len()];
    let mut scratch_c = vec![0.0; current.len()];
    let mut ratios = Vec::with_capacity(cfg.resamples);
    for _ in 0..cfg.resamples {
        resample(baseline, &mut scratch_b, &mut rng);
        resample(current, &mut scratch_c, &mut rng);
        let b = median_sorted(&scratch_b).expect("resample of a non-empty sample");
        let c = median_sorted(&scratch_c).expect("resample of a non-empty sample");
        if b > 0.0 {
            ratios.push(c / b);
        }
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - cfg.confidence) / 2.0;
    Some(RatioCi {
        ratio: cur_med / base_med,
        low: quantile_sorted(&ratios, tail)?,
        high: quantile_sorted(&ratios, 1.0 - tail)?,
    })
}

fn resample(from: &[f64], into: &mut [f64], rng: &mut SplitMix64) {
    for slot in into.iter_mut() {
        *slot = from[rng.below(from.len())];
    }
    into.sort_by(f64::total_cmp);
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MannWhitney {
    /// U statistic of the current sample.
    pub u: f64,
    /// Two-sided p-value (normal approximation with tie and continuity correction).
    pub p_value: f64,
    /// Probability that a random current value exceeds a random baseline value (0.5 = no
    /// shift); the common-language effect size.
    pub prob_greater: f64,
}

/// Two-sided Mann-Whitney U test of `current` against `baseline`. None if either is empty.
pub fn mann_whitney(baseline: &[f64], current: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (baseline.len(), current.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = baseline
        .iter()
        .map(|&v| (v, false))
        .chain(current.iter().map(|&v| (v, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        let ties = (j - i + 1) as f64;
        tie_term += ties * ties * ties - ties;
        rank_sum_current += all[i..=j].iter().filter(|(_, cur)| *cur).count() as f64 * avg_rank;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_current - n2f * (n2f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)).max(1.0));
    let p_value = if var <= 0.0 {
        1.0
    } else {
        let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
        (2.0 * normal_sf(z)).min(1.0)
    };
    Some(MannWhitney {
        u,
        p_value,
        prob_greater: u / (n1f * n2f),
    })
}

/// Survival function of the standard normal distribution.
fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfcc, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-second-like samples: lognormal around `median` with ~`cv` spread.
    fn lognormal(rng: &mut SplitMix64, n: usize, median: f64, sigma: f64) -> Vec<f64> {
        (0..n)
            .map(|_| median * (sigma * rng.normal()).exp())
            .collect()
    }

    #[test]
    fn median_and_quantiles() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(quantile_sorted(&[0.0, 10.0], 0.25), Some(2.5));
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-5);
        assert!((normal_sf(-1.959_964) - 0.975).abs() < 1e-5);
    }

    #[test]
    fn identical_samples_show_no_shift() {
        let mut rng = SplitMix64::new(1);
        let a = lognormal(&mut rng, 60, 100.0, 0.1);
        let ci = bootstrap_ratio_of_medians(&a, &a, Bootstrap::default()).unwrap();
        assert_eq!(ci.ratio, 1.0);
        assert!(!ci.excludes_one(), "{ci:?}");
        let mw = mann_whitney(&a, &a).unwrap();
        assert!(mw.p_value > 0.9, "{mw:?}");
        assert!((mw.prob_greater - 0.5).abs() < 1e-9);
    }

    #[test]
    fn same_distribution_different_draws_show_no_shift() {
        let mut rng = SplitMix64::new(2);
        let a = lognormal(&mut rng, 60, 100.0, 0.1);
        let b = lognormal(&mut rng, 60, 100.0, 0.1);
        let ci = bootstrap_ratio_of_medians(&a, &b, Bootstrap::default()).unwrap();
        assert!(!ci.excludes_one(), "{ci:?}");
        assert!(mann_whitney(&a, &b).unwrap().p_value > 0.05);
    }

    #[test]
    fn a_clear_twenty_percent_shift_is_significant() {
        let mut rng = SplitMix64::new(3);
        let a = lognormal(&mut rng, 60, 100.0, 0.1);
        let b = lognormal(&mut rng, 60, 120.0, 0.1);
        let ci = bootstrap_ratio_of_medians(&a, &b, Bootstrap::default()).unwrap();
        assert!(ci.excludes_one() && ci.low > 1.1, "{ci:?}");
        assert!((ci.ratio - 1.2).abs() < 0.06, "{ci:?}");
        let mw = mann_whitney(&a, &b).unwrap();
        assert!(mw.p_value < 1e-6 && mw.prob_greater > 0.8, "{mw:?}");
    }

    #[test]
    fn a_two_percent_shift_inside_noise_is_not_significant() {
        let mut rng = SplitMix64::new(4);
        let a = lognormal(&mut rng, 30, 100.0, 0.15);
        let b = lognormal(&mut rng, 30, 102.0, 0.15);
        let ci = bootstrap_ratio_of_medians(&a, &b, Bootstrap::default()).unwrap();
        assert!(!ci.excludes_one(), "{ci:?}");
        assert!(mann_whitney(&a, &b).unwrap().p_value > 0.05);
    }

    #[test]
    fn bootstrap_is_reproducible() {
        let mut rng = SplitMix64::new(5);
        let a = lognormal(&mut rng, 40, 100.0, 0.2);
        let b = lognormal(&mut rng, 40, 105.0, 0.2);
        let x = bootstrap_ratio_of_medians(&a, &b, Bootstrap::default());
        let y = bootstrap_ratio_of_medians(&a, &b, Bootstrap::default());
        assert_eq!(x, y);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(bootstrap_ratio_of_medians(&[], &[1.0], Bootstrap::default()).is_none());
        assert!(bootstrap_ratio_of_medians(&[0.0, 0.0], &[1.0], Bootstrap::default()).is_none());
        assert!(mann_whitney(&[1.0], &[]).is_none());
        let constant = mann_whitney(&[5.0; 10], &[5.0; 10]).unwrap();
        assert_eq!(constant.p_value, 1.0);
    }
}
