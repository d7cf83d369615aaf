//! Who sent a request: resolves user and group from, in configured order, a
//! `Proxy-Authorization: Basic` header (checked against the user table), a trusted
//! identity header (honoured only from trusted source CIDRs), and a client-IP -> user map.
//! Unknown identities get the `default` group.
//!
//! Users file format (`scenarios/demo/users.csv`): `user,group,password` with a header row.

mod ip_map;
mod resolver;
mod users;

use std::sync::Arc;

use serde::Deserialize;

pub use ip_map::IpMap;
pub use resolver::IdentityResolver;
pub use users::{load_users, parse_users, UserRecord};

/// Where an identity came from; counted in metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// `Proxy-Authorization: Basic`, user and password checked against the user table.
    Basic,
    /// A header set by a trusted upstream appliance.
    TrustedHeader,
    /// The client IP -> user map.
    ClientIp,
    /// Nothing matched: the `default` group.
    Unknown,
}

/// A resolved identity. Cheap to clone (shared strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user, when known (a trusted header may name only a group).
    pub user: Option<Arc<str>>,
    /// The group whose policy applies (`default` when unknown).
    pub group: Arc<str>,
    /// Where the identity came from.
    pub source: IdentitySource,
}

/// Errors from loading identity data; each names the file and line or key.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The users file or the `[identity]` settings are invalid (all problems listed, one
    /// per line, each with its line or key).
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or `[identity]` for settings.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Raw identity settings, as they appear in the proxy config's `[identity]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Sources to try, in order. Default: `["basic", "trusted_header", "client_ip"]`.
    #[serde(default = "default_order")]
    pub order: Vec<IdentitySource>,
    /// The user table (`user,group,password` CSV). Relative paths are relative to the config file.
    pub users_file: Option<std::path::PathBuf>,
    /// Header carrying the user, from a trusted appliance.
    #[serde(default = "default_trusted_user_header")]
    pub trusted_user_header: String,
    /// Header carrying the group, from a trusted appliance.
    #[serde(default = "default_trusted_group_header")]
    pub trusted_group_header: String,
    /// Source networks whose trusted identity headers are honoured.
    #[serde(default)]
    pub trusted_cidrs: Vec<ipnet::IpNet>,
    /// Client network -> user name.
    #[serde(default)]
    pub ip_users: Vec<IpUser>,
}

/// One entry of the client-IP map.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpUser {
    /// Client network (longest prefix wins).
    pub net: ipnet::IpNet,
    /// User name; must be in the users table when one is configured.
    pub user: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            order: default_order(),
            users_file: None,
            trusted_user_header: default_trusted_user_header(),
            trusted_group_header: default_trusted_group_header(),
            trusted_cidrs: Vec::new(),
            ip_users: Vec::new(),
        }
    }
}

fn default_order() -> Vec<IdentitySource> {
    vec![
        IdentitySource::Basic,
        IdentitySource::TrustedHeader,
        IdentitySource::ClientIp,
    ]
}
fn default_trusted_user_header() -> String {
    "x-appliance-user".to_string()
}
fn default_trusted_group_header() -> String {
    "x-appliance-group".to_string()
}

#[cfg(test)]
mod tests;
