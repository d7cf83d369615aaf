//! HDR histograms in the run directory: the V2 encoding (uncompressed when written, V2 or
//! V2-deflate when read), in files under `hist/` and as base64 inside baseline documents,
//! so any HdrHistogram implementation can merge runs later.

use std::path::{Path, PathBuf};

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// Bytes that are not a V2 histogram.
#[derive(Debug, thiserror::Error)]
#[error("not an HDR histogram: {detail}")]
pub struct DecodeError {
    /// The decoder's description.
    pub detail: String,
}

/// A histogram file that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HdrError {
    /// File access failed.
    #[error("histogram file {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a V2 histogram.
    #[error("decoding histogram {}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecodeError,
    },
}

/// Base64 text that is not a V2 histogram.
#[derive(Debug, thiserror::Error)]
pub enum Base64Error {
    /// Not base64 at all.
    #[error("bad base64: {0}")]
    Base64(base64::DecodeError),
    /// Base64 of something else.
    #[error(transparent)]
    Hdr(#[from] DecodeError),
}

/// Encodes a histogram in the uncompressed V2 format.
pub fn encode(histogram: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut out)
        .expect("serialising a u64 histogram into a Vec cannot fail");
    out
}

/// Decodes a V2 (or V2-deflate) serialised histogram.
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, DecodeError> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| DecodeError {
            detail: format!("{e:?}"),
        })
}

/// Writes `histogram` to `path` in the V2 encoding.
pub fn write(path: &Path, histogram: &Histogram<u64>) -> Result<(), HdrError> {
    std::fs::write(path, encode(histogram)).map_err(|source| HdrError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a V2 (or V2-deflate) histogram from `path`.
pub fn read(path: &Path) -> Result<Histogram<u64>, HdrError> {
    let bytes = std::fs::read(path).map_err(|source| HdrError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode(&bytes).map_err(|source| HdrError::Decode {
        path: path.to_owned(),
        source,
    })
}

/// A histogram as base64 of its V2 form (for JSON documents).
pub fn to_base64(histogram: &Histogram<u64>) -> String {
    base64::engine::general_purpose::STANDARD.encode(encode(histogram))
}

/// Decodes base64 of a V2 histogram.
pub fn from_base64(text: &str) -> Result<Histogram<u64>, Base64Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(Base64Error::Base64)?;
    Ok(decode(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram() -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in [10, 200, 3000] {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn round_trips_through_files_and_base64() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allowed.hdr");
        write(&path, &histogram()).unwrap();
        assert_eq!(read(&path).unwrap(), histogram());
        assert_eq!(from_base64(&to_base64(&histogram())).unwrap(), histogram());
    }

    #[test]
    fn errors_name_the_file_and_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.hdr");
        std::fs::write(&path, b"garbage").unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, HdrError::Decode { .. }), "{err}");
        assert!(err.to_string().contains("bad.hdr"), "{err}");
        let missing = read(&dir.path().join("none.hdr")).unwrap_err();
        assert!(matches!(missing, HdrError::Io { .. }), "{missing}");
        assert!(from_base64("@@")
            .unwrap_err()
            .to_string()
            .starts_with("bad base64"));
        assert!(from_base64("AAAA").is_err());
    }
}
