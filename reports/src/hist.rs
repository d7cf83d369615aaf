//! The percentile spectrum that the plots and tables draw from an HDR histogram (the
//! histogram files and their base64 form are `rundir::hdr`).

use hdrhistogram::Histogram;

/// The percentiles drawn on a spectrum plot, from 0 to 99.99.
pub const SPECTRUM_QUANTILES: [f64; 15] = [
    0.0, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.997, 0.999, 0.9995, 0.9997, 0.9999,
];

/// `(quantile, value)` pairs up to 99.99%, for a percentile spectrum.
pub fn spectrum(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    SPECTRUM_QUANTILES
        .iter()
        .map(|&q| (q, histogram.value_at_quantile(q) as f64))
        .collect()
}
