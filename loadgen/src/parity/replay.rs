//! Sending the corpus through one proxy: a bounded number of workers, each on its own
//! keep-alive connection, every request and the whole pass under a deadline.
//!
//! hyper's low-level client is used rather than reqwest because the corpus must reach
//! the proxy byte for byte: a URL library normalises `/./`, `//`, percent-encoding and
//! host case away, and those are exactly the variations being compared. Every target is
//! the proxy's loopback address; the request line names the corpus host.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, HOST, LOCATION, PROXY_AUTHORIZATION, SERVER};
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::classify::{Observed, REACHED_HEADER};
use super::corpus::{Entry, Method};

/// Most body bytes kept per answer: enough for any block page.
const BODY_KEEP: usize = 16 * 1024;

/// Where and how to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The proxy (must be on loopback).
    pub proxy: SocketAddr,
    /// `Proxy-Authorization` sent with every request (the identity replayed as).
    pub proxy_authorization: Option<HeaderValue>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Deadline of one request (connect, head and kept body).
    pub request_timeout: Duration,
    /// Deadline of the whole pass; entries not started by then are not sent.
    pub pass_timeout: Duration,
}

/// The answers of one pass, in corpus order, and how long it took.
#[derive(Debug, Clone)]
pub struct Pass {
    /// One per corpus entry.
    pub observed: Vec<Observed>,
    /// Wall time of the pass.
    pub elapsed: Duration,
    /// Entries not sent because the pass deadline came first.
    pub not_sent: usize,
}

/// Replays `entries` through `opts.proxy`.
pub async fn replay(entries: Arc<Vec<Entry>>, opts: &ReplayOptions) -> Pass {
    let start = Instant::now();
    let deadline = start + opts.pass_timeout;
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.concurrency.max(1) {
        let entries = Arc::clone(&entries);
        let next = Arc::clone(&next);
        let opts = opts.clone();
        tasks.spawn(async move {
            let mut worker = Worker { opts, sender: None };
            let mut done = Vec::new();
            // Bounded by the corpus length and by the pass deadline.
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(entry) = entries.get(i) else { break };
                done.push((i, worker.send(entry).await));
            }
            done
        });
    }
    let mut observed = vec![None; entries.len()];
    while let Some(result) = tasks.join_next().await {
        // A worker only panics on a bug; its entries then count as not sent.
        for (i, seen) in result.unwrap_or_default() {
            observed[i] = Some(seen);
        }
    }
    let not_sent = observed.iter().filter(|o| o.is_none()).count();
    let observed = observed
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| Observed {
                failure: Some("not sent: pass deadline".into()),
                ..Observed::default()
            })
        })
        .collect();
    Pass {
        observed,
        elapsed: start.elapsed(),
        not_sent,
    }
}

struct Worker {
    opts: ReplayOptions,
    /// The keep-alive connection, when one is open.
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Worker {
    async fn send(&mut self, entry: &Entry) -> Observed {
        let timeout = self.opts.request_timeout;
        match tokio::time::timeout(timeout, self.send_inner(entry)).await {
            Ok(Ok(seen)) => seen,
            Ok(Err(why)) => {
                self.sender = None;
                failure(why)
            }
            Err(_) => {
                self.sender = None;
                failure(format!("timeout after {} ms", timeout.as_millis()))
            }
        }
    }

    async fn send_inner(&mut self, entry: &Entry) -> Result<Observed, String> {
        if entry.method == Method::Connect {
            // A CONNECT takes its connection over: always a fresh one, dropped after.
            let mut sender = self.connect().await?;
            return self
                .exchange(&mut sender, entry)
                .await
                .map(|(seen, _)| seen);
        }
        // A kept connection may have been closed by the proxy while idle: one retry on
        // a fresh connection, and only when the kept one failed before any answer.
        if let Some(mut sender) = self.sender.take() {
            if sender.ready().await.is_ok() {
                if let Ok((seen, reusable)) = self.exchange(&mut sender, entry).await {
                    if reusable {
                        self.sender = Some(sender);
                    }
                    return Ok(seen);
                }
            }
        }
        let mut sender = self.connect().await?;
        let (seen, reusable) = self.exchange(&mut sender, entry).await?;
        if reusable {
            self.sender = Some(sender);
        }
        Ok(seen)
    }

    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        let stream = TcpStream::connect(self.opts.proxy)
            .await
            .map_err(|e| format!("connect to proxy {}: {e}", self.opts.proxy))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the connection closes or is taken over by a tunnel.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the answer; the flag says whether the connection may
    /// carry another request.
    async fn exchange(
        &self,
        sender: &mut SendRequest<Empty<Bytes>>,
        entry: &Entry,
    ) -> Result<(Observed, bool), String> {
        let request = build_request(entry, self.opts.proxy_authorization.as_ref())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = response.status().as_u16();
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut seen = Observed {
            status: Some(status),
            reached_origin: response.headers().contains_key(REACHED_HEADER),
            server: header(SERVER),
            location: header(LOCATION),
            ..Observed::default()
        };
        let closing = response
            .headers()
            .get(http::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if entry.method == Method::Connect && (200..300).contains(&status) {
            // A tunnel: nothing more to read, and the connection is not HTTP any more.
            return Ok((seen, false));
        }
        let mut body = response.into_body();
        let mut kept = Vec::new();
        let mut complete = true;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("body: {e}"))?;
            if let Ok(data) = frame.into_data() {
                let room = BODY_KEEP.saturating_sub(kept.len());
                kept.extend_from_slice(&data[..data.len().min(room)]);
                if kept.len() >= BODY_KEEP {
                    complete = false;
                    break;
                }
            }
        }
        seen.body = String::from_utf8_lossy(&kept).into_owned();
        let reusable = complete && !closing && entry.method == Method::Get;
        Ok((seen, reusable))
    }
}

