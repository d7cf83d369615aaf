//! The user table (`user,group,password` CSV with a header row): read and validated at
//! load, with every problem reported with its file and line.

use std::collections::HashSet;
use std::path::Path;

use super::error::IdentityError;

/// One row of the user table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user name (no `:`, which would break Basic credentials).
    pub user: String,
    /// The user's group.
    pub group: String,
    /// The user's proxy password (demo data: cleartext by design).
    pub password: String,
}

/// The exact header row of a users file.
const HEADER: [&str; 3] = ["user", "group", "password"];

/// Reads a users file.
pub fn load_users(path: &Path) -> Result<Vec<UserRecord>, IdentityError> {
    let text = std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_users(&text, &path.display().to_string())
}

/// Parses users CSV; `origin` names the source in errors. All problems are reported.
pub fn parse_users(text: &str, origin: &str) -> Result<Vec<UserRecord>, IdentityError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut errors = Vec::new();
    let mut users = Vec::new();
    let mut seen = HashSet::new();
    let mut header_seen = false;
    let mut lines = LineCounter::new(text);
    for result in reader.records() {
        let record = match result {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                errors.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
        if !header_seen {
            header_seen = true;
            if record.iter().ne(HEADER) {
                errors.push(format!(
                    "line {line}: expected the header row `user,group,password`"
                ));
            }
            continue;
        }
        if record.len() != HEADER.len() {
            errors.push(format!(
                "line {line}: expected 3 fields (user,group,password), found {}",
                record.len()
            ));
            continue;
        }
        let (user, group, password) = (&record[0], &record[1], &record[2]);
        if user.is_empty() || user.contains(':') {
            errors.push(format!(
                "line {line}: invalid user {user:?} (empty or contains ':')"
            ));
        } else if group.is_empty() {
            errors.push(format!("line {line}: user {user:?} has an empty group"));
        } else if !seen.insert(user.to_string()) {
            errors.push(format!("line {line}: duplicate user {user:?}"));
        } else {
            users.push(UserRecord {
                user: user.to_string(),
                group: group.to_string(),
                password: password.to_string(),
            });
        }
    }
    if !header_seen {
        errors.push("line 1: empty users file (expected a header row)".to_string());
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        Err(IdentityError::Invalid {
            origin: origin.to_string(),
            message: errors.join("\n"),
        })
    }
}

/// Line numbers of byte offsets, counted incrementally (offsets come in order).
///
/// Why not the CSV reader's own line numbers: a record that follows skipped blank or
/// comment lines reports where the skipping started, not the record's line.
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line of the first byte at or after `byte` that is not on a blank or
    /// comment line.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut target = usize::try_from(byte).map_or(self.text.len(), |b| b.min(self.text.len()));
        loop {
            match self.text.get(target) {
                Some(b'\n' | b'\r') => target += 1,
                Some(b'#') => {
                    target += self.text[target..]
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(self.text.len() - target, |n| n + 1);
                }
                _ => break,
            }
        }
        if target > self.pos {
            let newlines = self.text[self.pos..target]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.pos = target;
        }
        self.line
    }
}
