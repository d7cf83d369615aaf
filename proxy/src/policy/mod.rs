//! Per-group policies and the allow/block decision.
//!
//! A policy names blocked categories, always-allow and always-deny domain lists (each
//! matched on the host and its parent domains). The `default` group applies when the
//! identity is unknown or the group has no policy of its own.
//!
//! Everything is resolved at load (category names to a bit set of ids, list entries to
//! hash sets of normalised domains) so that a decision is a handful of hash probes and one
//! bit test, with no allocation unless the request is blocked.
//!
//! File format (`scenarios/demo/policy.toml`):
//! ```toml
//! [groups.default]
//! blocked_categories = ["adult", "games"]
//! always_allow = ["school.example"]
//! always_deny = ["bad.example"]
//! ip_literals = "block"   # or "allow"; the default is "block"
//! ```
//!
//! `ip_literals` decides requests whose host is an IP address in any spelling (HTTP and
//! CONNECT alike): schools treat browsing by raw address as a way around the filter,
//! since an address matches no category, so the default blocks it; a group that needs
//! it (staff reaching a printer's web page, say) sets `"allow"`, after which the
//! always-allow and always-deny lists still apply to the address's text.

mod domain_set;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::filter::{CategoryDb, CategoryId};
pub use domain_set::DomainSet;

/// Name of the group that applies to unknown identities and groups without a policy.
pub const DEFAULT_GROUP: &str = "default";

/// Why a request was blocked: shown on the block page and counted in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockReason {
    /// The host (or path) is in a category the group blocks.
    Category {
        /// The blocked category (name via [`CategoryDb::category_name`]).
        category: CategoryId,
        /// The rule that categorised the request (e.g. `example.com/games`).
        rule: String,
    },
    /// The host matched the group's always-deny list at this entry.
    DenyList {
        /// The deny-list entry that matched.
        entry: String,
    },
    /// The host is an IP address and the group does not browse by address.
    IpLiteral {
        /// The address, canonical (`127.0.0.1`, `::1`).
        address: String,
    },
}

/// What a group's policy does with a request whose host is an IP address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpLiteralPolicy {
    /// Refuse it (the default): an address matches no category.
    #[default]
    Block,
    /// Decide it like a name: lists apply to the address's text; no category matches.
    Allow,
}

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward the request. `category` is the host's category, if any (for metrics/logs).
    Allow {
        /// The request's category, when the database knows it.
        category: Option<CategoryId>,
    },
    /// Refuse with a block response.
    Block(BlockReason),
}

/// Errors from loading policies; each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape, or names unknown categories or
    /// invalid domains (all problems are listed, one per line).
    #[error("{origin}: {message}")]
    Invalid {
        /// The file (or other source) name.
        origin: String,
        /// What is wrong, naming each key.
        message: String,
    },
}

/// One group's policy as written (the TOML table `[groups.<name>]`). Also the value the
/// Redis store keeps per group, serialised as JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Category names this group may not reach.
    #[serde(default)]
    pub blocked_categories: Vec<String>,
    /// Domains (and their subdomains) always allowed, whatever their category.
    #[serde(default)]
    pub always_allow: Vec<String>,
    /// Domains (and their subdomains) always denied, unless always allowed.
    #[serde(default)]
    pub always_deny: Vec<String>,
    /// Requests to an IP-address host: blocked unless set to `allow`.
    #[serde(default, skip_serializing_if = "is_default_ip_policy")]
    pub ip_literals: IpLiteralPolicy,
}

fn is_default_ip_policy(p: &IpLiteralPolicy) -> bool {
    *p == IpLiteralPolicy::default()
}

/// The policy file: `[groups.<name>]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    groups: BTreeMap<String, PolicySpec>,
}

/// One group's policy, with category names resolved to ids at load time.
#[derive(Debug, Default)]
pub struct Policy {
    /// Bit `i` set: category `i` is blocked.
    blocked: Box<[u64]>,
    always_allow: DomainSet,
    always_deny: DomainSet,
    ip_literals: IpLiteralPolicy,
}

