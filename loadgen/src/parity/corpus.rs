//! The replay corpus: one request per entry, each recording the variation that produced
//! it, so that a mismatch is attributed to a cause from how the URL was made rather than
//! guessed from the URL afterwards.
//!
//! File format (`corpus.tsv`), one entry per line, tab-separated:
//! `<class> <TAB> <GET|CONNECT> <TAB> <target> <TAB> <rule> <TAB> <detail>`, where the
//! target is an absolute `http://` URL for GET and `host:port` for CONNECT, `rule` the
//! database rule the entry was derived from (`-` for none) and `detail` the exact
//! variation (`double-slash`, `encoded-slash`, ...). `#` starts a comment line.
//!
//! A user-supplied list is plain URLs, one per line (`https://` ones become CONNECTs);
//! its entries are of class `user`.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::error::ParityError;

/// First line of a corpus file, naming the format.
pub const HEADER: &str = "# loadgen parity corpus v1: class\tmethod\ttarget\trule\tdetail";

/// The cause class of an entry: the variation applied to a database rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// A rule's domain or path exactly as written (hits), or an unlisted host (misses).
    Exact,
    /// A subdomain of a listed domain, or a host that only ends with its text (`xdomain`).
    ParentDomain,
    /// The host with a trailing dot (`example.test.`).
    TrailingDot,
    /// Upper-case letters in the host or the path.
    Case,
    /// Percent-encoded path bytes: unreserved letters (`%61`) or a slash (`%2F`).
    PercentEncoding,
    /// Path spellings that normalise to the rule: `//`, `/./`, `/x/../`.
    PathNormalisation,
    /// Characters right after a path prefix: `/blahfoo`, `/blah=`, `/blah&`, `/blah?`.
    PathBoundary,
    /// Internationalised names in punycode (look-alikes of listed domains).
    Idn,
    /// Numeric hosts: dotted, decimal, hex, octal, short and IPv6 forms of loopback.
    IpLiteral,
    /// An explicit port in the URL or the CONNECT target.
    Port,
    /// An entry from a user-supplied URL list.
    User,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 11] = [
        Class::Exact,
        Class::ParentDomain,
        Class::TrailingDot,
        Class::Case,
        Class::PercentEncoding,
        Class::PathNormalisation,
        Class::PathBoundary,
        Class::Idn,
        Class::IpLiteral,
        Class::Port,
        Class::User,
    ];

    /// The name used in files, reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Class::Exact => "exact",
            Class::ParentDomain => "parent-domain",
            Class::TrailingDot => "trailing-dot",
            Class::Case => "case",
            Class::PercentEncoding => "percent-encoding",
            Class::PathNormalisation => "path-normalisation",
            Class::PathBoundary => "path-boundary",
            Class::Idn => "idn",
            Class::IpLiteral => "ip-literal",
            Class::Port => "port",
            Class::User => "user",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Class::ALL.iter().map(|c| c.name()).collect();
                format!("unknown class {s:?} (one of {})", names.join(", "))
            })
    }
}

/// How the entry is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// An absolute-form `GET http://...`.
    Get,
    /// `CONNECT host:port` (an HTTPS entry).
    Connect,
}

impl Method {
    /// The request method's name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Connect => "CONNECT",
        }
    }
}

/// One request of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The variation that made it.
    pub class: Class,
    /// GET or CONNECT.
    pub method: Method,
    /// `http://host[:port]/path` for GET, `host:port` for CONNECT; sent byte for byte.
    pub target: String,
    /// The database rule it was derived from (`-` for none).
    pub rule: String,
    /// The exact variation, e.g. `double-slash` or `subdomain`.
    pub detail: String,
}

impl Entry {
    /// One corpus line (without the newline).
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.class,
            self.method.name(),
            self.target,
            self.rule,
            self.detail
        )
    }

    /// The host of the target, as written (brackets kept for IPv6).
    pub fn host(&self) -> &str {
        let rest = self.target.strip_prefix("http://").unwrap_or(&self.target);
        let authority = rest.split('/').next().unwrap_or(rest);
        match authority.rfind(':') {
            Some(colon) if !authority[colon..].contains(']') => &authority[..colon],
            _ => authority,
        }
    }
}

/// Checks a target is one this tool may send: loopback-safe syntax, no spaces or control
/// characters, `http://` for GET and `host:port` for CONNECT.
fn check_target(method: Method, target: &str) -> Result<(), String> {
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(format!(
            "target {target:?} is empty or has spaces/control bytes"
        ));
    }
    match method {
        Method::Get => {
            let rest = target
                .strip_prefix("http://")
                .ok_or_else(|| format!("GET target {target:?} is not an http:// URL"))?;
            if rest.starts_with('/') || rest.is_empty() {
                return Err(format!("GET target {target:?} has no host"));
            }
        }
        Method::Connect => {
            let port = target
                .rsplit_once(':')
                .map(|(_, p)| p)
                .ok_or_else(|| format!("CONNECT target {target:?} is not host:port"))?;
            port.parse::<u16>()
                .map_err(|_| format!("CONNECT target {target:?} has no valid port"))?;
        }
    }
    target
        .parse::<http::Uri>()
        .map_err(|e| format!("target {target:?} is not a valid request target: {e}"))?;
    Ok(())
}

