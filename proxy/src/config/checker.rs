//! Problem collection for config validation: a [`Checker`] records every problem with
//! its dotted key and (when it can be found in the source text) its line, and offers the
//! typed checks validation repeats for many keys (durations, counts, addresses, header
//! names). [`Checker::deserialize_all`] keeps deserialising after serde errors so one
//! typo does not hide the next.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;

use super::problem::Problem;
use super::raw::RawConfig;
use crate::duration::parse_duration;

/// Collects problems while reading one config text.
pub(super) struct Checker<'a> {
    pub(super) text: &'a str,
    pub(super) problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    pub(super) fn problem(&mut self, section: &str, key: Option<&str>, message: impl Into<String>) {
        let full = match key {
            Some(k) => format!("{section}.{k}"),
            None => section.to_string(),
        };
        self.problems.push(Problem {
            line: find_line(self.text, section, key),
            key: full,
            message: message.into(),
        });
    }

    /// Deserializes the whole table, collecting every problem serde reports: after each
    /// error the offending key is removed and deserialization retried, so one typo does
    /// not hide the next. Spans refer to the re-serialised table; problems are located in
    /// the original text by section and key.
    pub(super) fn deserialize_all(&mut self, mut table: toml::Table) -> RawConfig {
        for _ in 0..MAX_PROBLEMS {
            let rendered = match toml::to_string(&table) {
                Ok(t) => t,
                Err(_) => break,
            };
            let err = match toml::from_str::<RawConfig>(&rendered) {
                Ok(raw) => return raw,
                Err(e) => e,
            };
            let message = err.message().to_string();
            let (section, mut key) = locate(&rendered, err.span().map(|s| s.start));
            if message.starts_with("unknown field") {
                key = backticked_field(&message).or(key);
            }
            let (section, key) = match key {
                // An unknown or malformed top-level table.
                Some(k) if section.is_empty() || section == k => (k, None),
                k => (section, k),
            };
            self.problem(&section, key.as_deref(), message);
            if !remove_key(&mut table, &section, key.as_deref()) {
                break;
            }
        }
        RawConfig::default()
    }

    pub(super) fn duration(
        &mut self,
        section: &str,
        key: &str,
        raw: Option<&str>,
        default: Duration,
    ) -> Duration {
        match raw.map(parse_duration) {
            None => default,
            Some(Ok(d)) if !d.is_zero() => d,
            Some(Ok(_)) => {
                self.problem(section, Some(key), "must be greater than zero");
                default
            }
            Some(Err(msg)) => {
                self.problem(section, Some(key), msg);
                default
            }
        }
    }

    pub(super) fn positive(
        &mut self,
        section: &str,
        key: &str,
        raw: Option<usize>,
        default: usize,
    ) -> usize {
        match raw {
            Some(0) => {
                self.problem(section, Some(key), "must be greater than zero");
                default
            }
            Some(n) => n,
            None => default,
        }
    }

    pub(super) fn addr(
        &mut self,
        section: &str,
        key: &str,
        raw: Option<&str>,
        default: &str,
    ) -> SocketAddr {
        let text = raw.unwrap_or(default);
        text.parse().unwrap_or_else(|_| {
            self.problem(
                section,
                Some(key),
                format!("`{text}` is not an ip:port address"),
            );
            default
                .parse()
                .expect("built-in default addresses are valid")
        })
    }

    /// `default` must be a lowercase header name.
    pub(super) fn header(
        &mut self,
        section: &str,
        key: &str,
        raw: Option<&str>,
        default: &'static str,
    ) -> HeaderName {
        let text = raw.unwrap_or(default);
        HeaderName::from_bytes(text.to_ascii_lowercase().as_bytes()).unwrap_or_else(|_| {
            self.problem(
                section,
                Some(key),
                format!("`{text}` is not a valid header name"),
            );
            HeaderName::from_static(default)
        })
    }
}

/// Most problems reported from one file (bounds the retry loop).
const MAX_PROBLEMS: usize = 64;

/// The table header (dotted) and the key on the line holding byte `offset` of `text`.
fn locate(text: &str, offset: Option<usize>) -> (String, Option<String>) {
    let Some(offset) = offset else {
        return (String::new(), None);
    };
    let mut section = String::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let t = line.trim();
        let header = t
            .starts_with('[')
            .then(|| t.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        if offset < end {
            return match header {
                Some(h) => (h, None),
                None => (
                    section,
                    t.split_once('=')
                        .map(|(k, _)| k.trim().trim_matches('"').to_string()),
                ),
            };
        }
        if let Some(h) = header {
            section = h;
        }
        start = end;
    }
    (section, None)
}

/// Removes `section.key` (or the whole section) from `table`; false when nothing matched.
fn remove_key(table: &mut toml::Table, section: &str, key: Option<&str>) -> bool {
    let mut path: Vec<&str> = section.split('.').filter(|p| !p.is_empty()).collect();
    if let Some(k) = key {
        path.push(k);
    }
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut current = table;
    for p in parents {
        if !matches!(current.get(*p), Some(toml::Value::Table(_))) {
            // Inside an array of tables (or not there): drop what is there.
            return current.remove(*p).is_some();
        }
        match current.get_mut(*p) {
            Some(toml::Value::Table(t)) => current = t,
            _ => return false,
        }
    }
    current.remove(*last).is_some()
}

/// Extracts `name` from serde messages such as "unknown field `name`, expected ...".
fn backticked_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}

/// The 1-based line of `key` inside `[section]` (or of the section header when `key` is None).
fn find_line(text: &str, section: &str, key: Option<&str>) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(header) = t.strip_prefix('[') {
            current = header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            if key.is_none() && current == section {
                return Some(i + 1);
            }
            continue;
        }
        if let (Some(key), true) = (key, current == section) {
            if let Some((lhs, _)) = t.split_once('=') {
                if lhs.trim().trim_matches('"') == key {
                    return Some(i + 1);
                }
            }
        }
    }
    // `section.key = ...` written as a dotted key at top level, or an inline table.
    key.and_then(|k| {
        let dotted = format!("{section}.{k}");
        text.lines()
            .position(|l| l.trim_start().starts_with(&dotted))
            .map(|i| i + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_section_and_key() {
        let text = "[a]\nx = 1\n[b.c]\ny = 2\n";
        assert_eq!(
            locate(text, Some(5)),
            ("a".to_string(), Some("x".to_string()))
        );
        assert_eq!(
            locate(text, Some(18)),
            ("b.c".to_string(), Some("y".to_string()))
        );
        assert_eq!(locate(text, Some(0)), ("a".to_string(), None));
    }
}
