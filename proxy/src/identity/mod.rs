//! Who sent a request: resolves user and group from, in configured order, a
//! `Proxy-Authorization: Basic` header (checked against the user table), a trusted
//! identity header (honoured only from trusted source CIDRs), and a client-IP -> user map.
//! Unknown identities get the `default` group.
//!
//! Users file format (`scenarios/demo/users.csv`): `user,group,password` with a header row.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use http::HeaderMap;
use serde::Deserialize;

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
    pub user: Option<Arc<str>>,
    pub group: Arc<str>,
    pub source: IdentitySource,
}

/// Errors from loading identity data; each names the file and line or key.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
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
    pub net: ipnet::IpNet,
    pub user: String,
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

/// Resolves identities; built once from [`IdentityConfig`].
#[derive(Debug)]
pub struct IdentityResolver {}

impl IdentityResolver {
    /// Builds a resolver, reading the users file; `base` resolves relative paths.
    pub fn from_config(_cfg: &IdentityConfig, _base: &Path) -> Result<Self, IdentityError> {
        unimplemented!("identity::IdentityResolver::from_config")
    }

    /// Resolves the identity of a request from its headers and client address.
    /// Async because later stores (Redis) answer over the network.
    pub async fn resolve(&self, _headers: &HeaderMap, _client_ip: IpAddr) -> Identity {
        unimplemented!("identity::IdentityResolver::resolve")
    }
}
