//! Parsing of the human units used in profile and mix files: durations
//! (`"90s"`, `"4m"`, `"1m30s"`, `"500ms"`, or an integer of seconds) and sizes
//! (`"1KiB"`, `"8MiB"`, `"512"`).
//!
//! Done once at load, so nothing on the hot path parses text.

use std::time::Duration;

use serde::Deserialize;

/// A duration or size as written in a file: an integer or a string with units.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Written {
    /// A bare number (seconds for durations, bytes for sizes).
    Number(u64),
    /// Text with a unit.
    Text(String),
}

/// Parses a duration: an integer of seconds, or runs of `<number><unit>` with
/// units `ms`, `s`, `m`, `h` (`"1m30s"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{text}`: a number needs a unit (ms, s, m, h)"))?;
        if digits == 0 {
            return Err(format!(
                "`{text}`: expected a number, e.g. \"90s\" or \"4m\""
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            other => return Err(format!("`{text}`: unknown unit `{other}` (ms, s, m, h)")),
        };
    }
    Ok(total)
}

/// Parses a size: bytes, or a number with `B`, `KiB`, `MiB`, `GiB` (or `KB`,
/// `MB`, `GB`, taken as powers of 1024 too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if split == 0 {
        return Err(format!("`{text}`: expected a size such as \"64KiB\""));
    }
    let n: u64 = text[..split]
        .parse()
        .map_err(|_| format!("`{text}`: number too large"))?;
    let scale: u64 = match text[split..].trim() {
        "" | "B" => 1,
        "KiB" | "KB" | "K" => 1 << 10,
        "MiB" | "MB" | "M" => 1 << 20,
        "GiB" | "GB" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KiB, MiB, GiB)"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{text}`: too large"))
}

impl Written {
    /// As a duration.
    pub fn duration(&self) -> Result<Duration, String> {
        match self {
            Written::Number(n) => Ok(Duration::from_secs(*n)),
            Written::Text(t) => parse_duration(t),
        }
    }

    /// As a size in bytes.
    pub fn size(&self) -> Result<u64, String> {
        match self {
            Written::Number(n) => Ok(*n),
            Written::Text(t) => parse_size(t),
        }
    }
}

/// Writes a duration the way files spell it (`"90s"`, `"250ms"`).
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Serde helper: a duration written as [`format_duration`] spells it.
pub fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("4m"), Ok(Duration::from_secs(240)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("3 furlongs").is_err());
    }
}
