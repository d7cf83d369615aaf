//! One access-log line, written straight into a byte buffer.
//!
//! The writer thread formats every line the proxy serves, so its cost is counted in the
//! proxy's CPU per request (all threads are). Serialising a struct through serde and
//! formatting a fresh RFC 3339 timestamp per line cost about a third of a request's own
//! instructions; written field by field, with integers through `itoa`, strings escaped by
//! `serde_json` only where they can hold arbitrary text, and the timestamp's date part
//! reused within a second, a line costs a few per cent.

use std::io::Write;
use std::time::UNIX_EPOCH;

use http::Method;

use super::entry::Entry;
use super::settings::AccessLogSettings;
use crate::metrics::DecisionLabel;

/// Formats lines; remembers the date part of the last second it formatted.
#[derive(Debug, Default)]
pub(super) struct LineWriter {
    /// The whole second of `date`.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    date: String,
}

impl LineWriter {
    /// Appends the JSON object of `e` (no newline) to `out`.
    pub(super) fn event(&mut self, out: &mut Vec<u8>, e: &Entry) {
        let since = e.start.duration_since(UNIX_EPOCH).unwrap_or_default();
        out.extend_from_slice(b"{\"time\":\"");
        self.timestamp(out, since.as_secs(), since.subsec_micros());
        out.extend_from_slice(b"\",\"kind\":\"");
        let tunnel = e.method == Method::CONNECT;
        out.extend_from_slice(if tunnel { b"tunnel" } else { b"http" });
        out.extend_from_slice(b"\",\"client\":\"");
        let _ = write!(out, "{}", e.client);
        out.extend_from_slice(b"\",\"user\":");
        text(out, e.user.as_deref());
        out.extend_from_slice(b",\"group\":");
        text(out, e.group.as_deref());
        out.extend_from_slice(b",\"method\":");
        text(out, Some(e.method.as_str()));
        out.extend_from_slice(b",\"url\":\"");
        // A URI is visible ASCII without quotes or backslashes: no escaping needed.
        if let Some(scheme) = e.uri.scheme_str() {
            out.extend_from_slice(scheme.as_bytes());
            out.extend_from_slice(b"://");
        }
        if let Some(authority) = e.uri.authority() {
            out.extend_from_slice(authority.as_str().as_bytes());
        }
        if let Some(pq) = e.uri.path_and_query().filter(|_| !tunnel) {
            out.extend_from_slice(pq.as_str().as_bytes());
        }
        out.extend_from_slice(b"\",\"host\":");
        text(out, e.uri.host());
        out.extend_from_slice(b",\"category\":");
        text(out, e.category.as_deref());
        out.extend_from_slice(b",\"rule\":");
        text(out, e.rule.as_deref());
        out.extend_from_slice(b",\"decision\":\"");
        out.extend_from_slice(match e.decision {
            DecisionLabel::Allowed => b"allowed",
            DecisionLabel::Blocked => b"blocked",
            DecisionLabel::Error => b"error",
        });
        out.extend_from_slice(b"\",\"status\":");
        number(out, u64::from(e.status));
        out.extend_from_slice(b",\"bytes_in\":");
        match e.bytes_in {
            Some(n) => number(out, n),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"bytes_out\":");
        number(out, e.bytes_out);
        out.extend_from_slice(b",\"head_us\":");
        number(out, e.head.as_micros() as u64);
        out.extend_from_slice(b",\"duration_us\":");
        number(out, e.total.as_micros() as u64);
        out.extend_from_slice(b",\"upstream\":");
        match e.uri.authority() {
            Some(a) if e.decision == DecisionLabel::Allowed => {
                out.push(b'"');
                out.extend_from_slice(a.as_str().as_bytes());
                if a.port().is_none() {
                    out.extend_from_slice(b":80");
                }
                out.push(b'"');
            }
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"sni\":");
        text(out, e.sni.as_deref());
        out.extend_from_slice(b",\"error\":");
        text(out, e.error);
        out.push(b'}');
    }

    /// Appends the Splunk HEC envelope of `e` (no newline) to `out`.
    pub(super) fn envelope(&mut self, out: &mut Vec<u8>, e: &Entry, s: &AccessLogSettings) {
        let since = e.start.duration_since(UNIX_EPOCH).unwrap_or_default();
        out.extend_from_slice(b"{\"time\":");
        number(out, since.as_secs());
        let _ = write!(out, ".{:03}", since.subsec_millis());
        out.extend_from_slice(b",\"host\":");
        text(out, Some(&s.host));
        out.extend_from_slice(b",\"source\":");
        text(out, Some(&s.source));
        out.extend_from_slice(b",\"sourcetype\":");
        text(out, Some(&s.sourcetype));
        if let Some(index) = &s.index {
            out.extend_from_slice(b",\"index\":");
            text(out, Some(index));
        }
        out.extend_from_slice(b",\"event\":");
        self.event(out, e);
        out.push(b'}');
    }

    /// `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (UTC); the date part is formatted once a second.
    fn timestamp(&mut self, out: &mut Vec<u8>, second: u64, micros: u32) {
        if self.date.is_empty() || second != self.second {
            let at = UNIX_EPOCH + std::time::Duration::from_secs(second);
            let formatted = time::OffsetDateTime::from(at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            // `...:SSZ` for a whole second: keep everything before the `Z`.
            self.date = formatted.trim_end_matches('Z').to_string();
            self.second = second;
        }
        out.extend_from_slice(self.date.as_bytes());
        let _ = write!(out, ".{micros:06}Z");
    }
}

/// A JSON string, or `null`. Names, groups and categories are nearly always plain
/// printable ASCII, copied as they are; anything else is escaped by `serde_json`.
fn text(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(v)
            if v.bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') =>
        {
            out.push(b'"');
            out.extend_from_slice(v.as_bytes());
            out.push(b'"');
        }
        Some(v) => {
            let _ = serde_json::to_writer(&mut *out, v);
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_need_escaping_are_escaped() {
        let mut out = Vec::new();
        text(&mut out, Some("plain user"));
        out.push(b' ');
        text(&mut out, Some("quo\"te\\ne\nwline é"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#""plain user" "quo\"te\\ne\nwline é""#
        );
    }

    #[test]
    fn the_date_part_follows_the_second() {
        let mut w = LineWriter::default();
        let mut out = Vec::new();
        w.timestamp(&mut out, 1_700_000_000, 123_456);
        out.push(b' ');
        w.timestamp(&mut out, 1_700_000_000, 7);
        out.push(b' ');
        w.timestamp(&mut out, 1_700_000_061, 0);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2023-11-14T22:13:20.123456Z 2023-11-14T22:13:20.000007Z 2023-11-14T22:14:21.000000Z"
        );
    }
}
