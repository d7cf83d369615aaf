//! The request sequence of the instruction pass: fixed, sequential, checked, one phase
//! per request class of the mix.
//!
//! Why fixed and sequential: the count is only comparable between two builds when both
//! serve exactly the same requests the same way. The sequence is a pure function of the
//! profile's corpus (itself seeded) and its scenario mix. It has one phase per request
//! class the mix runs (allowed, blocked, tunnel, cors, identity, download), so the pass can
//! zero the counters before a phase and dump them after it and report each class's
//! instructions exactly, not apportioned. Each phase walks the [`HOSTS`] most popular
//! entries of its list (as a school's traffic concentrates on a few sites, and so the
//! upstream pool is in the same state on every run), over a few keep-alive connections
//! taking turns, one request in flight at a time, so no run batches more work per
//! wake-up than another. Every answer is checked: a count of error pages would describe
//! the wrong path.
//!
//! What each class sends: `allowed` pages of at most [`MAX_BODY`]; `blocked` pages (the
//! HTML block page); `cors` preflights to allowed sites and cross-origin XHR to blocked
//! ones (the JSON 403), taking turns; `identity` the origin's header echo; `tunnel` a
//! CONNECT, a TLS handshake through it to the test origin (which the proxy peeks for the
//! SNI) and one HTTPS page of at most [`MAX_BODY`] spliced back, on a fresh connection
//! each; `download` the mix's smallest streamed (chunked) download.
//!
//! How many of each: the class's share of the mix, at least [`MIN_PER_CLASS`], and at
//! most [`MAX_DOWNLOADS`] downloads (each moves megabytes through a proxy running tens of
//! times slower under callgrind). The counts do not weight the headline figure: the pass
//! weights each class's instructions per request by the mix (see `super`).
//!
//! Bodies stay small except the downloads: a large body arrives in as many reads as the
//! timing of the moment makes it, so its instruction count moves a little from run to
//! run; the download class carries that noise alone, instead of spreading it over every
//! class.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

use crate::corpus::{Addressing, Corpus};
use crate::mix::Mix;
use crate::profile::{PolicyStore, Profile};
use crate::record::Class;
use crate::rig::RigError;
use crate::roster::Roster;

/// Keep-alive connections the plain-HTTP phases take turns on.
pub const CONNECTIONS: usize = 4;

/// Largest page body in the sequence, downloads aside (one or two reads on every run).
pub const MAX_BODY: u64 = 32 * 1024;

/// Most distinct entries of each corpus list the sequence visits: the most popular (the
/// lists are in popularity order). Few enough that every upstream connection is reused
/// within seconds, so the proxy's pool holds the same connections on every run; with
/// thousands of hosts, how many idle connections the origin had closed by the time one
/// was wanted depended on how fast the run went, and moved the count by a few percent.
pub const HOSTS: usize = 64;

/// Fewest requests a class of the mix gets, however small its share: a per-class figure
/// from two requests would move with any one-off (a lazy initialisation, a reconnect).
pub const MIN_PER_CLASS: u64 = 5;

/// Most downloads counted (and warmed up): each streams megabytes.
pub const MAX_DOWNLOADS: u64 = 10;

/// Longest one request may take (the proxy runs tens of times slower under callgrind).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The page origin of cross-origin requests.
const PAGE_ORIGIN: &str = "http://classroom.school.example";

/// Longest a CONNECT answer's head may be.
const CONNECT_HEAD_MAX: usize = 4096;

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
    /// CONNECT, TLS through the tunnel, one HTTPS page.
    Tunnel,
    /// A large streamed (chunked) download.
    Download,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Allowed => "allowed",
            Kind::Blocked => "blocked",
            Kind::Preflight => "preflight",
            Kind::BlockedXhr => "blocked_xhr",
            Kind::Identity => "identity",
            Kind::Tunnel => "tunnel",
            Kind::Download => "download",
        }
    }

    /// The kinds a class's phase cycles through.
    fn cycle(class: Class) -> &'static [Kind] {
        match class {
            Class::Allowed => &[Kind::Allowed],
            Class::Blocked => &[Kind::Blocked],
            Class::Tunnel => &[Kind::Tunnel],
            Class::Cors => &[Kind::Preflight, Kind::BlockedXhr],
            Class::Identity => &[Kind::Identity],
            Class::Download => &[Kind::Download],
        }
    }
}

