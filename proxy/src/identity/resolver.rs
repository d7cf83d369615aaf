//! The identity resolver: everything parsed at load so that resolving a request is a few
//! hash probes and reference-count increments.
//!
//! Basic credentials are precomputed per user (`base64(user:password)`), so the hot path
//! looks the header's token up as bytes instead of decoding, splitting and comparing.
//! The lookup is a hash probe on the full token: a wrong password or an unknown user simply
//! finds nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use http::header::{HeaderName, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

use super::config::IdentityConfig;
use super::error::IdentityError;
use super::ip_map::IpMap;
use super::resolved::{Identity, IdentitySource};
use super::users::{load_users, UserRecord};
use crate::filter::domain::FastBuildHasher;
use crate::policy::DEFAULT_GROUP;

/// Origin named in errors about the `[identity]` settings.
const SETTINGS: &str = "[identity]";

/// A known user with its group, shared by every request of that user.
#[derive(Debug, Clone)]
struct UserIdentity {
    user: Arc<str>,
    group: Arc<str>,
}

impl UserIdentity {
    fn with_source(&self, source: IdentitySource) -> Identity {
        Identity {
            user: Some(Arc::clone(&self.user)),
            group: Arc::clone(&self.group),
            source,
        }
    }
}

/// Resolves identities; built once from [`IdentityConfig`].
#[derive(Debug)]
pub struct IdentityResolver {
    order: Box<[IdentitySource]>,
    /// Expected Basic token (`base64(user:password)`) -> user.
    basic: HashMap<Box<[u8]>, UserIdentity, FastBuildHasher>,
    /// User name -> user, for trusted headers naming only the user.
    users: HashMap<Box<str>, UserIdentity, FastBuildHasher>,
    /// Interned group names, so that a trusted group header does not allocate.
    groups: HashMap<Box<str>, Arc<str>, FastBuildHasher>,
    trusted_user_header: HeaderName,
    trusted_group_header: HeaderName,
    trusted_cidrs: Box<[IpNet]>,
    ip_users: IpMap<UserIdentity>,
    default_group: Arc<str>,
    /// `Proxy-Authenticate` for a request no source identified, when `require_auth` is
    /// on (`Basic realm="..."`, built once).
    challenge: Option<HeaderValue>,
}

impl IdentityResolver {
    /// Builds a resolver, reading the users file; `base` resolves relative paths.
    pub fn from_config(cfg: &IdentityConfig, base: &Path) -> Result<Self, IdentityError> {
        let users = match &cfg.users_file {
            Some(file) => Some(load_users(&base.join(file))?),
            None => None,
        };
        Self::build(cfg, users.as_deref())
    }

    /// Builds a resolver from settings and an already-read user table (`None`: no table;
    /// then `basic` never matches and client-IP users get the `default` group).
    pub fn build(
        cfg: &IdentityConfig,
        users: Option<&[UserRecord]>,
    ) -> Result<Self, IdentityError> {
        let mut errors = Vec::new();
        if cfg.order.contains(&IdentitySource::Unknown) {
            errors.push("order: `unknown` is not an identity source".to_string());
        }
        let mut header = |key: &str, name: &str| {
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap_or_else(|_| {
                errors.push(format!("{key}: invalid header name {name:?}"));
                PROXY_AUTHORIZATION
            })
        };
        let trusted_user_header = header("trusted_user_header", &cfg.trusted_user_header);
        let trusted_group_header = header("trusted_group_header", &cfg.trusted_group_header);

        let default_group: Arc<str> = Arc::from(DEFAULT_GROUP);
        let mut groups = HashMap::default();
        groups.insert(Box::from(DEFAULT_GROUP), Arc::clone(&default_group));
        let mut basic = HashMap::default();
        let mut table = HashMap::default();
        for record in users.unwrap_or_default() {
            let group = Arc::clone(
                groups
                    .entry(record.group.as_str().into())
                    .or_insert_with(|| Arc::from(record.group.as_str())),
            );
            let user = UserIdentity {
                user: Arc::from(record.user.as_str()),
                group,
            };
            basic.insert(basic_token(&record.user, &record.password), user.clone());
            table.insert(record.user.as_str().into(), user);
        }

        let mut ip_users = IpMap::default();
        for (index, entry) in cfg.ip_users.iter().enumerate() {
            let user = match (table.get(entry.user.as_str()), users.is_some()) {
                (Some(user), _) => user.clone(),
                (None, true) => {
                    errors.push(format!(
                        "ip_users[{index}].user: unknown user {:?} (not in the users file)",
                        entry.user
                    ));
                    continue;
                }
                (None, false) => UserIdentity {
                    user: Arc::from(entry.user.as_str()),
                    group: Arc::clone(&default_group),
                },
            };
            if ip_users.insert(entry.net, user).is_some() {
                errors.push(format!(
                    "ip_users[{index}].net: network {} is listed twice",
                    entry.net.trunc()
                ));
            }
        }
        let challenge = match challenge(cfg, users.is_some()) {
            Ok(challenge) => challenge,
            Err(problem) => {
                errors.push(problem);
                None
            }
        };
        if !errors.is_empty() {
            return Err(IdentityError::Invalid {
                origin: SETTINGS.to_string(),
                message: errors.join("\n"),
            });
        }
        Ok(IdentityResolver {
            order: cfg.order.clone().into(),
            basic,
            users: table,
            groups,
            trusted_user_header,
            trusted_group_header,
            trusted_cidrs: cfg.trusted_cidrs.clone().into(),
            ip_users,
            default_group,
            challenge,
        })
    }