impl Policy {
    /// Resolves a spec against `db`. Errors name the key, prefixed with `key_prefix`
    /// (e.g. `groups.students`); all problems are returned.
    pub fn from_spec(
        spec: &PolicySpec,
        db: &CategoryDb,
        key_prefix: &str,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut blocked = vec![0u64; db.category_count().div_ceil(64)];
        for name in &spec.blocked_categories {
            match db.category_id(name) {
                Some(CategoryId(id)) => blocked[usize::from(id) / 64] |= 1 << (id % 64),
                None => errors.push(format!(
                    "{key_prefix}.blocked_categories: unknown category {name:?}"
                )),
            }
        }
        let mut domains = |list: &[String], key: &str| {
            DomainSet::build(list, &format!("{key_prefix}.{key}")).unwrap_or_else(|e| {
                errors.extend(e);
                DomainSet::default()
            })
        };
        let always_allow = domains(&spec.always_allow, "always_allow");
        let always_deny = domains(&spec.always_deny, "always_deny");
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            blocked: blocked.into(),
            always_allow,
            always_deny,
            ip_literals: spec.ip_literals,
        })
    }

    /// True when this policy blocks `category`.
    #[inline]
    pub fn blocks(&self, category: CategoryId) -> bool {
        let id = usize::from(category.0);
        self.blocked
            .get(id / 64)
            .is_some_and(|word| word & (1 << (id % 64)) != 0)
    }

    /// Decides for a canonical target: an IP-address host (`ip` set, `host` its canonical
    /// text) goes by the group's `ip_literals` rule, a name as [`Self::decide`]; `path` as
    /// sent. What plain HTTP, CONNECT and a tunnel's SNI are all judged by.
    pub fn decide_target(
        &self,
        db: &CategoryDb,
        host: &str,
        ip: Option<IpAddr>,
        path: &str,
    ) -> Decision {
        match ip {
            Some(ip) => self.decide_ip(db, ip, host, path),
            None => self.decide(db, host, path),
        }
    }

    /// Decides for a host given as an IP address (`text` is its canonical form, as the
    /// lists would hold it): blocked unless the group allows addresses, then decided like
    /// a name.
    pub fn decide_ip(&self, db: &CategoryDb, ip: IpAddr, text: &str, path: &str) -> Decision {
        match self.ip_literals {
            IpLiteralPolicy::Block => Decision::Block(BlockReason::IpLiteral {
                address: ip.to_string(),
            }),
            IpLiteralPolicy::Allow => self.decide(db, text, path),
        }
    }

    /// Decides for `host` (lowercase, no port, not an IP address: see
    /// [`Self::decide_ip`]) and `path` as sent. Order: always-allow, always-deny, then
    /// blocked categories. No allocation on the allow path.
    pub fn decide(&self, db: &CategoryDb, host: &str, path: &str) -> Decision {
        if self.always_allow.matches(host).is_some() {
            return Decision::Allow {
                category: db.categorise(host, path).map(|m| m.category),
            };
        }
        if let Some(entry) = self.always_deny.matches(host) {
            return Decision::Block(BlockReason::DenyList {
                entry: entry.to_string(),
            });
        }
        match db.categorise(host, path) {
            Some(m) if self.blocks(m.category) => Decision::Block(BlockReason::Category {
                category: m.category,
                rule: m.rule.to_string(),
            }),
            m => Decision::Allow {
                category: m.map(|m| m.category),
            },
        }
    }
}

/// All groups' policies. Immutable once built; swapped whole on reload.
#[derive(Debug, Default)]
pub struct PolicySet {
    groups: HashMap<Box<str>, Arc<Policy>>,
    default: Arc<Policy>,
}

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
    pub fn parse(text: &str, origin: &str, db: &CategoryDb) -> Result<Self, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        Self::from_specs(&file.groups, db).map_err(|errors| invalid(errors.join("\n")))
    }

    /// The group specs of a policy TOML text, unresolved (used to seed external stores).
    pub fn parse_specs(
        text: &str,
        origin: &str,
    ) -> Result<BTreeMap<String, PolicySpec>, PolicyError> {
        toml::from_str::<PolicyFile>(text)
            .map(|file| file.groups)
            .map_err(|e| PolicyError::Invalid {
                origin: origin.to_string(),
                message: e.to_string(),
            })
    }

    /// Builds the set from group specs; all problems are returned, each naming its key.
    pub fn from_specs(
        specs: &BTreeMap<String, PolicySpec>,
        db: &CategoryDb,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut groups = HashMap::new();
        for (name, spec) in specs {
            match Policy::from_spec(spec, db, &format!("groups.{name}")) {
                Ok(policy) => {
                    groups.insert(name.as_str().into(), Arc::new(policy));
                }
                Err(e) => errors.extend(e),
            }
        }
        if !specs.contains_key(DEFAULT_GROUP) {
            errors.push(format!(
                "groups.{DEFAULT_GROUP}: missing (the default group is required)"
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let default = groups
            .get(DEFAULT_GROUP)
            .cloned()
            .expect("presence of the default group was checked above");
        Ok(PolicySet { groups, default })
    }

    /// The policy of `group`, or the `default` group's when it has none.
    #[inline]
    pub fn for_group(&self, group: &str) -> &Arc<Policy> {
        self.groups.get(group).unwrap_or(&self.default)
    }

    /// The `default` group's policy.
    pub fn default_policy(&self) -> &Arc<Policy> {
        &self.default
    }

    /// True when `group` has a policy of its own.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Group names, in no particular order.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(|name| &**name)
    }
}

#[cfg(test)]
mod tests;
