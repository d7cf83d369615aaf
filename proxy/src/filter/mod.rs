//! The category database: maps a host (and optionally a path prefix) to a category.
//!
//! Loaded once at start (and on reload) into a structure whose lookups do not
//! allocate: a host is matched on itself and every parent domain, most specific first.
//!
//! File format (`scenarios/demo/categories.txt`): one rule per line,
//! `<domain>[/<path-prefix>] <category>`, `#` starts a comment, blank lines ignored.

use std::path::Path;

/// A category, as a small index into [`CategoryDb::category_name`]. Copyable so that the
/// hot path passes it around without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CategoryId(pub u16);

/// What matched: the category and the rule text (for block pages and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'a> {
    pub category: CategoryId,
    /// The rule that matched, as written in the file (e.g. `example.com` or `example.com/games`).
    pub rule: &'a str,
}

/// Errors from loading a category database; each names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {message}")]
    Syntax {
        origin: String,
        line: usize,
        message: String,
    },
}

/// The loaded database. Immutable once built; swapped whole on reload.
#[derive(Debug, Default)]
pub struct CategoryDb {}

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
    pub fn parse(_text: &str, _origin: &str) -> Result<Self, FilterError> {
        unimplemented!("filter::CategoryDb::parse")
    }

    /// Categorises `host` (lowercase ASCII, no port) and `path`: path-prefix rules of the
    /// most specific matching domain first, then the domain rule. No allocation.
    pub fn categorise<'a>(&'a self, _host: &str, _path: &str) -> Option<Match<'a>> {
        unimplemented!("filter::CategoryDb::categorise")
    }

    /// Looks a category up by name (used when loading policies).
    pub fn category_id(&self, _name: &str) -> Option<CategoryId> {
        unimplemented!("filter::CategoryDb::category_id")
    }

    /// The name of a category.
    pub fn category_name(&self, _id: CategoryId) -> &str {
        unimplemented!("filter::CategoryDb::category_name")
    }

    /// Number of rules (domain and path rules).
    pub fn len(&self) -> usize {
        0
    }

    /// True when the database holds no rule.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
