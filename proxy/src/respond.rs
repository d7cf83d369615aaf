//! Every response the proxy generates itself, in one place: a [`ProxyError`] -> status
//! code, body and headers, and block responses shaped for the kind of request that was
//! blocked (page navigation, XHR/fetch, CORS preflight). Plain HTTP and CONNECT both
//! answer a block through [`block`].

use http::header::{
    ACCEPT, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CACHE_CONTROL, CONNECTION,
    CONTENT_TYPE, ORIGIN, PROXY_AUTHENTICATE, RETRY_AFTER, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::filter::CategoryDb;
use crate::policy::BlockReason;

/// `Sec-Fetch-Mode`, which `http` has no constant for. Looked up by a prepared name: a
/// lookup by `&str` parses the name on every blocked request (about 400 instructions).
static SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

impl ProxyError {
    /// The status code sent to the client.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadRequest(_)
            | ProxyError::Framing(_)
            | ProxyError::OriginForm
            | ProxyError::ClientBody(_) => StatusCode::BAD_REQUEST,
            ProxyError::Resolve { .. } | ProxyError::Connect(_) | ProxyError::Protocol(_) => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::ConnectTimeout | ProxyError::ResponseTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::PoolExhausted | ProxyError::FilteringUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::Loop => StatusCode::LOOP_DETECTED,
            ProxyError::AuthRequired(_) => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        }
    }

    /// The plain-text response for this error.
    pub fn response(&self) -> Response<ProxyBody> {
        let body = match self {
            ProxyError::OriginForm => "400 Bad Request: this is a forward proxy; send absolute-form \
                 requests (GET http://host/path) or CONNECT host:port, and configure it as your HTTP proxy\n"
                .to_string(),
            other => format!("{} {}: {other}\n", other.status().as_u16(), reason(other.status())),
        };
        let mut resp = text_response(self.status(), "text/plain; charset=utf-8", body);
        match self {
            ProxyError::Framing(_) | ProxyError::BadRequest(_) | ProxyError::ClientBody(_) => {
                resp.headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            ProxyError::PoolExhausted | ProxyError::FilteringUnavailable => {
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ProxyError::AuthRequired(challenge) => {
                resp.headers_mut()
                    .insert(PROXY_AUTHENTICATE, challenge.clone());
            }
            _ => {}
        }
        resp
    }
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

fn text_response(
    status: StatusCode,
    content_type: &'static str,
    body: String,
) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::local(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// What kind of request was blocked; decides the block response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A page load: gets an HTML page.
    Navigation,
    /// XHR / fetch: gets JSON a script can read (CORS headers included).
    Script,
    /// A CORS preflight: gets a 204 that grants the request it asks about, never cached,
    /// so the request itself is sent and gets the readable 403 (see [`blocked`]).
    Preflight,
}

impl RequestKind {
    /// Classifies a request from its method and headers.
    pub fn of(method: &Method, headers: &HeaderMap) -> Self {
        if method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return RequestKind::Preflight;
        }
        let fetch_mode_not_navigate = headers
            .get(&SEC_FETCH_MODE)
            .is_some_and(|v| v.as_bytes() != b"navigate");
        let wants_json = headers
            .get(ACCEPT)
            .is_some_and(|v| contains_ignore_case(v.as_bytes(), b"json"));
        if headers.contains_key(ORIGIN) || fetch_mode_not_navigate || wants_json {
            RequestKind::Script
        } else {
            RequestKind::Navigation
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The 403 for a request its policy blocks (plain HTTP and CONNECT alike): the category
/// and rule that blocked it, shaped by the kind of request.
pub fn block(
    db: &CategoryDb,
    reason: &BlockReason,
    method: &Method,
    headers: &HeaderMap,
    host: &str,
) -> Response<ProxyBody> {
    let (category, rule) = describe_block(db, reason);
    blocked(
        RequestKind::of(method, headers),
        headers,
        host,
        category,
        rule,
    )
}

/// The answer to a CORS preflight from a client the proxy has not identified while
/// `identity.require_auth` is on: the grant a blocked preflight gets (204 echoing the
/// origin, method and headers asked for, `Access-Control-Max-Age: 0`), never a 407.
///
/// Why: browsers send preflights without credentials (Fetch: a CORS-preflight request's
/// credentials mode is "omit"), and a preflight answered with anything but a 2xx fails
/// the script's request with `TypeError: Failed to fetch` before it is sent (see
/// `make browser`). Granted, the request itself is sent — with the browser's cached
/// `Proxy-Authorization` once it has authenticated — and judged like any other: forwarded
/// with the origin's own CORS answer, blocked with the readable 403, or challenged with a
/// 407. Nothing reaches an origin unauthenticated; the grant is never cached, so the
/// origin's own preflight is skipped only while the proxy answers this one.
pub fn unauthenticated_preflight(headers: &HeaderMap) -> Response<ProxyBody> {
    // A preflight grant names no host, category or rule.
    blocked(RequestKind::Preflight, headers, "", "", "")
}

/// The category name and rule text of a block, for pages and logs.
pub fn describe_block<'a>(db: &'a CategoryDb, reason: &'a BlockReason) -> (&'a str, &'a str) {
    match reason {
        BlockReason::Category { category, rule } => (db.category_name(*category), rule.as_str()),
        BlockReason::DenyList { entry } => ("deny-list", entry.as_str()),
        BlockReason::IpLiteral { address } => ("ip-address", address.as_str()),
    }
}

/// The 403 for a blocked request, shaped by `kind`.
pub fn blocked(
    kind: RequestKind,
    headers: &HeaderMap,
    host: &str,
    category: &str,
    rule: &str,
) -> Response<ProxyBody> {
    let mut resp = match kind {
        RequestKind::Navigation => {
            let page = format!(
                "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Blocked</title></head>\
                 <body><h1>This site is blocked</h1><p>Access to <b>{}</b> is blocked by your \
                 school's web filter.</p><p>Category: <b>{}</b><br>Rule: <code>{}</code></p>\
                 </body></html>\n",
                HtmlEscaped(host),
                HtmlEscaped(category),
                HtmlEscaped(rule)
            );
            text_response(StatusCode::FORBIDDEN, "text/html; charset=utf-8", page)
        }
        // A browser sends the request only after a preflight answered with a 2xx
        // ("HTTP ok status"); a 403 here made the script see `TypeError: Failed to
        // fetch` instead of the reason (found by the browser checks). So the preflight
        // passes and the request it announced gets the block, which the script can read.
        // Never cached (`Access-Control-Max-Age: 0`): a cached grant would let the same
        // request skip the origin's own preflight once the site is unblocked.
        RequestKind::Preflight => {
            let mut r = text_response(StatusCode::NO_CONTENT, "text/plain", String::new());
            r.headers_mut().remove(CONTENT_TYPE);
            r.headers_mut()
                .insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("0"));
            r
        }
        RequestKind::Script => {
            let json = serde_json::json!({
                "blocked": true,
                "host": host,
                "category": category,
                "rule": rule,
            });
            text_response(StatusCode::FORBIDDEN, "application/json", json.to_string())
        }
    };
    if kind == RequestKind::Navigation {
        return resp;
    }
    let h = resp.headers_mut();
    match headers.get(ORIGIN) {
        Some(origin) => {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        None => {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    h.insert(VARY, HeaderValue::from_static("Origin"));
    if kind == RequestKind::Preflight {
        if let Some(m) = headers.get(ACCESS_CONTROL_REQUEST_METHOD) {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, m.clone());
        }
        if let Some(rh) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, rh.clone());
        }
    }
    resp
}

/// Text escaped for HTML as it is formatted: runs without a special character are written
/// whole, so a block page costs no string per field and no push per character.
struct HtmlEscaped<'a>(&'a str);

impl std::fmt::Display for HtmlEscaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['<', '>', '&', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'&' => "&amp;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Fault;

    #[test]
    fn classifies_requests() {
        let mut h = HeaderMap::new();
        assert_eq!(RequestKind::of(&Method::GET, &h), RequestKind::Navigation);
        h.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        assert_eq!(RequestKind::of(&Method::GET, &h), RequestKind::Navigation);
        h.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        assert_eq!(RequestKind::of(&Method::GET, &h), RequestKind::Script);
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_static("application/JSON"));
        assert_eq!(RequestKind::of(&Method::GET, &h), RequestKind::Script);
        h.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("PUT"),
        );
        assert_eq!(
            RequestKind::of(&Method::OPTIONS, &h),
            RequestKind::Preflight
        );
    }

    #[test]
    fn block_page_escapes_and_script_block_echoes_origin() {
        let page = blocked(
            RequestKind::Navigation,
            &HeaderMap::new(),
            "a<b",
            "games",
            "x&y",
        );
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        let mut h = HeaderMap::new();
        h.insert(ORIGIN, HeaderValue::from_static("http://app.example"));
        let json = blocked(RequestKind::Script, &h, "a", "games", "a");
        assert_eq!(
            json.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://app.example"
        );
        assert_eq!(json.headers()[VARY], "Origin");
    }

    #[test]
    fn html_escaping_covers_every_special_character() {
        let cases = [
            ("plain.example", "plain.example"),
            ("a<b", "a&lt;b"),
            (
                "<script>\"x\"&'y'</script>",
                "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;",
            ),
            ("&&", "&amp;&amp;"),
            ("", ""),
            ("é<ü", "é&lt;ü"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(HtmlEscaped(raw).to_string(), escaped, "{raw}");
        }
    }

    #[test]
    fn statuses_by_error() {
        assert_eq!(
            ProxyError::PoolExhausted.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(ProxyError::PoolExhausted
            .response()
            .headers()
            .contains_key(RETRY_AFTER));
        assert_eq!(
            ProxyError::ResponseTimeout.status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(ProxyError::OriginForm.fault(), Fault::Downstream);
    }
}
