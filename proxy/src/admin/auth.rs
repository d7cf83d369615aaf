//! The admin listener's guard: `POST /reload` and every `/debug/` route (CPU profiles,
//! allocator statistics) need `Authorization: Bearer <token>` when `[admin]` names a token.
//!
//! Those routes change what the proxy enforces or reveal its memory and code, and the image
//! and the rig publish the admin port; `/healthz`, `/readyz` and `/metrics` stay open
//! because load balancers and scrapers call them without credentials. The token comes from
//! a file (`token_file`, for mounted secrets) or an environment variable (`token_env`); an
//! admin listener on a non-loopback address without a token is a config error, so the
//! routes are never published open by accident. Tokens are compared through their SHA-256
//! digests in constant time, so neither the content nor the length leaks through timing.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::{header, HeaderMap};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest accepted token: 128 bits of hex, or 16 characters of anything else.
pub const MIN_TOKEN_LEN: usize = 16;

/// `[admin]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// File holding the token (relative to the config file); surrounding whitespace is
    /// trimmed.
    pub token_file: Option<String>,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
}

/// The bearer token guarding the sensitive admin routes. `Debug` never prints it.
#[derive(Clone)]
pub struct AdminToken(Arc<[u8; 32]>);

impl AdminToken {
    /// Wraps a token (its length and characters are checked at config load).
    pub fn new(token: &str) -> Self {
        Self(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `presented` is the token, in time independent of both.
    pub fn matches(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&*self.0).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

/// Validated `[admin]`.
#[derive(Debug, Clone, Default)]
pub struct AdminSettings {
    /// The token `POST /reload` and `/debug/` need; `None` leaves them open (only allowed
    /// on a loopback admin listener).
    pub token: Option<AdminToken>,
}

/// Why a guarded request was refused, for the `reason` label of `admin_refused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing = 0,
    /// A bearer token that is not the configured one.
    Invalid = 1,
}

impl RawAdmin {
    /// Validates the section; `admin_listen` decides whether a token is required. Problems
    /// are `(key, message)` with the key relative to `[admin]`.
    pub fn validate(
        self,
        base: &Path,
        admin_listen: SocketAddr,
    ) -> Result<AdminSettings, Vec<(&'static str, String)>> {
        let (key, read) = match (&self.token_file, &self.token_env) {
            (Some(_), Some(_)) => {
                return Err(vec![(
                    "token_env",
                    "set either admin.token_file or admin.token_env, not both".into(),
                )])
            }
            (Some(file), None) => (
                "token_file",
                std::fs::read_to_string(base.join(file))
                    .map_err(|e| format!("cannot read `{file}`: {e}")),
            ),
            (None, Some(var)) => (
                "token_env",
                std::env::var(var).map_err(|e| format!("`{var}`: {e}")),
            ),
            (None, None) if admin_listen.ip().is_loopback() => {
                return Ok(AdminSettings { token: None })
            }
            (None, None) => {
                return Err(vec![(
                    "token_file",
                    format!(
                        "required (or admin.token_env) when server.admin_listen ({admin_listen}) is not a loopback address"
                    ),
                )])
            }
        };
        let token = read.map_err(|m| vec![(key, m)])?;
        let token = token.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(vec![(
                key,
                format!("the token must be at least {MIN_TOKEN_LEN} characters"),
            )]);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(vec![(
                key,
                "the token must be visible ASCII without spaces".into(),
            )]);
        }
        Ok(AdminSettings {
            token: Some(AdminToken::new(token)),
        })
    }
}

/// Whether `path` is one of the routes the token guards.
pub fn guarded(path: &str) -> bool {
    path == "/reload" || path.starts_with("/debug/")
}

/// Checks a guarded request's credentials against `settings`.
pub fn check(settings: &AdminSettings, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(token) = &settings.token else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()))
        .ok_or(Refusal::Missing)?;
    if token.matches(presented) {
        Ok(())
    } else {
        Err(Refusal::Invalid)
    }
}

/// The credentials of a `Bearer` authorization value (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:9090".parse().expect("literal address")
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, value.parse().expect("valid value"));
        h
    }

    #[test]
    fn bearer_token_is_checked() {
        let settings = AdminSettings {
            token: Some(AdminToken::new("0123456789abcdef0123")),
        };
        assert_eq!(check(&settings, &HeaderMap::new()), Err(Refusal::Missing));
        assert_eq!(
            check(&settings, &headers("Basic dXNlcjpwdw==")),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(&settings, &headers("Bearer 0123456789abcdef012")),
            Err(Refusal::Invalid)
        );
        assert_eq!(
            check(&settings, &headers("bearer 0123456789abcdef0123")),
            Ok(())
        );
        assert_eq!(check(&AdminSettings::default(), &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn token_is_required_off_loopback_and_must_be_long_enough() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("short"), "abc\n").expect("write");
        std::fs::write(dir.path().join("good"), "0123456789abcdef0123\n").expect("write");
        let public: SocketAddr = "0.0.0.0:9090".parse().expect("literal address");

        let open = RawAdmin::default().validate(dir.path(), loopback());
        assert!(open.expect("loopback may stay open").token.is_none());
        let err = RawAdmin::default()
            .validate(dir.path(), public)
            .expect_err("public admin needs a token");
        assert_eq!(err[0].0, "token_file");

        let raw = |f: &str| RawAdmin {
            token_file: Some(f.into()),
            token_env: None,
        };
        let err = raw("short")
            .validate(dir.path(), public)
            .expect_err("short");
        assert!(err[0].1.contains("at least"), "{err:?}");
        let err = raw("absent")
            .validate(dir.path(), public)
            .expect_err("absent");
        assert!(err[0].1.contains("cannot read"), "{err:?}");
        let ok = raw("good")
            .validate(dir.path(), public)
            .expect("valid token");
        let token = ok.token.expect("token set");
        assert!(token.matches(b"0123456789abcdef0123"));
        assert!(!format!("{token:?}").contains("0123"));
    }

    #[test]
    fn only_reload_and_debug_routes_are_guarded() {
        for path in [
            "/reload",
            "/debug/jemalloc",
            "/debug/pprof/profile",
            "/debug/x",
        ] {
            assert!(guarded(path), "{path}");
        }
        for path in ["/healthz", "/readyz", "/metrics", "/", "/debugz"] {
            assert!(!guarded(path), "{path}");
        }
    }
}
