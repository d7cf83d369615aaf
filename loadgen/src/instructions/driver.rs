//! The request sequence of the instruction pass: fixed, sequential, checked.
//!
//! Why fixed and sequential: the count is only comparable between two builds when both
//! serve exactly the same requests the same way. The sequence is a pure function of the
//! profile's corpus (itself seeded), it cycles through the request kinds school traffic
//! exercises on the proxy's request path, over the [`HOSTS`] most popular entries of
//! each list (as a school's traffic concentrates on a few sites, and so the upstream
//! pool is in the same state on every run), and it is sent over a few keep-alive
//! connections taking turns, one request in flight at a time, so no run batches more
//! work per wake-up than another. Every answer is checked: a count of error pages would
//! describe the wrong path.
//!
//! Not included: CONNECT tunnels (after the first bytes they are spliced in the kernel,
//! which callgrind does not count), pages over [`MAX_BODY`] and multi-megabyte downloads.
//! A large body arrives in as many reads as the timing of the moment makes it, so its
//! instruction count varies from run to run; its cost is copying, which the load run's
//! bytes and CPU figures measure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::corpus::{Addressing, Corpus};
use crate::mix::Mix;
use crate::profile::Profile;
use crate::rig::RigError;
use crate::roster::Roster;

/// Keep-alive connections the sequence takes turns on.
pub const CONNECTIONS: usize = 4;

/// Largest page body in the sequence (one or two reads on every run).
pub const MAX_BODY: u64 = 32 * 1024;

/// Most distinct entries of each corpus list the sequence visits: the most popular (the
/// lists are in popularity order). Few enough that every upstream connection is reused
/// within seconds, so the proxy's pool holds the same connections on every run; with
/// thousands of hosts, how many idle connections the origin had closed by the time one
/// was wanted depended on how fast the run went, and moved the count by a few percent.
pub const HOSTS: usize = 64;

/// Longest one request may take (the proxy runs tens of times slower under callgrind).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The page origin of cross-origin requests.
const PAGE_ORIGIN: &str = "http://classroom.school.example";

/// What a request of the sequence exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An allowed page, forwarded (the corpus's body sizes).
    Allowed,
    /// A blocked page: categorisation, policy, the HTML block page.
    Blocked,
    /// A CORS preflight to an allowed site, forwarded.
    Preflight,
    /// A cross-origin XHR to a blocked site: the JSON 403 with CORS headers.
    BlockedXhr,
    /// The origin's header echo: identity headers injected upstream.
    Identity,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Allowed => "allowed",
            Kind::Blocked => "blocked",
            Kind::Preflight => "preflight",
            Kind::BlockedXhr => "blocked_xhr",
            Kind::Identity => "identity",
        }
    }
}

/// One cycle of ten requests: six allowed pages and one of each other kind.
const CYCLE: [Kind; 10] = [
    Kind::Allowed,
    Kind::Blocked,
    Kind::Allowed,
    Kind::Preflight,
    Kind::Allowed,
    Kind::Identity,
    Kind::Allowed,
    Kind::BlockedXhr,
    Kind::Allowed,
    Kind::Allowed,
];

/// One request of the sequence, prepared.
#[derive(Debug, Clone)]
struct Step {
    kind: Kind,
    method: Method,
    uri: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    /// Expected body length (allowed pages).
    size: Option<u64>,
}

/// The whole sequence.
#[derive(Debug, Clone)]
pub struct Plan {
    steps: Vec<Step>,
}

fn setup(detail: String) -> RigError {
    RigError::Config {
        detail: format!("instruction pass: {detail}"),
    }
}

impl Plan {
    /// The first `len` requests of the sequence for the profile at `path`.
    pub fn from_profile(path: &Path, len: u64) -> Result<Plan, RigError> {
        let profile = Profile::load(path).map_err(|e| setup(e.to_string()))?;
        let mix = Mix::load(&profile.scenario_mix).map_err(|e| setup(e.to_string()))?;
        let mut corpus =
            Corpus::build(&mix, Addressing::Proxy).map_err(|e| setup(e.to_string()))?;
        corpus.allowed.retain(|u| u.size <= MAX_BODY);
        if corpus.allowed.is_empty() {
            return Err(setup(format!(
                "the corpus has no allowed page of at most {MAX_BODY} bytes"
            )));
        }
        let roster =
            Roster::load(&mix.roster, mix.roster_seed).map_err(|e| setup(e.to_string()))?;
        Plan::build(&corpus, &roster, len)
    }

    fn build(corpus: &Corpus, roster: &Roster, len: u64) -> Result<Plan, RigError> {
        let mut steps = Vec::with_capacity(len as usize);
        for i in 0..len as usize {
            let kind = CYCLE[i % CYCLE.len()];
            // Co-prime strides walk each list without repeating a short pattern.
            let pick = |n: usize| (i.wrapping_mul(7919)) % n.clamp(1, HOSTS);
            let (method, url, size) = match kind {
                Kind::Allowed => {
                    let u = &corpus.allowed[pick(corpus.allowed.len())];
                    (Method::GET, u.url.as_str(), Some(u.size))
                }
                Kind::Blocked => (
                    Method::GET,
                    corpus.blocked[pick(corpus.blocked.len())].as_str(),
                    None,
                ),
                Kind::Preflight => (
                    Method::OPTIONS,
                    corpus.cors_allowed[pick(corpus.cors_allowed.len())].as_str(),
                    None,
                ),
                Kind::BlockedXhr => (
                    Method::GET,
                    corpus.cors_blocked[pick(corpus.cors_blocked.len())].as_str(),
                    None,
                ),
                Kind::Identity => (
                    Method::GET,
                    corpus.identity[pick(corpus.identity.len())].as_str(),
                    None,
                ),
            };
            let uri: Uri = url
                .parse()
                .map_err(|e| setup(format!("corpus URL {url}: {e}")))?;
            let host = uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .ok_or_else(|| setup(format!("corpus URL {url} has no host")))?;
            let user = roster.get(i % roster.len().max(1));
            steps.push(Step {
                kind,
                method,
                uri,
                host,
                auth: user.proxy_authorization.clone(),
                size,
            });
        }
        Ok(Plan { steps })
    }

