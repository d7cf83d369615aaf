//! A resolved identity (user, group) and where it came from, as the request path and the
//! metrics see it.

use std::sync::Arc;

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
    /// The user, when known (a trusted header may name only a group).
    pub user: Option<Arc<str>>,
    /// The group whose policy applies (`default` when unknown).
    pub group: Arc<str>,
    /// Where the identity came from.
    pub source: IdentitySource,
}
