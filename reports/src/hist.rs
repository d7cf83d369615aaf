//! HDR histogram helpers: V2 (de)serialisation, base64 for baseline documents, and the
//! percentile spectrum that the plots and tables draw from.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// Decodes a V2 (or V2 deflate) serialised histogram.
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("not an HDR histogram: {e:?}"))
}

/// Encodes a histogram in the uncompressed V2 format.
pub fn encode(histogram: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut out)
        .expect("serialising into a Vec cannot fail for a u64 histogram");
    out
}

/// Encodes a histogram as base64 of its V2 form (for JSON documents).
pub fn to_base64(histogram: &Histogram<u64>) -> String {
    base64::engine::general_purpose::STANDARD.encode(encode(histogram))
}

/// Decodes base64 of a V2 histogram.
pub fn from_base64(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("bad base64: {e}"))?;
    decode(&bytes)
}

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