    /// Resolves the identity of a request from its headers and client address.
    /// Async because later stores (Redis) answer over the network.
    pub async fn resolve(&self, headers: &HeaderMap, client_ip: IpAddr) -> Identity {
        self.resolve_local(headers, client_ip)
            .unwrap_or_else(|| self.unknown())
    }

    /// Tries the configured sources in order against the loaded tables.
    pub fn resolve_local(&self, headers: &HeaderMap, client_ip: IpAddr) -> Option<Identity> {
        self.order.iter().find_map(|source| match source {
            IdentitySource::Basic => self.basic_identity(headers),
            IdentitySource::TrustedHeader => self
                .trusted_identity(headers, client_ip)
                .map(|(identity, _)| identity),
            IdentitySource::ClientIp => self.ip_identity(client_ip),
            IdentitySource::Unknown => None,
        })
    }

    /// The identity of a request nothing matched: the `default` group.
    pub fn unknown(&self) -> Identity {
        Identity {
            user: None,
            group: Arc::clone(&self.default_group),
            source: IdentitySource::Unknown,
        }
    }

    /// The `Proxy-Authenticate` value to answer an unidentified request with, when
    /// `require_auth` is on.
    pub fn challenge(&self) -> Option<&HeaderValue> {
        self.challenge.as_ref()
    }

    /// The configured source order.
    pub fn order(&self) -> &[IdentitySource] {
        &self.order
    }

    /// The group of a user in the users table.
    pub fn user_group(&self, user: &str) -> Option<&Arc<str>> {
        self.users.get(user).map(|u| &u.group)
    }

    /// Number of users in the table.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The `basic` source alone: the user whose precomputed credentials match the
    /// `Proxy-Authorization: Basic` header, with the table's group.
    pub fn basic_identity(&self, headers: &HeaderMap) -> Option<Identity> {
        let value = headers.get(PROXY_AUTHORIZATION)?.as_bytes();
        let space = value.iter().position(|b| *b == b' ')?;
        let (scheme, token) = value.split_at(space);
        if !scheme.eq_ignore_ascii_case(b"basic") {
            return None;
        }
        self.basic
            .get(token.trim_ascii())
            .map(|user| user.with_source(IdentitySource::Basic))
    }

    /// The `trusted_header` source alone (only from `trusted_cidrs`). The flag is true when
    /// the group came from the group header (false: from the users table or `default`).
    pub fn trusted_identity(
        &self,
        headers: &HeaderMap,
        client_ip: IpAddr,
    ) -> Option<(Identity, bool)> {
        let client_ip = client_ip.to_canonical();
        if !self
            .trusted_cidrs
            .iter()
            .any(|net| net.contains(&client_ip))
        {
            return None;
        }
        let text = |name: &HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let user = text(&self.trusted_user_header);
        let group = text(&self.trusted_group_header).map(|g| self.intern_group(g));
        let group_given = group.is_some();
        let known = user.and_then(|u| self.users.get(u));
        let group = group
            .or_else(|| known.map(|k| Arc::clone(&k.group)))
            .or_else(|| user.map(|_| Arc::clone(&self.default_group)))?;
        let user = match (known, user) {
            (Some(known), _) => Some(Arc::clone(&known.user)),
            (None, user) => user.map(Arc::from),
        };
        let identity = Identity {
            user,
            group,
            source: IdentitySource::TrustedHeader,
        };
        Some((identity, group_given))
    }

    /// The `client_ip` source alone: the longest configured network containing the address.
    pub fn ip_identity(&self, client_ip: IpAddr) -> Option<Identity> {
        self.ip_users
            .lookup(client_ip)
            .map(|user| user.with_source(IdentitySource::ClientIp))
    }

    /// The shared name of a group, allocating only for groups the table does not know.
    fn intern_group(&self, group: &str) -> Arc<str> {
        self.groups
            .get(group)
            .map_or_else(|| Arc::from(group), Arc::clone)
    }
}

/// The Basic challenge `require_auth` answers with, or why it cannot be: without `basic`
/// in the order or without a user table no client could ever answer it.
fn challenge(cfg: &IdentityConfig, has_users: bool) -> Result<Option<HeaderValue>, String> {
    if !cfg.require_auth {
        return Ok(None);
    }
    if !cfg.order.contains(&IdentitySource::Basic) {
        return Err(
            "require_auth: `basic` must be in `order` (the challenge asks for \
                    Basic credentials)"
                .to_string(),
        );
    }
    if !has_users {
        return Err("require_auth: needs `users_file` (no credentials could match)".to_string());
    }
    let realm = &cfg.auth_realm;
    if realm.is_empty()
        || realm
            .chars()
            .any(|c| c == '"' || c == '\\' || !(' '..='~').contains(&c))
    {
        return Err(format!(
            "auth_realm: {realm:?} must be non-empty printable ASCII without `\"` or `\\`"
        ));
    }
    HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        .map(Some)
        .map_err(|_| format!("auth_realm: {realm:?} is not valid in a header"))
}

/// The token a client sends for `user:password` in `Proxy-Authorization: Basic <token>`.
fn basic_token(user: &str, password: &str) -> Box<[u8]> {
    base64::engine::general_purpose::STANDARD
        .encode(format!("{user}:{password}"))
        .into_bytes()
        .into_boxed_slice()
}
