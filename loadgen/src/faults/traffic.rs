//! Background traffic of a fault run: allowed browsing through the proxy at a fixed
//! offered rate (open loop), with every request kept as an event.
//!
//! The open-loop attack driver aggregates into histograms; a fault verdict needs more:
//! when each request started (inside or outside the fault window), its status (503
//! with or without `Retry-After`, 502, 504) and how long it waited. So this loop keeps
//! one small event per request, in a vector per connection (no shared lock), merged at
//! the end. Bounded: nothing is sent after the run's length plus a short grace.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::corpus::Corpus;

/// Status recorded for a request that got no answer because the connection failed.
pub const STATUS_TRANSPORT: u16 = 0;
/// Status recorded for a request that got no answer within the request timeout.
pub const STATUS_TIMEOUT: u16 = 1;

/// One request as the fault verdict sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// When it was sent, µs from the start of the traffic.
    pub start_us: u64,
    /// Time to the whole answer (or to the failure), µs.
    pub latency_us: u64,
    /// HTTP status, or [`STATUS_TRANSPORT`] / [`STATUS_TIMEOUT`].
    pub status: u16,
    /// The answer carried `Retry-After`.
    pub retry_after: bool,
}

impl Event {
    /// The error kind, or `None` for an answer that is not an error (2xx, 3xx, 4xx:
    /// a block page is the proxy working).
    pub fn error_kind(&self) -> Option<&'static str> {
        match self.status {
            STATUS_TRANSPORT => Some("transport"),
            STATUS_TIMEOUT => Some("timeout"),
            502 => Some("502"),
            503 if self.retry_after => Some("503"),
            503 => Some("503-no-retry-after"),
            504 => Some("504"),
            s if s >= 500 => Some("5xx-other"),
            _ => None,
        }
    }

    /// When the answer (or failure) came, µs from the start.
    pub fn end_us(&self) -> u64 {
        self.start_us + self.latency_us
    }
}

/// One pre-built request target.
#[derive(Debug, Clone)]
struct Target {
    uri: Uri,
    host: HeaderValue,
}

/// How to send the background traffic.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// The proxy.
    pub proxy: SocketAddr,
    /// Allowed URLs (absolute, for the proxy) and their Zipf ranks.
    pub corpus: Corpus,
    /// `Proxy-Authorization` of the user sending.
    pub auth: HeaderValue,
    /// Requests per second offered.
    pub rate: f64,
    /// Connections (each sends one request at a time).
    pub connections: u64,
    /// Length of the traffic.
    pub duration: Duration,
    /// Longest wait for one answer.
    pub request_timeout: Duration,
}

/// What the traffic produced.
#[derive(Debug, Clone, Default)]
pub struct TrafficResult {
    /// Every request sent, sorted by start.
    pub events: Vec<Event>,
    /// Scheduled requests never sent because every connection was busy past the grace.
    pub unsent: u64,
}

struct Shared {
    proxy: SocketAddr,
    targets: Vec<Target>,
    corpus: Corpus,
    auth: HeaderValue,
    start: Instant,
    deadline: Instant,
    hard_stop: Instant,
    interval: Duration,
    next: AtomicU64,
    unsent: AtomicU64,
    timeout: Duration,
}

/// Sends the traffic from `start` (an instant shared with the fault schedule) and
/// returns every event.
pub async fn run(plan: TrafficPlan, start: Instant) -> Result<TrafficResult, String> {
    let targets = plan
        .corpus
        .allowed
        .iter()
        .map(|u| {
            let uri: Uri = u
                .url
                .parse()
                .map_err(|e| format!("corpus URL {}: {e}", u.url))?;
            let host = uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                .ok_or_else(|| format!("corpus URL {}: no host", u.url))?;
            Ok(Target { uri, host })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if targets.is_empty() {
        return Err("the scenario mix has no allowed URLs".into());
    }
    let shared = Arc::new(Shared {
        proxy: plan.proxy,
        targets,
        corpus: plan.corpus,
        auth: plan.auth,
        start,
        deadline: start + plan.duration,
        hard_stop: start + plan.duration + Duration::from_secs(2),
        interval: Duration::from_secs_f64(1.0 / plan.rate),
        next: AtomicU64::new(0),
        unsent: AtomicU64::new(0),
        timeout: plan.request_timeout,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.connections.max(1) {
        tasks.spawn(connection_loop(Arc::clone(&shared), i));
    }
    let mut events = Vec::new();
    while let Some(done) = tasks.join_next().await {
        events.extend(done.map_err(|e| format!("traffic task: {e}"))?);
    }
    events.sort_by_key(|e| e.start_us);
    Ok(TrafficResult {
        events,
        unsent: shared.unsent.load(Ordering::Relaxed),
    })
}

async fn connection_loop(shared: Arc<Shared>, seed: u64) -> Vec<Event> {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xFA17);
    let mut conn: Option<SendRequest<Empty<Bytes>>> = None;
    let mut events = Vec::new();
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        let intended = shared.start + shared.interval.mul_f64(k as f64);
        if intended >= shared.deadline {
            return events;
        }
        let now = Instant::now();
        if now >= shared.hard_stop {
            shared.unsent.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if intended > now {
            tokio::time::sleep_until(intended.into()).await;
        }
        let t = &shared.targets[shared.corpus.zipf_rank(&mut rng)];
        let mut req = Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = t.uri.clone();
        req.headers_mut().insert(header::HOST, t.host.clone());
        req.headers_mut()
            .insert(header::PROXY_AUTHORIZATION, shared.auth.clone());
        let sent = Instant::now();
        let (status, retry_after) =
            match tokio::time::timeout(shared.timeout, exchange(&shared, &mut conn, req)).await {
                Ok(answer) => answer,
                Err(_) => (STATUS_TIMEOUT, false),
            };
        if status == STATUS_TRANSPORT || status == STATUS_TIMEOUT {
            conn = None;
        }
        events.push(Event {
            start_us: sent.saturating_duration_since(shared.start).as_micros() as u64,
            latency_us: sent.elapsed().as_micros() as u64,
            status,
            retry_after,
        });
    }
}

async fn connect(proxy: SocketAddr) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(proxy).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(send)
}

/// Sends one request (connecting first when needed), reads the whole body, and
/// returns the status and whether `Retry-After` was present.
async fn exchange(
    shared: &Shared,
    conn: &mut Option<SendRequest<Empty<Bytes>>>,
    req: Request<Empty<Bytes>>,
) -> (u16, bool) {
    let ready = match conn.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        *conn = connect(shared.proxy).await;
    }
    let Some(c) = conn.as_mut() else {
        return (STATUS_TRANSPORT, false);
    };
    let Ok(resp) = c.send_request(req).await else {
        return (STATUS_TRANSPORT, false);
    };
    let status = resp.status().as_u16();
    let retry_after = resp.headers().contains_key(header::RETRY_AFTER);
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return (STATUS_TRANSPORT, false);
        }
    }
    (status, retry_after)
}
