//! UTC time stamps as the run directory writes them: RFC 3339 with second precision
//! (`2026-11-28T11:05:00Z`), without a date-time dependency.
//!
//! Run documents, baselines and directory names only ever need "now" and "when the run
//! started", in UTC, to the second; the civil-date arithmetic below is all that takes.

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
}
