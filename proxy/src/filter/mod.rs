//! The category database: maps a host (and optionally a path prefix) to a category.
//!
//! Loaded once at start (and on reload) into a structure whose lookups do not
//! allocate: a host is matched on itself and every parent domain, most specific first.
//! One hash-map probe per suffix of the host, keyed by the borrowed suffix `&str`; the
//! category is a `u16` index so that a match is two words on the stack.
//!
//! File format (`scenarios/demo/categories.txt`): one rule per line,
//! `<domain>[/<path-prefix>] <category>`, `#` starts a comment, blank lines ignored.
//! A path-prefix rule matches the path itself and anything below it (`/games` matches
//! `/games`, `/games/x` and `/games?q`, not `/gamesx`); path rules of a domain are checked
//! before that domain's own rule, longest prefix first. Paths are matched normalised
//! (percent-decoded, dot segments resolved, `//` collapsed, `;` parameters dropped,
//! case-folded: [`path`] says why), and rule prefixes are normalised the same way when
//! loaded.

pub mod domain;
pub mod path;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use domain::{label_count, normalise_domain, suffixes_within, FastBuildHasher};

/// Source of [`CategoryDb::generation`] numbers.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Most categories a database can hold: ids are `u16`.
pub const MAX_CATEGORIES: usize = u16::MAX as usize + 1;

/// A category, as a small index into [`CategoryDb::category_name`]. Copyable so that the
/// hot path passes it around without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryId(pub u16);

/// What matched: the category and the rule text (for block pages and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    /// The category of the rule.
    pub category: CategoryId,
    /// The rule that matched, as written in the file (e.g. `example.com` or `example.com/games`).
    pub rule: &'a str,
}

