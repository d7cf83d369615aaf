//! The admin listener's guard: `POST /reload` and every `/debug/` route (CPU profiles,
//! allocator statistics) need `Authorization: Bearer <token>` when `[admin]` names a token.
//!
//! Those routes change what the proxy enforces or reveal its memory and code, and the image
//! and the rig publish the admin port; `/healthz`, `/readyz` and `/metrics` stay open
//! because load balancers and scrapers call them without credentials. The token, how it is
//! read and how it is compared belong to the `[admin]` section ([`crate::config::admin`]).

use http::{header, HeaderMap};

use crate::config::admin::AdminSettings;
pub use crate::metrics::AdminRefusal as Refusal;

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
    use crate::config::admin::AdminToken;

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