/// The request class a scenario of the mix records its requests under.
pub fn scenario_class(scenario: &str) -> Option<Class> {
    Some(match scenario {
        "browse_allowed" => Class::Allowed,
        "browse_blocked" => Class::Blocked,
        "https_tunnel" => Class::Tunnel,
        "cors_xhr" => Class::Cors,
        "identity_check" => Class::Identity,
        "large_download" => Class::Download,
        _ => return None,
    })
}

/// One request of the sequence, prepared.
#[derive(Debug, Clone)]
struct Step {
    kind: Kind,
    method: Method,
    uri: Uri,
    host: HeaderValue,
    auth: HeaderValue,
    /// Expected body length (allowed pages, tunnelled pages, downloads).
    size: Option<u64>,
}

/// One class's part of the sequence.
#[derive(Debug, Clone)]
pub struct Phase {
    /// The request class.
    pub class: Class,
    /// The class's weight in the scenario mix.
    pub weight: u64,
    warmup: Vec<Step>,
    counted: Vec<Step>,
}

impl Phase {
    /// Requests counted in this phase.
    pub fn counted(&self) -> u64 {
        self.counted.len() as u64
    }

    /// Requests of the warm-up in this phase.
    pub fn warmup(&self) -> u64 {
        self.warmup.len() as u64
    }

    /// Counted requests by kind.
    pub fn kind_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for s in &self.counted {
            *counts.entry(s.kind.name().to_owned()).or_insert(0) += 1;
        }
        counts
    }
}

/// The whole sequence: one phase per class of the mix, in [`Class::ALL`] order.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The phases.
    pub phases: Vec<Phase>,
    /// Where the proxy keeps its policy (the pass's proxy uses the run's).
    pub store: PolicyStore,
}

fn setup(detail: String) -> RigError {
    RigError::Config {
        detail: format!("instruction pass: {detail}"),
    }
}

/// Requests of each class for `total` requests over the mix's class `weights`: the
/// class's share, at least [`MIN_PER_CLASS`], downloads at most [`MAX_DOWNLOADS`]. Classes
/// of weight 0 get none.
pub fn allocate(total: u64, weights: &BTreeMap<Class, u64>) -> BTreeMap<Class, u64> {
    let sum: u64 = weights.values().sum();
    weights
        .iter()
        .filter(|(_, w)| **w > 0)
        .map(|(class, w)| {
            let share = (total as f64 * *w as f64 / sum.max(1) as f64).round() as u64;
            let n = share.max(MIN_PER_CLASS);
            let n = if *class == Class::Download {
                n.min(MAX_DOWNLOADS)
            } else {
                n
            };
            (*class, n)
        })
        .collect()
}

