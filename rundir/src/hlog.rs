//! HdrHistogram interval logs (`.hlog`): a run's per-second histograms, one line per
//! class per second, in the format the Java, Python and Go HdrHistogram tools (and
//! HistogramLogAnalyzer) read, so runs are not locked into our reports.
//!
//! The writing and the parsing are the `hdrhistogram` crate's
//! (`serialization::interval_log`, histograms V2-deflate compressed); this module adds
//! the headers other readers expect (`#[StartTime: ]`, `#[BaseTime: ]`, the format
//! version and the column legend), timestamps relative to the base time (the start of
//! the run), and typed errors naming the file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The format version line the Java writer puts first; readers use it to pick a parser.
const FORMAT_VERSION: &str = "[Histogram log format version 1.3]";
/// The column legend line of the format.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// An interval log that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HlogError {
    /// File access failed.
    #[error("interval log {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A histogram could not be encoded or decoded, or a line not parsed.
    #[error("interval log {}: {detail}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What went wrong, and where.
        detail: String,
    },
}

/// One interval of a log: a tagged histogram over `[start, start + length)` seconds after
/// the log's base time.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// The tag (our request class).
    pub tag: String,
    /// Start, after the base time.
    pub start: Duration,
    /// Length.
    pub length: Duration,
    /// The values recorded in it.
    pub histogram: Histogram<u64>,
}

/// A whole log as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalLog {
    /// `#[StartTime: ]`, when present.
    pub start_time: Option<SystemTime>,
    /// `#[BaseTime: ]`, when present (interval starts count from it).
    pub base_time: Option<SystemTime>,
    /// The intervals, in file order.
    pub intervals: Vec<Interval>,
}

/// A histogram in the V2-deflate encoding (the compact form the log stores, and the form
/// the load generator keeps each closed second in until the log is written).
pub fn deflate(histogram: &Histogram<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(histogram, &mut out)
        .expect("compressing a u64 histogram into a Vec cannot fail");
    out
}

/// Decodes a histogram encoded by [`deflate`] (or any V2 form).
pub fn inflate(bytes: &[u8]) -> Result<Histogram<u64>, crate::hdr::DecodeError> {
    crate::hdr::decode(bytes)
}

/// Writes `intervals` (sorted by start, as readers expect) as an interval log whose start
/// and base time are `start`.
pub fn write<'a>(
    path: &Path,
    start: SystemTime,
    intervals: impl IntoIterator<Item = (&'a str, Duration, Duration, &'a Histogram<u64>)>,
) -> Result<(), HlogError> {
    let format = |detail: String| HlogError::Format {
        path: path.to_owned(),
        detail,
    };
    let io = |source| HlogError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out: Vec<u8> = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    {
        IntervalLogWriterBuilder::new()
            .add_comment(FORMAT_VERSION)
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(io)?;
    }
    out.extend_from_slice(LEGEND.as_bytes());
    {
        // A second writer with no headers of its own continues the same text.
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut out, &mut serializer)
            .map_err(io)?;
        for (tag, from, length, h) in intervals {
            let tag = Tag::new(tag).ok_or_else(|| format(format!("{tag:?} cannot be a tag")))?;
            writer
                .write_histogram(h, from, length, Some(tag))
                .map_err(|e| format(format!("writing a histogram: {e:?}")))?;
        }
    }
    std::fs::write(path, &out).map_err(io)
}

/// Reads an interval log with the crate's parser and decodes every histogram.
pub fn read(path: &Path) -> Result<IntervalLog, HlogError> {
    let bytes = std::fs::read(path).map_err(|source| HlogError::Io {
        path: path.to_owned(),
        source,
    })?;
    let format = |detail: String| HlogError::Format {
        path: path.to_owned(),
        detail,
    };
    let mut log = IntervalLog {
        start_time: None,
        base_time: None,
        intervals: Vec::new(),
    };
    let mut decoder = Deserializer::new();
    for entry in IntervalLogIterator::new(&bytes) {
        match entry.map_err(|e| format(format!("{e:?}")))? {
            LogEntry::StartTime(t) => log.start_time = Some(UNIX_EPOCH + t),
            LogEntry::BaseTime(t) => log.base_time = Some(UNIX_EPOCH + t),
            LogEntry::Interval(i) => {
                use base64::Engine;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(i.encoded_histogram())
                    .map_err(|e| format(format!("bad base64: {e}")))?;
                let histogram = decoder
                    .deserialize(&mut &raw[..])
                    .map_err(|e| format(format!("decoding a histogram: {e:?}")))?;
                log.intervals.push(Interval {
                    tag: i.tag().map_or_else(String::new, |t| t.as_str().to_owned()),
                    start: i.start_timestamp(),
                    length: i.duration(),
                    histogram,
                });
            }
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn writes_the_standard_headers_and_reads_back_the_same_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latency.hlog");
        let start = UNIX_EPOCH + Duration::from_millis(1_795_863_900_250);
        let a = histogram(&[100, 200, 300, 40_000]);
        let b = histogram(&[7, 7, 7]);
        let c = histogram(&[1_000_000]);
        let sec = Duration::from_secs(1);
        write(
            &path,
            start,
            [
                ("allowed", Duration::ZERO, sec, &a),
                ("blocked", Duration::ZERO, sec, &b),
                ("allowed", sec, sec, &c),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("#[StartTime: 1795863900.250 "), "{text}");
        assert!(text.contains("#[BaseTime: 1795863900.250 "), "{text}");
        assert!(
            text.contains("#[Histogram log format version 1.3]"),
            "{text}"
        );
        assert!(
            text.contains("\"StartTimestamp\",\"Interval_Length\""),
            "{text}"
        );
        assert!(text.contains("\nTag=allowed,0.000,1.000,400"), "{text}");
        let log = read(&path).unwrap();
        assert_eq!(log.start_time, Some(start));
        assert_eq!(log.base_time, Some(start));
        let got: Vec<(&str, u64, u64, &Histogram<u64>)> = log
            .intervals
            .iter()
            .map(|i| {
                (
                    i.tag.as_str(),
                    i.start.as_secs(),
                    i.histogram.len(),
                    &i.histogram,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("allowed", 0, 4, &a),
                ("blocked", 0, 3, &b),
                ("allowed", 1, 1, &c)
            ]
        );
        assert_eq!(inflate(&deflate(&a)).unwrap(), a);
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.hlog");
        std::fs::write(&path, "Tag=x,0.0,1.0,1.0,@@@@\n").unwrap();
        let e = read(&path).unwrap_err();
        assert!(e.to_string().contains("bad.hlog"), "{e}");
        let missing = read(&dir.path().join("none.hlog")).unwrap_err();
        assert!(matches!(missing, HlogError::Io { .. }), "{missing}");
    }
}
