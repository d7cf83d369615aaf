//! `[admin]`: the bearer token that guards `POST /reload` and the `/debug/` routes, read
//! from a file (`token_file`, for mounted secrets) or an environment variable
//! (`token_env`). An admin listener on a non-loopback address without a token is a config
//! error, so the routes are never published open by accident. The token is kept only as
//! its SHA-256 digest and compared in constant time, so neither its content nor its
//! length leaks through timing. The guard itself is [`crate::admin::auth`].

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        "127.0.0.1:9090".parse().expect("literal address")
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
}