impl Plan {
    /// The sequence for the profile at `path`: `warmup` and `requests` split over the
    /// mix's classes by [`allocate`].
    pub fn from_profile(path: &Path, warmup: u64, requests: u64) -> Result<Plan, RigError> {
        let profile = Profile::load(path).map_err(|e| setup(e.to_string()))?;
        let mix = Mix::load(&profile.scenario_mix).map_err(|e| setup(e.to_string()))?;
        let mut corpus =
            Corpus::build(&mix, Addressing::Proxy).map_err(|e| setup(e.to_string()))?;
        corpus.allowed.retain(|u| u.size <= MAX_BODY);
        corpus.allowed_https.retain(|u| u.size <= MAX_BODY);
        if let Some(smallest) = corpus.downloads.iter().map(|d| d.size).min() {
            corpus.downloads.retain(|d| d.size == smallest);
        }
        let mut weights = BTreeMap::new();
        for (scenario, w) in &mix.weights {
            let class = scenario_class(scenario)
                .ok_or_else(|| setup(format!("scenario `{scenario}` has no request class")))?;
            *weights.entry(class).or_insert(0) += *w;
        }
        let roster =
            Roster::load(&mix.roster, mix.roster_seed).map_err(|e| setup(e.to_string()))?;
        let warm = allocate(warmup, &weights);
        let counted = allocate(requests, &weights);
        let mut phases = Vec::new();
        for class in Class::ALL {
            let (Some(w), Some(n)) = (warm.get(&class), counted.get(&class)) else {
                continue;
            };
            let mut steps = steps(&corpus, &roster, class, w + n)?;
            let counted = steps.split_off(*w as usize);
            phases.push(Phase {
                class,
                weight: weights[&class],
                warmup: steps,
                counted,
            });
        }
        Ok(Plan {
            phases,
            store: profile.policy_store,
        })
    }

    /// Counted requests by kind, all phases.
    pub fn kind_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for p in &self.phases {
            for (k, n) in p.kind_counts() {
                *counts.entry(k).or_insert(0) += n;
            }
        }
        counts
    }
}

