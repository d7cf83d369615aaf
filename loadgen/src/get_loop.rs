//! Paced GETs over keep-alive connections: the loop each connection of the open-loop
//! attack driver and of a fault run's background traffic runs.
//!
//! Claim the next [`Ticket`] of the shared [`Schedule`], send one allowed-browsing GET
//! (a Zipf-ranked URL of the corpus) on the connection (reconnecting after a failure),
//! read the whole answer, and hand what happened to a [`Sink`]. The senders differ only
//! in their sink: the attack driver records latency samples, the fault run keeps one
//! event per request. Bounded by the schedule: it ends when the schedule does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::corpus::Corpus;
use crate::schedule::{Schedule, Ticket};

/// A corpus URL that cannot be sent as a request.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not a URI.
    #[error("corpus URL {url}")]
    Uri {
        /// The URL.
        url: String,
        /// Why it does not parse.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// No host, or one that is not a header value.
    #[error("corpus URL {url}: no usable host")]
    Host {
        /// The URL.
        url: String,
    },
    /// The corpus has no allowed URLs to send.
    #[error("the scenario mix has no allowed URLs")]
    Empty,
}

/// One pre-built request target.
#[derive(Debug, Clone)]
pub struct GetTarget {
    /// What the request line carries: absolute through a proxy, the path straight to an origin.
    pub uri: Uri,
    /// The `Host` header.
    pub host: HeaderValue,
    /// The body length the origin serves for it.
    pub size: u64,
}

/// What every connection of one sender shares.
#[derive(Debug)]
pub struct Gets {
    /// Where connections go (the proxy, or the origin itself).
    pub connect_to: SocketAddr,
    /// The corpus's allowed URLs, by rank.
    pub targets: Vec<GetTarget>,
    /// The corpus (for its Zipf ranks).
    pub corpus: Corpus,
    /// `Proxy-Authorization` of the user sending, if any.
    pub auth: Option<HeaderValue>,
    /// Longest wait for one whole answer.
    pub timeout: Duration,
}

impl Gets {
    /// The corpus's allowed URLs as targets: absolute-form when `proxied`, else the path
    /// only (straight to the origin the request line carries the path).
    pub fn targets(corpus: &Corpus, proxied: bool) -> Result<Vec<GetTarget>, TargetError> {
        if corpus.allowed.is_empty() {
            return Err(TargetError::Empty);
        }
        corpus
            .allowed
            .iter()
            .map(|u| {
                let uri: Uri = u.url.parse().map_err(|source| TargetError::Uri {
                    url: u.url.clone(),
                    source,
                })?;
                let host = uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                    .ok_or_else(|| TargetError::Host { url: u.url.clone() })?;
                let uri = if proxied {
                    uri
                } else {
                    uri.path_and_query()
                        .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()))
                };
                Ok(GetTarget {
                    uri,
                    host,
                    size: u.size,
                })
            })
            .collect()
    }
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A whole answer with this status.
    Answered(StatusCode),
    /// The connection failed (connect, send, or mid-body).
    Transport,
    /// No whole answer within the timeout.
    Timeout,
}

/// What one request got back.
#[derive(Debug, Clone, Copy)]
pub struct Answer {
    /// How it ended.
    pub ending: Ending,
    /// The answer carried `Retry-After`.
    pub retry_after: bool,
    /// Body bytes read.
    pub body_len: u64,
    /// When it was sent.
    pub sent: Instant,
    /// Time to the response head (to the failure when there was none).
    pub ttfb: Duration,
    /// When the whole answer (or the failure) came.
    pub done: Instant,
}

/// What a sender does with each answer.
pub trait Sink: Send + 'static {
    /// One request of `ticket`, sent to `target`, ended as `answer`.
    fn record(&mut self, ticket: &Ticket, target: &GetTarget, answer: &Answer);
}

/// Runs one connection until the schedule ends, then gives the sink back.
pub async fn connection_loop<S: Sink>(
    schedule: Arc<Schedule>,
    gets: Arc<Gets>,
    seed: u64,
    mut sink: S,
) -> S {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut conn: Option<SendRequest<Empty<Bytes>>> = None;
    while let Some(ticket) = schedule.next().await {
        let t = &gets.targets[gets.corpus.zipf_rank(&mut rng).min(gets.targets.len() - 1)];
        let mut req = Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = t.uri.clone();
        req.headers_mut().insert(header::HOST, t.host.clone());
        if let Some(auth) = &gets.auth {
            req.headers_mut()
                .insert(header::PROXY_AUTHORIZATION, auth.clone());
        }
        let sent = Instant::now();
        let answer = match tokio::time::timeout(gets.timeout, exchange(&gets, &mut conn, req)).await
        {
            Ok(partial) => partial.finish(sent),
            Err(_) => {
                let done = Instant::now();
                Answer {
                    ending: Ending::Timeout,
                    retry_after: false,
                    body_len: 0,
                    sent,
                    ttfb: done - sent,
                    done,
                }
            }
        };
        if !matches!(answer.ending, Ending::Answered(_)) {
            // A failed or timed-out connection is not reused.
            conn = None;
        }
        sink.record(&ticket, t, &answer);
    }
    sink
}

/// An answer before its end time is taken.
struct Partial {
    ending: Ending,
    retry_after: bool,
    body_len: u64,
    ttfb: Duration,
}

impl Partial {
    fn finish(self, sent: Instant) -> Answer {
        Answer {
            ending: self.ending,
            retry_after: self.retry_after,
            body_len: self.body_len,
            sent,
            ttfb: self.ttfb,
            done: Instant::now(),
        }
    }
}

async fn connect(to: SocketAddr) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(to).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(send)
}

/// Sends one request (connecting first if needed) and reads the whole body.
async fn exchange(
    gets: &Gets,
    conn: &mut Option<SendRequest<Empty<Bytes>>>,
    req: Request<Empty<Bytes>>,
) -> Partial {
    let sent = Instant::now();
    let failed = |ttfb| Partial {
        ending: Ending::Transport,
        retry_after: false,
        body_len: 0,
        ttfb,
    };
    let ready = match conn.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        *conn = connect(gets.connect_to).await;
    }
    let Some(c) = conn.as_mut() else {
        return failed(sent.elapsed());
    };
    let resp = match c.send_request(req).await {
        Ok(r) => r,
        Err(_) => return failed(sent.elapsed()),
    };
    let ttfb = sent.elapsed();
    let status = resp.status();
    let retry_after = resp.headers().contains_key(header::RETRY_AFTER);
    let mut body = resp.into_body();
    let mut body_len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => body_len += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => return failed(ttfb),
        }
    }
    Partial {
        ending: Ending::Answered(status),
        retry_after,
        body_len,
        ttfb,
    }
}
