//! UTC time stamps as the run directory writes them: RFC 3339 with second precision
//! (`2026-11-28T11:05:00Z`), without a date-time dependency.
//!
//! Run documents, baselines and directory names only ever need "now" and "when the run
//! started", in UTC, to the second; the civil-date arithmetic below is all that takes.
//! Reading is the one exception to "to the second": a coordinated start
//! (`loadgen attack --start-at`) is given as RFC 3339 and may carry a fraction and an offset.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

/// A time as `YYYY-MM-DDTHH:MM:SSZ` (times before 1970 print as the epoch).
pub fn rfc3339(t: SystemTime) -> String {
    rfc3339_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// A compact UTC time stamp for directory names, e.g. `20261128T110957Z`.
pub fn compact_timestamp(t: SystemTime) -> String {
    rfc3339(t).replace(['-', ':'], "")
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_secs(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Text that is not an RFC 3339 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an RFC 3339 time (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)): {why}")]
pub struct TimeParseError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Parses an RFC 3339 date-time (`2026-12-06T16:00:00Z`, `2026-12-06T17:00:00.250+01:00`)
/// into a point in time. Times before 1970 are refused: no run starts then.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, TimeParseError> {
    let err = |why| TimeParseError {
        text: text.to_owned(),
        why,
    };
    let b = text.trim().as_bytes();
    if b.len() < 20 {
        return Err(err("too short"));
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, TimeParseError> {
        let part = &b[range];
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(err("a digit is missing"));
        }
        Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|(i, c)| b[*i] != *c) || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err("separators are not where RFC 3339 puts them"));
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(err("month or day out of range"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(err("hour, minute or second out of range"));
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(err("a fraction needs digits"));
        }
        for (k, d) in b[start..i].iter().take(9).enumerate() {
            nanos += u64::from(d - b'0') * 10u64.pow(8 - k as u32);
        }
    }
    let offset_s = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let s = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return Err(err("the offset must be Z or +HH:MM")),
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    let secs = u64::try_from(secs).map_err(|_| err("before 1970"))?;
    Ok(UNIX_EPOCH + std::time::Duration::new(secs, nanos as u32))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the inverse of the
/// one in [`rfc3339_secs`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(1_767_225_599), "2025-12-31T23:59:59Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_863_900);
        assert_eq!(rfc3339(t), "2026-11-28T11:05:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_164_800 + 3661);
        assert_eq!(rfc3339(leap), "2024-02-29T01:01:01Z");
        assert_eq!(compact_timestamp(leap), "20240229T010101Z");
    }

    #[test]
    fn parses_what_it_writes_and_offsets_and_fractions() {
        for secs in [0, 951_782_400, 1_767_225_599, 1_795_863_900, 1_709_168_461] {
            let text = rfc3339_secs(secs);
            let t = parse_rfc3339(&text).unwrap();
            assert_eq!(t, UNIX_EPOCH + Duration::from_secs(secs), "{text}");
        }
        let z = parse_rfc3339("2026-11-28T11:05:00.25Z").unwrap();
        assert_eq!(
            z,
            UNIX_EPOCH + Duration::from_secs(1_795_863_900) + Duration::from_millis(250)
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T12:35:00.25+01:30").unwrap(),
            z,
            "an offset is taken off"
        );
        assert_eq!(parse_rfc3339("2026-11-28T06:05:00.25-05:00").unwrap(), z);
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T11:05:00",
            "2026-13-28T11:05:00Z",
            "2026-11-28T24:05:00Z",
            "2026-11-28T11:05:00.Z",
            "2026-11-28 11:05:00+0100",
            "1969-12-31T23:59:59Z",
            "2026/11/28T11:05:00Z",
        ] {
            let e = parse_rfc3339(bad).unwrap_err();
            assert!(e.to_string().contains("RFC 3339"), "{bad}: {e}");
        }
    }
}
