//! The one HTTP call the judge makes: a GET over plain HTTP/1.0, body read to the end.
//!
//! The judge reads `/metrics` endpoints and a Prometheus API, both inside one network;
//! a std socket with deadlines is all it needs, and it keeps the report tool free of an
//! async runtime. HTTP/1.0 makes the server close the connection after the body and send
//! it unchunked. TLS is not supported: put the judge where it can reach them in the clear.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::error::CanaryError;

/// Connect, read and write deadline of one request.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body accepted (a proxy's `/metrics` is a few KiB; a range query a few MiB).
const MAX_BODY: u64 = 64 << 20;

/// A parsed `http://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// `host:port` (port 80 when omitted).
    pub authority: String,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl HttpUrl {
    /// Parses `url`; only `http://` is accepted.
    pub fn parse(url: &str) -> Result<Self, CanaryError> {
        let bad = |message: &str| CanaryError::Url {
            url: url.to_string(),
            message: message.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// URLs are supported"))?;
        let (authority, target) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let authority = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            authority,
            target: target.to_string(),
        })
    }

    /// The same server with another path and query.
    pub fn with_target(&self, target: String) -> Self {
        Self {
            authority: self.authority.clone(),
            target,
        }
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority, self.target)
    }
}

/// GETs `url` and returns the body of a 200 answer.
pub fn get(url: &HttpUrl) -> Result<String, CanaryError> {
    let fail = |message: String| CanaryError::Fetch {
        url: url.to_string(),
        message,
    };
    let addr = url
        .authority
        .to_socket_addrs()
        .map_err(|e| fail(format!("resolve: {e}")))?
        .next()
        .ok_or_else(|| fail("resolves to no address".into()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| fail(format!("connect: {e}")))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| fail(format!("socket: {e}")))?;
    let head = format!(
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: perf-report-canary\r\n\r\n",
        url.target, url.authority
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| fail(format!("write: {e}")))?;
    let mut raw = Vec::new();
    stream
        .take(MAX_BODY)
        .read_to_end(&mut raw)
        .map_err(|e| fail(format!("read: {e}")))?;
    let text = String::from_utf8(raw).map_err(|_| fail("answer is not UTF-8".into()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| fail("no complete response head".into()))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(fail(format!("answered {status:?}: {}", snippet(body))));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(fail("chunked answer to an HTTP/1.0 request".into()));
    }
    Ok(body.to_string())
}

fn snippet(body: &str) -> &str {
    let end = body.char_indices().nth(200).map_or(body.len(), |(i, _)| i);
    &body[..end]
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = HttpUrl::parse("http://127.0.0.1:9090/metrics").unwrap();
        assert_eq!(u.authority, "127.0.0.1:9090");
        assert_eq!(u.target, "/metrics");
        let u = HttpUrl::parse("http://prom").unwrap();
        assert_eq!((u.authority.as_str(), u.target.as_str()), ("prom:80", "/"));
        assert!(HttpUrl::parse("https://prom/").is_err());
        assert!(HttpUrl::parse("http:///x").is_err());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            encode_query_value(r#"sum(x{a="b"})"#),
            "sum%28x%7Ba%3D%22b%22%7D%29"
        );
    }
}
