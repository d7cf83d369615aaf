//! Header rewriting for forwarded messages: hop-by-hop headers removed both ways
//! (RFC 9110 §7.6.1), `Via` added, and identity headers replaced so that a client can
//! never spoof the identity the origin sees.
//!
//! Spoofing by spelling: CGI, PHP and WSGI origins read `X_Filter_User` and
//! `X-Filter-User` as the same variable (`HTTP_X_FILTER_USER`), so every client header
//! whose name, with `_` read as `-`, is an identity or forwarding header is removed too.
//!
//! Forwarding headers: a client's own `X-Forwarded-For` and `Forwarded` (RFC 7239) are
//! believed only from trusted forwarders (`forward.trusted_forwarders`, CIDRs; none by
//! default). From a trusted client, `X-Forwarded-For` is appended to and `Forwarded`
//! passes; from any other client, `X-Forwarded-For` is replaced by the client's address
//! and `Forwarded` is removed, so an origin never reads an address the client made up.
//!
//! The values that depend only on the client connection ([`ClientValues`]: its address
//! for `X-Forwarded-For`, the identity it resolved to) are built once per connection and
//! cloned per request, since a `HeaderValue` clone shares its bytes instead of copying.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::header::{
    CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE, VIA,
};
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::identity::Identity;

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Removes hop-by-hop headers: those named by `Connection`, then the fixed list.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Names listed in Connection; usually only `close`/`keep-alive`, so this stays empty
    // (and unallocated) on the common path.
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(CONNECTION) {
        for token in value.as_bytes().split(|&b| b == b',') {
            let token = token.trim_ascii();
            if token.is_empty()
                || token.eq_ignore_ascii_case(b"close")
                || token.eq_ignore_ascii_case(b"keep-alive")
            {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                named.push(name);
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
    for name in [
        &CONNECTION,
        &PROXY_CONNECTION,
        &KEEP_ALIVE,
        &PROXY_AUTHORIZATION,
        &PROXY_AUTHENTICATE,
        &TE,
        &TRAILER,
        &TRANSFER_ENCODING,
        &UPGRADE,
    ] {
        headers.remove(name);
    }
}

/// True when a `Via` header already lists `ours` (`1.1 <via_name>`): the request has
/// looped back to this proxy (e.g. an absolute-form URL naming the proxy itself).
pub fn names_us(headers: &HeaderMap, ours: &HeaderValue) -> bool {
    let ours = ours.as_bytes();
    headers.get_all(VIA).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|entry| entry.trim_ascii() == ours)
    })
}

/// What the proxy adds to every forwarded request.
#[derive(Debug, Clone)]
pub struct RequestRewrite {
    /// `1.1 <via_name>`.
    pub via: HeaderValue,
    /// Identity header names sent upstream.
    pub user_header: HeaderName,
    /// Identity header names sent upstream.
    pub group_header: HeaderName,
    /// Trusted appliance identity headers (never forwarded as sent by the client).
    pub trusted: [HeaderName; 2],
}

impl RequestRewrite {
    /// Rewrites request headers for the origin at `authority`, sent by `client`.
    pub fn apply(
        &self,
        headers: &mut HeaderMap,
        authority: &Authority,
        client: &ClientValues,
        identity: &Identity,
    ) {
        strip_hop_by_hop(headers);
        let protected = [
            &self.user_header,
            &self.group_header,
            &self.trusted[0],
            &self.trusted[1],
            &X_FORWARDED_FOR,
            &FORWARDED,
        ];
        strip_lookalikes(headers, &protected);
        for name in &protected[..4] {
            headers.remove(*name);
        }
        let (user, group) = client.identity_values(identity);
        if let Some(user) = user {
            headers.insert(self.user_header.clone(), user);
        }
        if let Some(group) = group {
            headers.insert(self.group_header.clone(), group);
        }
        // The absolute-form target is authoritative; Host must match it (RFC 9112 §3.2.2).
        if headers.get(HOST).map(HeaderValue::as_bytes) != Some(authority.as_str().as_bytes()) {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                headers.insert(HOST, host);
            }
        }
        append_forwarded_for(headers, client);
        headers.append(VIA, self.via.clone());
    }
}

