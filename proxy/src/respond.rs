//! Every response the proxy generates itself, in one place: error -> status code (and
//! whose fault it was), and block responses shaped for the kind of request that was
//! blocked (page navigation, XHR/fetch, CORS preflight).

use http::header::{
    ACCEPT, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, ORIGIN, RETRY_AFTER,
    VARY,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use crate::body::ProxyBody;
use crate::filter::CategoryDb;
use crate::metrics::{ClientErrorKind, UpstreamErrorKind};
use crate::policy::BlockReason;

/// Whose fault a failed request was; logged, and used to pick the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The client sent something the proxy refuses.
    Downstream,
    /// The origin (or the path to it) failed.
    Upstream,
    /// The proxy itself (capacity, bug).
    Ours,
}

/// Every way a request can fail inside the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Malformed or unsupported request.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Ambiguous message framing (request smuggling risk); the connection is closed.
    #[error("ambiguous framing: {0}")]
    Framing(&'static str),
    /// An origin-form request: the client talked to the proxy as if it were the origin.
    #[error("origin-form request to the proxy")]
    OriginForm,
    /// The request already passed through this proxy (its `Via` names us): a forwarding loop.
    #[error("forwarding loop: the request already passed through this proxy")]
    Loop,
    /// Upstream name resolution failed.
    #[error("cannot resolve {host}: {detail}")]
    Resolve {
        /// The host.
        host: String,
        /// Resolver message.
        detail: String,
    },
    /// Upstream TCP connect failed.
    #[error("cannot connect upstream: {0}")]
    Connect(std::io::Error),
    /// Upstream TCP connect timed out.
    #[error("upstream connect timed out")]
    ConnectTimeout,
    /// The origin sent no response head in time.
    #[error("upstream response timed out")]
    ResponseTimeout,
    /// The origin broke the exchange.
    #[error("upstream failed: {0}")]
    Protocol(hyper::Error),
    /// The client's request body broke off or was malformed (bad chunked encoding, a
    /// body shorter than its length) while it was being forwarded: the client's fault.
    #[error("request body: {0}")]
    ClientBody(hyper::Error),
    /// No upstream connection became free within the acquire timeout.
    #[error("upstream connection pool exhausted")]
    PoolExhausted,
    /// The policy store cannot answer and fails closed: nothing is forwarded unfiltered.
    #[error("filtering is temporarily unavailable; try again shortly")]
    FilteringUnavailable,
}

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
        }
    }

    /// Whose fault it was.
    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::BadRequest(_)
            | ProxyError::Framing(_)
            | ProxyError::OriginForm
            | ProxyError::ClientBody(_)
            | ProxyError::Loop => Fault::Downstream,
            ProxyError::PoolExhausted | ProxyError::FilteringUnavailable => Fault::Ours,
            _ => Fault::Upstream,
        }
    }

    /// The upstream error kind for metrics, when the origin side failed.
    pub fn upstream_kind(&self) -> Option<UpstreamErrorKind> {
        Some(match self {
            ProxyError::Resolve { .. } => UpstreamErrorKind::Resolve,
            ProxyError::Connect(_) => UpstreamErrorKind::Connect,
            ProxyError::ConnectTimeout => UpstreamErrorKind::ConnectTimeout,
            ProxyError::ResponseTimeout => UpstreamErrorKind::ResponseTimeout,
            ProxyError::Protocol(_) => UpstreamErrorKind::Protocol,
            ProxyError::PoolExhausted => UpstreamErrorKind::PoolExhausted,
            _ => return None,
        })
    }

    /// The client error kind for metrics, when the client was at fault.
    pub fn client_kind(&self) -> Option<ClientErrorKind> {
        Some(match self {
            ProxyError::BadRequest(_) => ClientErrorKind::BadRequest,
            ProxyError::Framing(_) => ClientErrorKind::Framing,
            ProxyError::OriginForm => ClientErrorKind::OriginForm,
            ProxyError::Loop => ClientErrorKind::Loop,
            ProxyError::ClientBody(_) => ClientErrorKind::Body,
            _ => return None,
        })
    }

    /// A short stable name of this error's kind, for logs.
    pub fn label(&self) -> &'static str {
        match (self.client_kind(), self.upstream_kind()) {
            (Some(kind), _) => kind.label(),
            (_, Some(kind)) => kind.label(),
            _ => "filtering_unavailable",
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
    /// A CORS preflight: gets a readable 403 with the CORS answer headers.
    Preflight,
}

impl RequestKind {
    /// Classifies a request from its method and headers.
    pub fn of(method: &Method, headers: &HeaderMap) -> Self {
        if method == Method::OPTIONS && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return RequestKind::Preflight;
        }
        let fetch_mode_not_navigate = headers
            .get("sec-fetch-mode")
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
                html_escape(host),
                html_escape(category),
                html_escape(rule)
            );
            text_response(StatusCode::FORBIDDEN, "text/html; charset=utf-8", page)
        }
        RequestKind::Script | RequestKind::Preflight => {
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

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
