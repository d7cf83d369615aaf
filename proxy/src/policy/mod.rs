//! Per-group policies and the allow/block decision.
//!
//! A policy names blocked categories, always-allow and always-deny domain lists (each
//! matched on the host and its parent domains). The `default` group applies when the
//! identity is unknown or the group has no policy of its own.
//!
//! File format (`scenarios/demo/policy.toml`):
//! ```toml
//! [groups.default]
//! blocked_categories = ["adult", "games"]
//! always_allow = ["school.example"]
//! always_deny = ["bad.example"]
//! ```

use std::path::Path;
use std::sync::Arc;

use crate::filter::{CategoryDb, CategoryId};

/// Why a request was blocked: shown on the block page and counted in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockReason {
    /// The host (or path) is in a category the group blocks.
    Category { category: CategoryId, rule: String },
    /// The host matched the group's always-deny list at this entry.
    DenyList { entry: String },
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward the request. `category` is the host's category, if any (for metrics/logs).
    Allow { category: Option<CategoryId> },
    /// Refuse with a block response.
    Block(BlockReason),
}

/// Errors from loading policies; each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// One group's policy, with category names resolved to ids at load time.
#[derive(Debug, Default)]
pub struct Policy {}

impl Policy {
    /// Decides for `host` (lowercase, no port) and `path`. Order: always-allow, always-deny,
    /// then blocked categories. No allocation on the allow path.
    pub fn decide(&self, _db: &CategoryDb, _host: &str, _path: &str) -> Decision {
        unimplemented!("policy::Policy::decide")
    }
}

/// All groups' policies. Immutable once built; swapped whole on reload.
#[derive(Debug, Default)]
pub struct PolicySet {}

impl PolicySet {
    /// Reads and validates a policy file against `db` (unknown categories are errors).
    pub fn load(path: &Path, db: &CategoryDb) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string(), db)
    }

    /// Parses policy TOML; `origin` names the source in errors.
    pub fn parse(_text: &str, _origin: &str, _db: &CategoryDb) -> Result<Self, PolicyError> {
        unimplemented!("policy::PolicySet::parse")
    }

    /// The policy of `group`, or the `default` group's when it has none.
    pub fn for_group(&self, _group: &str) -> &Arc<Policy> {
        unimplemented!("policy::PolicySet::for_group")
    }
}