fn failure(why: String) -> Observed {
    Observed {
        failure: Some(why),
        ..Observed::default()
    }
}

/// The request for an entry: absolute-form GET or authority-form CONNECT, with `Host`
/// copied from the target as written.
fn build_request(
    entry: &Entry,
    auth: Option<&HeaderValue>,
) -> Result<Request<Empty<Bytes>>, String> {
    let (method, host) = match entry.method {
        Method::Get => (http::Method::GET, authority_of(&entry.target)),
        Method::Connect => (http::Method::CONNECT, entry.target.as_str()),
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(entry.target.as_str())
        .header(HOST, host)
        // Asks filter-proxy for its JSON block answer (category and rule).
        .header(ACCEPT, "application/json, text/html;q=0.9");
    if let Some(auth) = auth {
        builder = builder.header(PROXY_AUTHORIZATION, auth.clone());
    }
    builder
        .body(Empty::new())
        .map_err(|e| format!("target {:?}: {e}", entry.target))
}

fn authority_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parity::corpus::Class;

    fn entry(method: Method, target: &str) -> Entry {
        Entry {
            class: Class::Exact,
            method,
            target: target.into(),
            rule: "-".into(),
            detail: "-".into(),
        }
    }

    #[test]
    fn requests_keep_the_target_byte_for_byte() {
        let r = build_request(
            &entry(Method::Get, "http://A.test.:8080//x/./%2Fy?q=1"),
            None,
        )
        .unwrap();
        assert_eq!(r.uri().to_string(), "http://A.test.:8080//x/./%2Fy?q=1");
        assert_eq!(r.headers()[HOST], "A.test.:8080");
        let auth = HeaderValue::from_static("Basic eDp5");
        let r = build_request(&entry(Method::Connect, "[::1]:443"), Some(&auth)).unwrap();
        assert_eq!(r.method(), http::Method::CONNECT);
        assert_eq!(r.headers()[HOST], "[::1]:443");
        assert_eq!(r.headers()[PROXY_AUTHORIZATION], "Basic eDp5");
    }

    #[tokio::test]
    async fn an_unreachable_proxy_gives_failures_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let entries = Arc::new(vec![entry(Method::Get, "http://a.test/"); 3]);
        let pass = replay(
            entries,
            &ReplayOptions {
                proxy: addr,
                proxy_authorization: None,
                concurrency: 2,
                request_timeout: Duration::from_secs(2),
                pass_timeout: Duration::from_secs(10),
            },
        )
        .await;
        assert_eq!(pass.observed.len(), 3);
        assert_eq!(pass.not_sent, 0);
        assert!(pass
            .observed
            .iter()
            .all(|o| o.status.is_none()
                && o.failure.as_deref().is_some_and(|f| f.contains("connect"))));
    }
}