/// Errors from loading a category database; each names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line is malformed or conflicts with an earlier one.
    #[error("{origin}:{line}: {message}")]
    Syntax {
        /// The file (or other source) name.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A path-prefix rule of one domain.
#[derive(Debug)]
struct PathRule {
    /// The rule as written, normalised: `domain/prefix`.
    rule: Box<str>,
    /// Byte offset of the prefix (the `/`) inside `rule`.
    prefix_at: usize,
    category: CategoryId,
    /// Line of the rule, for duplicate diagnostics.
    line: usize,
}

impl PathRule {
    fn prefix(&self) -> &str {
        &self.rule[self.prefix_at..]
    }

    /// True when `path` is the prefix or lies below it (segment boundary).
    #[inline]
    fn matches(&self, path: &str) -> bool {
        let prefix = self.prefix();
        if !path.starts_with(prefix) {
            return false;
        }
        match path.as_bytes().get(prefix.len()) {
            None => true,
            Some(b'/' | b'?' | b'#') => true,
            Some(_) => prefix.ends_with('/'),
        }
    }
}

/// Everything known about one domain.
#[derive(Debug, Default)]
struct DomainEntry {
    /// The domain's own rule: category and line.
    category: Option<(CategoryId, usize)>,
    /// Path rules, longest prefix first.
    paths: Vec<PathRule>,
}

/// The loaded database. Immutable once built; swapped whole on reload.
#[derive(Debug, Default)]
pub struct CategoryDb {
    /// Domain -> rules; the key is also the domain rule's text.
    domains: HashMap<Box<str>, DomainEntry, FastBuildHasher>,
    /// Category names, indexed by `CategoryId` (shared, so an access-log line can carry
    /// one without copying it).
    names: Vec<std::sync::Arc<str>>,
    by_name: HashMap<Box<str>, CategoryId>,
    rules: usize,
    /// Most labels of any domain in `domains`: longer suffixes of a host are not probed.
    max_labels: usize,
    /// Unique per parsed database (0 for an empty default one).
    generation: u64,
}

impl CategoryDb {
    /// Reads and parses a database file.
    pub fn load(path: &Path) -> Result<Self, FilterError> {
        let text = std::fs::read_to_string(path).map_err(|source| FilterError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses database text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, FilterError> {
        let mut db = CategoryDb {
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
            ..CategoryDb::default()
        };
        for (index, raw_line) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw_line.split('#').next().unwrap_or_default();
            let mut fields = content.split_whitespace();
            let Some(target) = fields.next() else {
                continue;
            };
            let syntax = |message: String| FilterError::Syntax {
                origin: origin.to_string(),
                line,
                message,
            };
            let category = match (fields.next(), fields.next()) {
                (Some(category), None) => category,
                (None, _) => return Err(syntax(format!("rule {target:?} has no category"))),
                (Some(_), Some(extra)) => {
                    return Err(syntax(format!(
                        "unknown syntax: expected `<domain>[/<path>] <category>`, found extra {extra:?}"
                    )))
                }
            };
            db.add_rule(target, category, line).map_err(syntax)?;
        }
        for entry in db.domains.values_mut() {
            entry
                .paths
                .sort_by_key(|rule| std::cmp::Reverse(rule.prefix().len()));
        }
        Ok(db)
    }

    /// Adds one `target category` rule; the error is the message for the line.
    fn add_rule(&mut self, target: &str, category: &str, line: usize) -> Result<(), String> {
        let (raw_domain, prefix) = match target.find('/') {
            Some(slash) => (&target[..slash], Some(&target[slash..])),
            None => (target, None),
        };
        let domain = normalise_domain(raw_domain)?;
        let category = self.intern_category(category)?;
        self.max_labels = self.max_labels.max(label_count(&domain));
        let entry = self.domains.entry(domain.clone().into()).or_default();
        match prefix {
            None => match entry.category {
                Some((existing, _)) if existing == category => {}
                Some((existing, first)) => {
                    return Err(format!(
                        "domain {domain:?} is already in category {:?} (line {first})",
                        self.names[usize::from(existing.0)]
                    ))
                }
                None => {
                    entry.category = Some((category, line));
                    self.rules += 1;
                }
            },
            Some(prefix) => {
                let prefix = path::normalise(prefix);
                if prefix.len() < 2 {
                    return Err(format!("empty path prefix in rule {target:?}"));
                }
                let prefix = prefix.as_ref();
                if let Some(existing) = entry.paths.iter().find(|r| r.prefix() == prefix) {
                    if existing.category != category {
                        return Err(format!(
                            "path rule {:?} is already in category {:?} (line {})",
                            existing.rule,
                            self.names[usize::from(existing.category.0)],
                            existing.line
                        ));
                    }
                    return Ok(());
                }
                entry.paths.push(PathRule {
                    rule: format!("{domain}{prefix}").into(),
                    prefix_at: domain.len(),
                    category,
                    line,
                });
                self.rules += 1;
            }
        }
        Ok(())
    }

    fn intern_category(&mut self, name: &str) -> Result<CategoryId, String> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_')))
        {
            return Err(format!(
                "invalid character {bad:?} in category {name:?} (use a-z, 0-9, '-', '_')"
            ));
        }
        let id = u16::try_from(self.names.len())
            .map(CategoryId)
            .map_err(|_| format!("more than {MAX_CATEGORIES} categories"))?;
        self.names.push(name.into());
        self.by_name.insert(name.into(), id);
        Ok(id)
    }

    /// Categorises `host` (lowercase ASCII, no port) and `path` (as the client sent it):
    /// path-prefix rules of the most specific matching domain first, then the domain
    /// rule. The path is normalised ([`path::normalise`]) only when a domain with path
    /// rules matches, and then without allocating unless it needs rewriting.
    #[inline]
    pub fn categorise<'a>(&'a self, host: &str, path: &str) -> Option<Match<'a>> {
        let mut normal: Option<std::borrow::Cow<'_, str>> = None;
        for suffix in suffixes_within(host, self.max_labels) {
            let Some((domain, entry)) = self.domains.get_key_value(suffix) else {
                continue;
            };
            if entry.paths.is_empty() {
                if let Some((category, _)) = entry.category {
                    return Some(Match {
                        category,
                        rule: domain,
                    });
                }
                continue;
            }
            let path = normal.get_or_insert_with(|| path::normalise(path));
            if let Some(rule) = entry.paths.iter().find(|r| r.matches(path)) {
                return Some(Match {
                    category: rule.category,
                    rule: &rule.rule,
                });
            }
            if let Some((category, _)) = entry.category {
                return Some(Match {
                    category,
                    rule: domain,
                });
            }
        }
        None
    }

    /// Looks a category up by name (used when loading policies).
    pub fn category_id(&self, name: &str) -> Option<CategoryId> {
        self.by_name.get(name).copied()
    }

    /// The name of a category; `"unknown"` for an id this database did not issue.
    pub fn category_name(&self, id: CategoryId) -> &str {
        self.names
            .get(usize::from(id.0))
            .map_or("unknown", |name| name)
    }

    /// The name of a category as a shared string (None for an id this database did not
    /// issue).
    pub fn category_shared(&self, id: CategoryId) -> Option<std::sync::Arc<str>> {
        self.names.get(usize::from(id.0)).cloned()
    }

    /// All category names, in id order.
    pub fn category_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }

    /// Number of categories.
    pub fn category_count(&self) -> usize {
        self.names.len()
    }

    /// A number unique to this parsed database (0 for an empty default one). Values derived
    /// from a database (policies with resolved category ids) are cached under it, so that
    /// a reload never mixes ids of two databases.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of rules (domain and path rules).
    pub fn len(&self) -> usize {
        self.rules
    }

    /// True when the database holds no rule.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