/// Parses corpus text; `origin` names the source in errors. Lines that are bare URLs
/// (no tab) are user entries.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Entry>, ParityError> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(entry) => entries.push(entry),
            Err(message) => errors.push(format!("{origin}:{}: {message}", index + 1)),
        }
    }
    if !errors.is_empty() {
        return Err(ParityError::Corpus(errors.join("\n")));
    }
    if entries.is_empty() {
        return Err(ParityError::Corpus(format!("{origin}: no entries")));
    }
    Ok(entries)
}

fn parse_line(line: &str) -> Result<Entry, String> {
    if !line.contains('\t') {
        return user_entry(line.trim());
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let [class, method, target, rule, detail] = fields[..] else {
        return Err(format!(
            "expected 5 tab-separated fields (class, method, target, rule, detail), found {}",
            fields.len()
        ));
    };
    let class: Class = class.parse()?;
    let method = match method {
        "GET" => Method::Get,
        "CONNECT" => Method::Connect,
        other => return Err(format!("method {other:?} is neither GET nor CONNECT")),
    };
    check_target(method, target)?;
    Ok(Entry {
        class,
        method,
        target: target.to_owned(),
        rule: rule.to_owned(),
        detail: detail.to_owned(),
    })
}

/// A bare URL of a user list: `http://...` is a GET, `https://host[:port]/...` a CONNECT.
fn user_entry(url: &str) -> Result<Entry, String> {
    let (method, target) = if let Some(rest) = url.strip_prefix("https://") {
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let target = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:443")
        };
        (Method::Connect, target)
    } else if url.starts_with("http://") {
        (Method::Get, url.to_owned())
    } else {
        return Err(format!("{url:?} is not an http:// or https:// URL"));
    };
    check_target(method, &target)?;
    Ok(Entry {
        class: Class::User,
        method,
        target,
        rule: "-".into(),
        detail: "user-list".into(),
    })
}

/// Reads a corpus (or user URL list) file.
pub fn load(path: &Path) -> Result<Vec<Entry>, ParityError> {
    let text = std::fs::read_to_string(path).map_err(|source| ParityError::Io {
        what: format!("read corpus {}", path.display()),
        cause: source,
    })?;
    parse(&text, &path.display().to_string())
}

/// The corpus as file text (header first).
pub fn render(entries: &[Entry]) -> String {
    let mut out = String::with_capacity(entries.len() * 64 + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for e in entries {
        out.push_str(&e.line());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_user_urls_become_entries() {
        let text = format!(
            "{HEADER}\npath-boundary\tGET\thttp://a.test/gamingfoo\ta.test/gaming\tsuffix-letters\n\
             port\tCONNECT\ta.test:8443\ta.test\tconnect-port\n\
             http://b.test/x?y=1\nhttps://c.test/login\nhttps://[::1]:9443/\n"
        );
        let entries = parse(&text, "t").unwrap();
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0].class, Class::PathBoundary);
        assert_eq!(entries[1].method, Method::Connect);
        assert_eq!(entries[2].class, Class::User);
        assert_eq!(entries[3].target, "c.test:443");
        assert_eq!(entries[3].method, Method::Connect);
        assert_eq!(entries[4].target, "[::1]:9443");
        let again = parse(&render(&entries), "t2").unwrap();
        assert_eq!(again, entries);
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "ftp://x.test/\nexact\tGET\thttp://a.test/\t-\n\
                    nope\tGET\thttp://a.test/\t-\t-\nexact\tPUT\thttp://a.test/\t-\t-\n\
                    exact\tCONNECT\ta.test\t-\t-\nexact\tGET\thttp://a b/\t-\t-\n";
        let err = parse(text, "c.tsv").unwrap_err().to_string();
        for line in 1..=6 {
            assert!(
                err.contains(&format!("c.tsv:{line}:")),
                "line {line}: {err}"
            );
        }
        assert!(err.contains("unknown class \"nope\""), "{err}");
        assert!(parse("# only a comment\n", "e").is_err());
    }

    #[test]
    fn host_is_read_from_urls_and_connect_targets() {
        let e = |method, target: &str| Entry {
            class: Class::Exact,
            method,
            target: target.into(),
            rule: "-".into(),
            detail: "-".into(),
        };
        assert_eq!(e(Method::Get, "http://A.test.:8080/x").host(), "A.test.");
        assert_eq!(e(Method::Get, "http://[::1]/x").host(), "[::1]");
        assert_eq!(e(Method::Connect, "[::1]:443").host(), "[::1]");
        assert_eq!(e(Method::Connect, "a.test:443").host(), "a.test");
    }
}
