//! The host and port a request goes to, canonicalised once so that the host the policy
//! checks is the host the proxy connects to.
//!
//! - Userinfo (`http://user:secret@host/`) is refused: RFC 9110 §4.2.4 deprecates it,
//!   and forwarding it would leak the credentials in `Host`.
//! - A port must be 1-65535; an empty port means the default. Anything else is refused
//!   rather than silently replaced by the default port.
//! - Names are lowercased, one trailing dot (the absolute form) is dropped, and empty
//!   labels (`a..b`) are refused.
//! - Every numeric spelling of an IPv4 address (dotted, decimal `2130706433`, octal
//!   `0177.0.0.1`, hex `0x7f.1`, short `127.1`) and IPv4-mapped IPv6 (`[::ffff:7f00:1]`)
//!   becomes one [`IpAddr`], parsed with the WHATWG URL rules browsers use: a filter
//!   that only knew dotted quads let every other spelling through uncategorised.

use std::borrow::Cow;
use std::net::IpAddr;

use http::uri::Authority;

use crate::error::ProxyError;

/// A request's target after canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// Lowercase name without a trailing dot, or the canonical text of [`Self::ip`]
    /// (`127.0.0.1`, `[::1]`): what is resolved and connected to.
    pub host: Cow<'a, str>,
    /// Set when the host is an IP literal in any spelling.
    pub ip: Option<IpAddr>,
    /// The port (the default when none was given).
    pub port: u16,
}

/// Canonicalises `authority`; `default_port` is used for an absent or empty port (None:
/// a port is required, as for CONNECT).
pub(crate) fn parse(
    authority: &Authority,
    default_port: Option<u16>,
) -> Result<Target<'_>, ProxyError> {
    let text = authority.as_str();
    if text.contains('@') {
        return Err(ProxyError::BadRequest(
            "credentials in the URL (user@host) are refused",
        ));
    }
    let raw_host = authority.host();
    let port = match &text[raw_host.len()..] {
        "" | ":" => default_port.ok_or(ProxyError::BadRequest("a port is required"))?,
        rest => match rest
            .strip_prefix(':')
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|&p| p != 0)
        {
            Some(port) => port,
            None => return Err(ProxyError::BadRequest("the port is not in 1-65535")),
        },
    };
    let (host, ip) = canonical_host(raw_host)?;
    Ok(Target { host, ip, port })
}

/// The canonical form of a host (no port): see the module docs.
pub(crate) fn canonical_host(raw: &str) -> Result<(Cow<'_, str>, Option<IpAddr>), ProxyError> {
    if let Some(inner) = raw.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let v6: std::net::Ipv6Addr = inner
            .parse()
            .map_err(|_| ProxyError::BadRequest("invalid IPv6 address"))?;
        let ip = IpAddr::V6(v6).to_canonical();
        return Ok((Cow::Owned(ip_text(ip)), Some(ip)));
    }
    let name = raw.strip_suffix('.').unwrap_or(raw);
    let bytes = name.as_bytes();
    // Folds without an early exit, which the compiler turns into wide compares: most
    // hosts are short, valid and lowercase, and every request and tunnel comes here.
    let upper = bytes
        .iter()
        .fold(false, |acc, b| acc | b.is_ascii_uppercase());
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(ProxyError::BadRequest("the host has an empty label"));
    };
    let double_dot = bytes[..bytes.len() - 1]
        .iter()
        .zip(&bytes[1..])
        .fold(false, |acc, (a, b)| acc | ((*a == b'.') & (*b == b'.')));
    if double_dot || first == b'.' || last == b'.' {
        return Err(ProxyError::BadRequest("the host has an empty label"));
    }
    let last_label = memchr::memrchr(b'.', bytes).map_or(0, |i| i + 1);
    if is_a_number(&name[last_label..]) {
        return match url::Host::parse(name) {
            Ok(url::Host::Ipv4(v4)) => {
                let ip = IpAddr::V4(v4);
                Ok((Cow::Owned(ip_text(ip)), Some(ip)))
            }
            _ => Err(ProxyError::BadRequest("invalid IPv4 address")),
        };
    }
    let host = if upper {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    Ok((host, None))
}

/// `127.0.0.1` or `[::1]`: the form an authority carries.
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The WHATWG "ends in a number" check, on the last label: decimal digits or `0x` hex
/// make the whole host an IPv4 address (or invalid).
fn is_a_number(last: &str) -> bool {
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Result<(String, Option<IpAddr>, u16), String> {
        let authority: Authority = s.parse().map_err(|e| format!("{e}"))?;
        parse(&authority, Some(80))
            .map(|t| (t.host.into_owned(), t.ip, t.port))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_spelling_of_loopback_is_one_address() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        for s in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0x7f.0.0.1",
            "0x7F.1",
            "127.1",
            "127.0.1",
            "017700000001",
            "127.0.0.1.",
            "[::ffff:127.0.0.1]",
            "[::ffff:7f00:1]",
        ] {
            let (host, ip, port) = target(s).unwrap();
            assert_eq!(ip, Some(loopback), "{s}");
            assert_eq!(host, "127.0.0.1", "{s}");
            assert_eq!(port, 80);
        }
        let (host, ip, _) = target("[::1]:8080").unwrap();
        assert_eq!(ip, Some("::1".parse().unwrap()));
        assert_eq!(host, "[::1]");
    }

    #[test]
    fn names_are_lowercased_and_lose_the_trailing_dot() {
        assert_eq!(
            target("Example.COM.:81").unwrap(),
            ("example.com".into(), None, 81)
        );
        assert_eq!(target("1.example").unwrap().1, None);
        assert_eq!(target("example.1a").unwrap().1, None);
        assert!(matches!(target("a.b").unwrap().0.as_str(), "a.b"));
    }

    #[test]
    fn bad_targets_are_refused() {
        for s in [
            "user:secret@example.com",
            "user@example.com",
            "example.com:99999",
            "example.com:0",
            "example.com:65536",
            "a..example",
            "256.0.0.1",
            "1.2.3.4.5",
            "0x1g.0.0.1",
            "4294967296",
        ] {
            assert!(target(s).is_err(), "{s} accepted: {:?}", target(s));
        }
    }

    #[test]
    fn ports_default_only_when_absent_or_empty() {
        assert_eq!(target("example.com").unwrap().2, 80);
        assert_eq!(target("example.com:").unwrap().2, 80);
        assert_eq!(target("example.com:65535").unwrap().2, 65535);
        let a: Authority = "example.com".parse().unwrap();
        assert!(parse(&a, None).is_err(), "CONNECT needs a port");
    }
}