    /// Requests by kind in `range`.
    pub fn kind_counts(&self, range: Range<u64>) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for s in &self.steps[range.start as usize..range.end as usize] {
            *counts.entry(s.kind.name().to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

/// What sending part of the sequence found.
#[derive(Debug, Default)]
pub struct Sent {
    /// Answers that were not the expected one.
    pub unexpected: u64,
    /// The first of them, described.
    pub first_problem: Option<String>,
}

/// Sends `range` of the plan to the proxy at `proxy`, one request at a time, over
/// [`CONNECTIONS`] keep-alive connections taking turns.
pub async fn send(proxy: SocketAddr, plan: &Plan, range: Range<u64>) -> Result<Sent, RigError> {
    let mut conns: Vec<Option<SendRequest<Empty<Bytes>>>> =
        (0..CONNECTIONS).map(|_| None).collect();
    let mut sent = Sent::default();
    for i in range {
        let step = &plan.steps[i as usize];
        let slot = &mut conns[i as usize % CONNECTIONS];
        let problem = match tokio::time::timeout(REQUEST_TIMEOUT, exchange(proxy, slot, step)).await
        {
            Ok(Ok(())) => None,
            Ok(Err(p)) => Some(p),
            Err(_) => Some(format!("no answer in {} s", REQUEST_TIMEOUT.as_secs())),
        };
        if let Some(p) = problem {
            *slot = None;
            sent.unexpected += 1;
            sent.first_problem.get_or_insert_with(|| {
                format!("{} {} {}: {p}", step.kind.name(), step.method, step.uri)
            });
        }
    }
    Ok(sent)
}

async fn exchange(
    proxy: SocketAddr,
    slot: &mut Option<SendRequest<Empty<Bytes>>>,
    step: &Step,
) -> Result<(), String> {
    let ready = match slot.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        let stream = tokio::net::TcpStream::connect(proxy)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        *slot = Some(send);
    }
    let conn = slot.as_mut().expect("connected above");
    let mut req = Request::new(Empty::<Bytes>::new());
    *req.method_mut() = step.method.clone();
    *req.uri_mut() = step.uri.clone();
    let h = req.headers_mut();
    h.insert(header::HOST, step.host.clone());
    h.insert(header::PROXY_AUTHORIZATION, step.auth.clone());
    match step.kind {
        Kind::Preflight => {
            h.insert(header::ORIGIN, HeaderValue::from_static(PAGE_ORIGIN));
            h.insert(
                header::ACCESS_CONTROL_REQUEST_METHOD,
                HeaderValue::from_static("POST"),
            );
        }
        Kind::BlockedXhr => {
            h.insert(header::ORIGIN, HeaderValue::from_static(PAGE_ORIGIN));
            h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
            h.insert("sec-fetch-mode", HeaderValue::from_static("cors"));
        }
        Kind::Blocked => {
            h.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
            h.insert("sec-fetch-mode", HeaderValue::from_static("navigate"));
        }
        Kind::Allowed | Kind::Identity => {}
    }
    let resp = conn
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    let ok = match step.kind {
        Kind::Allowed => status == StatusCode::OK && step.size == Some(body.len() as u64),
        Kind::Identity => status == StatusCode::OK,
        Kind::Preflight => status.is_success(),
        Kind::Blocked | Kind::BlockedXhr => status == StatusCode::FORBIDDEN,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("status {status}, {} body bytes", body.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/ci.toml")
    }

    #[test]
    fn the_sequence_is_the_same_every_time_and_covers_every_kind() {
        let a = Plan::from_profile(&profile(), 200).expect("plan");
        let b = Plan::from_profile(&profile(), 200).expect("plan");
        let urls = |p: &Plan| {
            p.steps
                .iter()
                .map(|s| s.uri.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(urls(&a), urls(&b));
        let counts = a.kind_counts(0..200);
        assert_eq!(counts.get("allowed"), Some(&120));
        for kind in ["blocked", "preflight", "blocked_xhr", "identity"] {
            assert_eq!(counts.get(kind), Some(&20), "{kind}");
        }
        assert!(a.steps.iter().all(|s| s.size.is_none_or(|n| n <= MAX_BODY)));
        // Walks the most popular pages rather than repeating one, and no more than
        // HOSTS of each list.
        let distinct: std::collections::BTreeSet<_> = urls(&a).into_iter().collect();
        assert!(
            distinct.len() > 100 && distinct.len() <= 5 * HOSTS,
            "{} distinct URLs",
            distinct.len()
        );
    }
}