/// The first `len` requests of a class's phase.
fn steps(corpus: &Corpus, roster: &Roster, class: Class, len: u64) -> Result<Vec<Step>, RigError> {
    let cycle = Kind::cycle(class);
    let mut steps = Vec::with_capacity(len as usize);
    for i in 0..len as usize {
        let kind = cycle[i % cycle.len()];
        // Co-prime strides walk each list without repeating a short pattern.
        let pick = |n: usize| (i.wrapping_mul(7919)) % n.clamp(1, HOSTS);
        let sized = |list: &[crate::corpus::SizedUrl], what: &str| {
            if list.is_empty() {
                return Err(setup(format!("the corpus has no {what}")));
            }
            let u = &list[pick(list.len())];
            Ok((u.url.clone(), Some(u.size)))
        };
        let plain = |list: &[String], what: &str| {
            if list.is_empty() {
                return Err(setup(format!("the corpus has no {what}")));
            }
            Ok((list[pick(list.len())].clone(), None))
        };
        let (method, (url, size)) = match kind {
            Kind::Allowed => (
                Method::GET,
                sized(
                    &corpus.allowed,
                    &format!("allowed page of at most {MAX_BODY} bytes"),
                )?,
            ),
            Kind::Tunnel => (
                Method::GET,
                sized(
                    &corpus.allowed_https,
                    &format!("HTTPS page of at most {MAX_BODY} bytes"),
                )?,
            ),
            Kind::Download => (Method::GET, sized(&corpus.downloads, "download")?),
            Kind::Blocked => (Method::GET, plain(&corpus.blocked, "blocked page")?),
            Kind::Preflight => (
                Method::OPTIONS,
                plain(&corpus.cors_allowed, "CORS URL on an allowed host")?,
            ),
            Kind::BlockedXhr => (
                Method::GET,
                plain(&corpus.cors_blocked, "CORS URL on a blocked host")?,
            ),
            Kind::Identity => (Method::GET, plain(&corpus.identity, "header echo URL")?),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e| setup(format!("corpus URL {url}: {e}")))?;
        let host = uri
            .host()
            .and_then(|h| HeaderValue::from_str(h).ok())
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
    Ok(steps)
}

/// What sending part of the sequence found.
#[derive(Debug, Default)]
pub struct Sent {
    /// Answers that were not the expected one.
    pub unexpected: u64,
    /// The first of them, described.
    pub first_problem: Option<String>,
}

impl Sent {
    /// Adds another part's findings.
    pub fn merge(&mut self, other: Sent) {
        self.unexpected += other.unexpected;
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }
}

/// The client side of the sequence: the keep-alive connections the plain-HTTP phases
/// take turns on, and the TLS settings of the tunnels (trusting the test origin's CA).
pub struct Client {
    proxy: SocketAddr,
    conns: Vec<Option<SendRequest<Empty<Bytes>>>>,
    tls: TlsConnector,
    next: usize,
}

impl Client {
    /// A client of the proxy at `proxy` whose tunnels trust the CA in `origin_ca` (PEM).
    pub fn new(proxy: SocketAddr, origin_ca: &Path) -> Result<Client, RigError> {
        let tls = crate::rig::origin::client_tls(origin_ca)?;
        Ok(Client {
            proxy,
            conns: (0..CONNECTIONS).map(|_| None).collect(),
            tls,
            next: 0,
        })
    }

    /// Sends a phase's warm-up requests.
    pub async fn warm(&mut self, phase: &Phase) -> Sent {
        self.send(&phase.warmup).await
    }

    /// Sends a phase's counted requests.
    pub async fn counted(&mut self, phase: &Phase) -> Sent {
        self.send(&phase.counted).await
    }

    /// Sends `steps` one at a time; plain HTTP over the keep-alive connections in turn.
    async fn send(&mut self, steps: &[Step]) -> Sent {
        let mut sent = Sent::default();
        for step in steps {
            let exchange = async {
                if step.kind == Kind::Tunnel {
                    tunnel(self.proxy, &self.tls, step).await
                } else {
                    let slot = &mut self.conns[self.next % CONNECTIONS];
                    self.next += 1;
                    let r = exchange(self.proxy, slot, step).await;
                    if r.is_err() {
                        *slot = None;
                    }
                    r
                }
            };
            let problem = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
                Ok(Ok(())) => None,
                Ok(Err(p)) => Some(p),
                Err(_) => Some(format!("no answer in {} s", REQUEST_TIMEOUT.as_secs())),
            };
            if let Some(p) = problem {
                sent.unexpected += 1;
                sent.first_problem.get_or_insert_with(|| {
                    format!("{} {} {}: {p}", step.kind.name(), step.method, step.uri)
                });
            }
        }
        sent
    }
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
        Kind::Allowed | Kind::Identity | Kind::Download | Kind::Tunnel => {}
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
        Kind::Allowed | Kind::Download | Kind::Tunnel => {
            status == StatusCode::OK && step.size == Some(body.len() as u64)
        }
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

/// One tunnelled page: CONNECT on a fresh connection, a TLS handshake through the tunnel
/// (its ClientHello is what the proxy peeks), a GET of the page over it, every byte
/// checked, then a clean close (TLS close_notify and a TCP half-close, which the proxy
/// passes on, so the tunnel ends as a browser's does).
async fn tunnel(proxy: SocketAddr, tls: &TlsConnector, step: &Step) -> Result<(), String> {
    let host = step.uri.host().ok_or("no host")?.to_owned();
    let port = step.uri.port_u16().unwrap_or(443);
    let authority = format!("{host}:{port}");
    let mut stream = tokio::net::TcpStream::connect(proxy)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let auth = step
        .auth
        .to_str()
        .map_err(|e| format!("auth header: {e}"))?;
    let connect = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nProxy-Authorization: {auth}\r\n\r\n"
    );
    stream
        .write_all(connect.as_bytes())
        .await
        .map_err(|e| format!("send CONNECT: {e}"))?;
    // Read the answer's head byte by byte: nothing past it may be consumed (the proxy
    // sends nothing more until the tunnel carries the origin's bytes).
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= CONNECT_HEAD_MAX {
            return Err(format!("CONNECT answer head over {CONNECT_HEAD_MAX} bytes"));
        }
        let b = stream
            .read_u8()
            .await
            .map_err(|e| format!("CONNECT answer: {e}"))?;
        head.push(b);
    }
    let status_line = String::from_utf8_lossy(&head);
    let status_line = status_line.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("CONNECT answered `{status_line}`"));
    }
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("server name {host}: {e}"))?;
    let tls_stream = tls
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS through the tunnel: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls_stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let path = step
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse::<Uri>()
        .map_err(|e| format!("path: {e}"))?;
    let mut req = Request::new(Empty::<Bytes>::new());
    *req.uri_mut() = path;
    req.headers_mut().insert(header::HOST, step.host.clone());
    let resp = send
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
    // Dropping the sender ends the connection: hyper shuts the stream down (close_notify,
    // then FIN), and the task ends.
    drop(send);
    let _ = conn.await;
    if status == StatusCode::OK && step.size == Some(body.len() as u64) {
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
    fn the_sequence_is_the_same_every_time_and_has_a_phase_per_class_of_the_mix() {
        let a = Plan::from_profile(&profile(), 100, 400).expect("plan");
        let b = Plan::from_profile(&profile(), 100, 400).expect("plan");
        let urls = |p: &Plan| {
            p.phases
                .iter()
                .flat_map(|ph| ph.warmup.iter().chain(&ph.counted))
                .map(|s| s.uri.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(urls(&a), urls(&b));
        let classes: Vec<Class> = a.phases.iter().map(|p| p.class).collect();
        assert_eq!(classes, Class::ALL.to_vec(), "school-day runs every class");
        for phase in &a.phases {
            assert!(phase.counted() >= MIN_PER_CLASS, "{:?}", phase.class);
            assert!(phase.warmup() >= 1, "{:?}", phase.class);
            let kinds = Kind::cycle(phase.class);
            assert!(phase.counted.iter().all(|s| kinds.contains(&s.kind)));
        }
        let tunnel = a.phases.iter().find(|p| p.class == Class::Tunnel).unwrap();
        assert!(tunnel
            .counted
            .iter()
            .all(|s| s.uri.scheme_str() == Some("https") && s.size.is_some_and(|n| n <= MAX_BODY)));
        let download = a
            .phases
            .iter()
            .find(|p| p.class == Class::Download)
            .unwrap();
        assert!(download.counted() <= MAX_DOWNLOADS);
        assert!(download
            .counted
            .iter()
            .all(|s| s.size.is_some_and(|n| n > MAX_BODY)));
        let allowed = a.phases.iter().find(|p| p.class == Class::Allowed).unwrap();
        assert!(allowed
            .counted
            .iter()
            .all(|s| s.size.is_some_and(|n| n <= MAX_BODY)));
        // Walks the most popular pages rather than repeating one, and no more than HOSTS.
        let distinct: std::collections::BTreeSet<_> =
            allowed.counted.iter().map(|s| s.uri.to_string()).collect();
        assert!(
            distinct.len() > 30 && distinct.len() <= HOSTS,
            "{} distinct URLs",
            distinct.len()
        );
    }

    #[test]
    fn allocation_follows_the_mix_with_a_floor_and_a_download_cap() {
        let weights: BTreeMap<Class, u64> = [
            (Class::Allowed, 55),
            (Class::Blocked, 12),
            (Class::Tunnel, 15),
            (Class::Cors, 8),
            (Class::Identity, 5),
            (Class::Download, 5),
        ]
        .into_iter()
        .collect();
        let n = allocate(2000, &weights);
        assert_eq!(n[&Class::Allowed], 1100);
        assert_eq!(n[&Class::Tunnel], 300);
        assert_eq!(n[&Class::Download], MAX_DOWNLOADS);
        let small = allocate(20, &weights);
        assert!(small
            .values()
            .all(|n| *n >= MIN_PER_CLASS.min(MAX_DOWNLOADS)));
        let none = allocate(
            100,
            &[(Class::Allowed, 1), (Class::Tunnel, 0)]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            none.keys().copied().collect::<Vec<_>>(),
            vec![Class::Allowed]
        );
    }
}
