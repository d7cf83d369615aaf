//! The category database and one group's policy, as the parity tool reads them: the
//! rules the corpus is generated from and the e2guardian lists are written from.
//!
//! Kept apart from the proxy's own loader on purpose: the tool must describe the
//! database as a reference filter would be configured from it, not reuse the code
//! whose decisions it is checking.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::error::ParityError;

/// One rule of the category database: `<domain>[/<path-prefix>] <category>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Lower-case domain.
    pub domain: String,
    /// The path prefix, starting with `/`, for a path rule.
    pub path: Option<String>,
    /// The category name.
    pub category: String,
}

impl Rule {
    /// The rule as written in the database (`domain` or `domain/prefix`).
    pub fn text(&self) -> String {
        format!("{}{}", self.domain, self.path.as_deref().unwrap_or(""))
    }
}

/// The rules of a database file, in file order.
#[derive(Debug, Clone, Default)]
pub struct Database {
    /// Every rule.
    pub rules: Vec<Rule>,
}

impl Database {
    /// Reads a database file.
    pub fn load(path: &Path) -> Result<Self, ParityError> {
        let text = std::fs::read_to_string(path).map_err(|source| ParityError::Io {
            what: format!("read categories {}", path.display()),
            cause: source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses database text; every malformed line is reported with its number.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ParityError> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let content = raw.split('#').next().unwrap_or_default();
            let fields: Vec<&str> = content.split_whitespace().collect();
            let (target, category) = match fields[..] {
                [] => continue,
                [target, category] => (target, category),
                _ => {
                    errors.push(format!(
                        "{origin}:{}: expected `<domain>[/<path>] <category>`",
                        index + 1
                    ));
                    continue;
                }
            };
            let (domain, path) = match target.find('/') {
                Some(slash) => (&target[..slash], Some(target[slash..].to_owned())),
                None => (target, None),
            };
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if domain.is_empty() || path.as_deref() == Some("/") {
                errors.push(format!("{origin}:{}: empty domain or path", index + 1));
                continue;
            }
            rules.push(Rule {
                domain,
                path,
                category: category.to_owned(),
            });
        }
        if !errors.is_empty() {
            return Err(ParityError::Input(errors.join("\n")));
        }
        if rules.is_empty() {
            return Err(ParityError::Input(format!("{origin}: no rules")));
        }
        Ok(Database { rules })
    }

    /// Domain rules: domain -> category.
    pub fn domain_categories(&self) -> BTreeMap<&str, &str> {
        self.rules
            .iter()
            .filter(|r| r.path.is_none())
            .map(|r| (r.domain.as_str(), r.category.as_str()))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    groups: BTreeMap<String, GroupSpec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    #[serde(default)]
    blocked_categories: Vec<String>,
    #[serde(default)]
    always_allow: Vec<String>,
    #[serde(default)]
    always_deny: Vec<String>,
    /// `"block"` or `"allow"` hosts given as an IP address (the proxy's default: block).
    #[serde(default)]
    ip_literals: Option<String>,
}

/// One group's policy.
#[derive(Debug, Clone, Default)]
pub struct GroupPolicy {
    /// The group's name.
    pub name: String,
    /// Categories the group may not reach.
    pub blocked: BTreeSet<String>,
    /// Domains (and subdomains) always allowed.
    pub always_allow: Vec<String>,
    /// Domains (and subdomains) always denied unless always allowed.
    pub always_deny: Vec<String>,
    /// Hosts given as an IP address are blocked (the proxy's `ip_literals`, default
    /// block). Reported with the IP-literal class; e2guardian is left at its default.
    pub blocks_ip_literals: bool,
}

impl GroupPolicy {
    /// Reads the policy file and picks `group`.
    pub fn load(path: &Path, group: &str) -> Result<Self, ParityError> {
        let text = std::fs::read_to_string(path).map_err(|source| ParityError::Io {
            what: format!("read policy {}", path.display()),
            cause: source,
        })?;
        Self::parse(&text, &path.display().to_string(), group)
    }

    /// Parses policy TOML and picks `group`.
    pub fn parse(text: &str, origin: &str, group: &str) -> Result<Self, ParityError> {
        let mut file: PolicyFile =
            toml::from_str(text).map_err(|e| ParityError::Input(format!("{origin}: {e}")))?;
        let spec = file.groups.remove(group).ok_or_else(|| {
            let known: Vec<_> = file.groups.keys().cloned().collect();
            ParityError::Input(format!(
                "{origin}: no [groups.{group}] (groups: {})",
                known.join(", ")
            ))
        })?;
        let lower = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect()
        };
        let blocks_ip_literals = match spec.ip_literals.as_deref() {
            None | Some("block") => true,
            Some("allow") => false,
            Some(other) => {
                return Err(ParityError::Input(format!(
                    "{origin}: groups.{group}.ip_literals: {other:?} is neither \"block\" nor \"allow\""
                )))
            }
        };
        Ok(GroupPolicy {
            blocks_ip_literals,
            name: group.to_owned(),
            blocked: spec.blocked_categories.into_iter().collect(),
            always_allow: lower(spec.always_allow),
            always_deny: lower(spec.always_deny),
        })
    }

    /// Whether the group blocks `category`.
    pub fn blocks(&self, category: &str) -> bool {
        self.blocked.contains(category)
    }
}

/// `domain` and each of its parent domains, most specific first.
pub fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_domain_and_path_rules_and_reports_bad_lines() {
        let db = Database::parse("# c\nA.test games\nb.test/x adult # note\n\n", "db").unwrap();
        assert_eq!(db.rules.len(), 2);
        assert_eq!(db.rules[0].domain, "a.test");
        assert_eq!(db.rules[1].path.as_deref(), Some("/x"));
        assert_eq!(db.rules[1].text(), "b.test/x");
        let err = Database::parse("a.test\nb.test x y\n", "db").unwrap_err();
        assert!(err.to_string().contains("db:1:") && err.to_string().contains("db:2:"));
    }

    #[test]
    fn picks_the_group_and_names_the_known_ones() {
        let text = "[groups.default]\nblocked_categories = [\"adult\"]\n\
                    [groups.students]\nblocked_categories = [\"games\"]\nalways_deny = [\"X.test\"]\n";
        let p = GroupPolicy::parse(text, "p", "students").unwrap();
        assert!(p.blocks("games") && !p.blocks("adult"));
        assert_eq!(p.always_deny, ["x.test"]);
        let err = GroupPolicy::parse(text, "p", "nobody")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default, students"), "{err}");
        assert!(GroupPolicy::parse("[groups.a]\nblocked = []\n", "p", "a").is_err());
        assert!(p.blocks_ip_literals, "blocked by default");
        let allow = GroupPolicy::parse("[groups.a]\nip_literals = \"allow\"\n", "p", "a").unwrap();
        assert!(!allow.blocks_ip_literals);
        assert!(GroupPolicy::parse("[groups.a]\nip_literals = \"maybe\"\n", "p", "a").is_err());
    }

    #[test]
    fn suffixes_walk_up_to_the_last_label() {
        let all: Vec<_> = suffixes("a.b.test").collect();
        assert_eq!(all, ["a.b.test", "b.test", "test"]);
    }
}
