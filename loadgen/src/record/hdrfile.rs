//! Histogram files: the HdrHistogram V2 encoding, so runs can be merged later
//! by any HdrHistogram implementation.

use std::path::Path;

use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;

/// Errors reading or writing a histogram file.
#[derive(Debug, thiserror::Error)]
pub enum HdrFileError {
    /// File access failed.
    #[error("histogram file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error("encoding histogram {path}: {message}")]
    Encode {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is not a V2 histogram.
    #[error("decoding histogram {path}: {message}")]
    Decode {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// Writes `h` to `path` in the V2 encoding.
pub fn write(path: &Path, h: &Histogram<u64>) -> Result<(), HdrFileError> {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| HdrFileError::Encode {
            path: path.display().to_string(),
            message: format!("{e:?}"),
        })?;
    std::fs::write(path, buf).map_err(|source| HdrFileError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Reads a V2 (or V2-deflate) histogram from `path`.
pub fn read(path: &Path) -> Result<Histogram<u64>, HdrFileError> {
    let bytes = std::fs::read(path).map_err(|source| HdrFileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| HdrFileError::Decode {
            path: path.display().to_string(),
            message: format!("{e:?}"),
        })
}