/// Removes headers whose names contain `_` and read as one of `protected` with `_` as
/// `-` (names are lowercase). Names without `_`, nearly all, cost one byte scan.
fn strip_lookalikes(headers: &mut HeaderMap, protected: &[&HeaderName]) {
    let lookalike = |name: &HeaderName| {
        let name = name.as_str().as_bytes();
        name.contains(&b'_')
            && protected.iter().any(|p| {
                let p = p.as_str().as_bytes();
                p.len() == name.len()
                    && p.iter()
                        .zip(name)
                        .all(|(&a, &b)| a == b || (a == b'-' && b == b'_'))
            })
    };
    if !headers.keys().any(lookalike) {
        return;
    }
    let doomed: Vec<HeaderName> = headers.keys().filter(|n| lookalike(n)).cloned().collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Header values fixed for one client connection: built once, cloned per request.
#[derive(Debug)]
pub struct ClientValues {
    client: IpAddr,
    /// The client is a trusted forwarder: its `X-Forwarded-For` and `Forwarded` stand.
    trusted: bool,
    /// `X-Forwarded-For` when the request carries none: the client's address.
    forwarded_for: HeaderValue,
    /// The identity values of the last request: `(user, group)`. HTTP/1 requests on one
    /// connection are sequential, so the lock is never contended.
    identity: Mutex<(Cached, Cached)>,
}

/// A header value made from an identity string, remembered with the string.
#[derive(Debug, Default)]
struct Cached(Option<(Arc<str>, Option<HeaderValue>)>);

impl Cached {
    /// The header value of `text` (None when it is not a valid header value), from the
    /// cache when `text` is the remembered string.
    fn value(&mut self, text: &Arc<str>) -> Option<HeaderValue> {
        match &self.0 {
            Some((cached, value)) if **cached == **text => value.clone(),
            _ => {
                let value = HeaderValue::from_str(text).ok();
                self.0 = Some((text.clone(), value.clone()));
                value
            }
        }
    }
}

impl ClientValues {
    /// The values for a connection from `client`; `trusted` when it is a trusted
    /// forwarder whose forwarding headers are believed.
    pub fn new(client: IpAddr, trusted: bool) -> Self {
        ClientValues {
            client,
            trusted,
            forwarded_for: HeaderValue::from_str(&client.to_string())
                .expect("an IP address is a valid header value"),
            identity: Mutex::new(Default::default()),
        }
    }

    /// The user and group header values of `identity` (None for no user, or a value that
    /// cannot be a header).
    fn identity_values(&self, identity: &Identity) -> (Option<HeaderValue>, Option<HeaderValue>) {
        let mut cache = self
            .identity
            .lock()
            .expect("identity value lock is never poisoned");
        let user = identity.user.as_ref().and_then(|u| cache.0.value(u));
        (user, cache.1.value(&identity.group))
    }
}

fn append_forwarded_for(headers: &mut HeaderMap, client: &ClientValues) {
    if !client.trusted {
        headers.remove(&FORWARDED);
        headers.insert(X_FORWARDED_FOR.clone(), client.forwarded_for.clone());
        return;
    }
    // Several lines are one list (RFC 9110 §5.3): joined, then appended to.
    let prior: Vec<&str> = headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .collect();
    let value = if prior.is_empty() {
        client.forwarded_for.clone()
    } else {
        match HeaderValue::from_str(&format!("{}, {}", prior.join(", "), client.client)) {
            Ok(value) => value,
            Err(_) => return,
        }
    };
    headers.insert(X_FORWARDED_FOR.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentitySource;
    use std::sync::Arc;

    /// The rewrite of the tests: Via `1.1 fp`, the demo identity and appliance headers.
    fn rewrite() -> RequestRewrite {
        RequestRewrite {
            via: HeaderValue::from_static("1.1 fp"),
            user_header: HeaderName::from_static("x-filter-user"),
            group_header: HeaderName::from_static("x-filter-group"),
            trusted: [
                HeaderName::from_static("x-appliance-user"),
                HeaderName::from_static("x-appliance-group"),
            ],
        }
    }

    #[test]
    fn strips_hop_by_hop_including_connection_named() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("close, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn replaces_identity_and_appends_xff() {
        let rw = rewrite();
        let mut h = HeaderMap::new();
        h.insert("x-filter-user", HeaderValue::from_static("spoof"));
        h.insert("x-appliance-group", HeaderValue::from_static("staff"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.9"));
        let id = Identity {
            user: None,
            group: Arc::from("default"),
            source: IdentitySource::Unknown,
        };
        let authority: Authority = "example.com:8080".parse().unwrap();
        h.insert("forwarded", HeaderValue::from_static("for=10.0.0.9"));
        let trusted = ClientValues::new("127.0.0.1".parse().unwrap(), true);
        let mut from_trusted = h.clone();
        rw.apply(&mut from_trusted, &authority, &trusted, &id);
        assert!(!from_trusted.contains_key("x-filter-user"));
        assert!(!from_trusted.contains_key("x-appliance-group"));
        assert_eq!(from_trusted["x-filter-group"], "default");
        assert_eq!(from_trusted["x-forwarded-for"], "10.0.0.9, 127.0.0.1");
        assert_eq!(from_trusted["forwarded"], "for=10.0.0.9");
        assert_eq!(from_trusted[HOST], "example.com:8080");
        assert_eq!(from_trusted[VIA], "1.1 fp");

        let untrusted = ClientValues::new("127.0.0.1".parse().unwrap(), false);
        rw.apply(&mut h, &authority, &untrusted, &id);
        assert_eq!(
            h["x-forwarded-for"], "127.0.0.1",
            "a made-up XFF is replaced"
        );
        assert!(
            !h.contains_key("forwarded"),
            "a made-up Forwarded is removed"
        );
    }

    #[test]
    fn trusted_xff_lines_are_one_list() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        append_forwarded_for(&mut h, &ClientValues::new("::1".parse().unwrap(), true));
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2, ::1");
    }

    #[test]
    fn underscore_spellings_of_protected_headers_are_removed() {
        let rw = rewrite();
        let mut h = HeaderMap::new();
        for name in [
            "x_filter_user",
            "x_filter-group",
            "x-appliance_user",
            "x_appliance_group",
            "x_forwarded_for",
            "x_forwarded-for",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("spoof"),
            );
        }
        h.insert("x_other_thing", HeaderValue::from_static("kept"));
        h.insert("x-filter_users", HeaderValue::from_static("kept"));
        let id = Identity {
            user: Some(Arc::from("alice")),
            group: Arc::from("students"),
            source: IdentitySource::Basic,
        };
        let client = ClientValues::new("127.0.0.1".parse().unwrap(), false);
        rw.apply(&mut h, &"a.example".parse().unwrap(), &client, &id);
        let spoofed: Vec<_> = h
            .iter()
            .filter(|(_, v)| v.as_bytes() == b"spoof")
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(spoofed.is_empty(), "still forwarded: {spoofed:?}");
        assert_eq!(h["x_other_thing"], "kept");
        assert_eq!(h["x-filter_users"], "kept");
        assert_eq!(h["x-filter-user"], "alice");
    }

    #[test]
    fn per_connection_values_follow_the_identity_of_each_request() {
        let rw = rewrite();
        let client = ClientValues::new("::1".parse().unwrap(), false);
        let authority: Authority = "example.com".parse().unwrap();
        let ids = [
            (Some("alice"), "staff"),
            (Some("alice"), "staff"),
            (None, "default"),
            (Some("bob"), "students"),
            (Some("bad\nname"), "students"),
        ];
        for (user, group) in ids {
            let id = Identity {
                user: user.map(Arc::from),
                group: Arc::from(group),
                source: IdentitySource::Basic,
            };
            let mut h = HeaderMap::new();
            rw.apply(&mut h, &authority, &client, &id);
            let sent_user = h.get("x-filter-user").map(|v| v.to_str().unwrap());
            assert_eq!(sent_user, user.filter(|u| !u.contains('\n')));
            assert_eq!(h["x-filter-group"], group);
            assert_eq!(h["x-forwarded-for"], "::1");
        }
    }
}

#[cfg(test)]
mod loop_tests {
    use super::*;

    #[test]
    fn detects_our_own_via_entry() {
        let ours = HeaderValue::from_static("1.1 filter-proxy");
        let mut h = HeaderMap::new();
        assert!(!names_us(&h, &ours));
        h.append(VIA, HeaderValue::from_static("1.0 other, 1.1 filter-proxy"));
        assert!(names_us(&h, &ours));
        let mut h = HeaderMap::new();
        h.append(VIA, HeaderValue::from_static("1.1 filter-proxy-2"));
        assert!(!names_us(&h, &ours));
    }
}
