//! The lean open-loop driver (`loadgen attack --driver open-loop`).
//!
//! Goose runs closed-loop users through reqwest and its own metrics pipeline,
//! which costs CPU per request; to find what the machine (and the proxy) can
//! take, this driver sends allowed-browsing GETs over raw hyper HTTP/1.1
//! connections on a fixed schedule: request k is *intended* to start at
//! `start + k / rate`, whether or not earlier answers came back. Latency is
//! recorded from the actual send (TTFB, TTLB) and from the intended start
//! (the coordinated-omission corrected histogram). With no rate, every
//! connection sends back to back (closed loop, for peak throughput). When the
//! schedule falls behind, late requests are still sent until a tenth of the
//! duration (at least 2 s) past its end; the rest are counted as `unsent`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::attack::{AttackError, AttackOptions, AttackReport, OriginAddrs};
use crate::corpus::{Addressing, Corpus};
use crate::mix::Mix;
use crate::output::{self, RunFacts};
use crate::profile::Profile;
use crate::record::{Aggregator, Class, Outcome, RunClock, Sample, UserRecorder};
use crate::roster::Roster;

/// Most connections the driver opens.
const MAX_CONNECTIONS: u64 = 4096;

/// One pre-built request target.
#[derive(Debug, Clone)]
struct Target {
    uri: Uri,
    host: HeaderValue,
    size: u64,
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    connect_to: SocketAddr,
    targets: Vec<Target>,
    corpus: Corpus,
    auth: Option<HeaderValue>,
    start: Instant,
    deadline: Instant,
    /// Past this, late requests are no longer sent (counted as unsent).
    hard_stop: Instant,
    interval: Option<Duration>,
    next: AtomicU64,
    unsent: AtomicU64,
    timeout: Duration,
}

/// Runs the open-loop driver and writes the run directory.
pub async fn attack(
    opts: &AttackOptions,
    profile: &Profile,
    origin: &OriginAddrs,
) -> Result<AttackReport, AttackError> {
    let mix = Mix::load(&profile.scenario_mix)?;
    let rate = opts.rate.or(profile.target_rate).filter(|r| *r > 0.0);
    let (addressing, connect_to) = match opts.proxy {
        Some(p) => (Addressing::Proxy, p),
        None => (
            Addressing::Direct {
                http: origin.http,
                https: origin.https.unwrap_or(origin.http),
            },
            origin.http,
        ),
    };
    let corpus = Corpus::build(&mix, addressing)?;
    let targets = corpus
        .allowed
        .iter()
        .map(|u| target(&u.url, u.size, opts.proxy.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    let auth = match opts.proxy {
        Some(_) => Some(
            Roster::load(&mix.roster, mix.roster_seed)?
                .get(0)
                .proxy_authorization
                .clone(),
        ),
        None => None,
    };
    let connections = profile.users.clamp(1, MAX_CONNECTIONS);
    let (aggregator, samples) = Aggregator::spawn(profile.warmup);
    let clock = RunClock::start_now();
    let shared = Arc::new(Shared {
        connect_to,
        targets,
        corpus,
        auth,
        start: clock.start,
        deadline: clock.start + profile.duration,
        hard_stop: clock.start
            + profile.duration
            + (profile.duration / 10).max(Duration::from_secs(2)),
        interval: rate.map(|r| Duration::from_secs_f64(1.0 / r)),
        next: AtomicU64::new(0),
        unsent: AtomicU64::new(0),
        timeout: mix.request_timeout,
    });
    let started_wall = SystemTime::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let recorder = UserRecorder::new(clock, samples.clone());
        tasks.spawn(connection_loop(Arc::clone(&shared), recorder, i));
    }
    drop(samples);
    while tasks.join_next().await.is_some() {}
    let elapsed = clock.start.elapsed();
    let ended_wall = SystemTime::now();
    let summary = tokio::task::spawn_blocking(move || aggregator.finish(Duration::from_secs(3)))
        .await
        .map_err(|e| AttackError::Setup(format!("collecting samples: {e}")))?;
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("connections".to_string(), serde_json::json!(connections));
    extra.insert(
        "unsent".to_string(),
        serde_json::json!(shared.unsent.load(Ordering::Relaxed)),
    );
    let facts = RunFacts {
        driver: "open-loop",
        profile,
        mix: Some(&mix),
        proxy: opts.proxy.map(|p| p.to_string()),
        origin: origin.http.to_string(),
        started: started_wall,
        ended: ended_wall,
        elapsed,
        complete: true,
        offered_rps: rate,
        extra,
    };
    let run_json = output::write_run_dir(&opts.out, &facts, &summary)?;
    Ok(AttackReport {
        dir: opts.out.clone(),
        run_json,
        summary,
    })
}

fn target(url: &str, size: u64, proxied: bool) -> Result<Target, AttackError> {
    let uri: Uri = url
        .parse()
        .map_err(|e| AttackError::Setup(format!("corpus URL {url}: {e}")))?;
    let host = uri
        .authority()
        .map(|a| HeaderValue::from_str(a.as_str()))
        .transpose()
        .map_err(|e| AttackError::Setup(format!("corpus URL {url}: {e}")))?
        .ok_or_else(|| AttackError::Setup(format!("corpus URL {url}: no host")))?;
    // Straight to the origin the request line carries the path only.
    let uri = if proxied {
        uri
    } else {
        uri.path_and_query()
            .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()))
    };
    Ok(Target { uri, host, size })
}

async fn connect(shared: &Shared) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(shared.connect_to)
        .await
        .ok()?;
    let _ = stream.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(send)
}

/// One connection: claims the next scheduled request, waits for its
/// intended start, sends it, reads the answer, records it.
async fn connection_loop(shared: Arc<Shared>, mut recorder: UserRecorder, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut conn: Option<SendRequest<Empty<Bytes>>> = None;
    loop {
        let k = shared.next.fetch_add(1, Ordering::Relaxed);
        let intended = match shared.interval {
            Some(i) => shared.start + i.mul_f64(k as f64),
            None => Instant::now(),
        };
        if intended >= shared.deadline {
            return;
        }
        let now = Instant::now();
        if now >= shared.hard_stop {
            // Overloaded: the backlog of late requests is not drained for ever.
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
        if let Some(auth) = &shared.auth {
            req.headers_mut()
                .insert(header::PROXY_AUTHORIZATION, auth.clone());
        }
        let sent = Instant::now();
        let result =
            tokio::time::timeout(shared.timeout, exchange(&shared, &mut conn, req, t.size)).await;
        let done = Instant::now();
        let (outcome, ttfb) = match result {
            Ok((outcome, ttfb)) => (outcome, ttfb),
            Err(_) => {
                conn = None;
                (Outcome::Timeout, done - sent)
            }
        };
        if outcome == Outcome::Transport {
            conn = None;
        }
        recorder.record(Sample {
            class: Class::Allowed,
            outcome,
            done_us: recorder.clock().micros(done),
            ttfb_us: ttfb.as_micros() as u64,
            ttlb_us: (done - sent).as_micros() as u64,
            corrected_us: shared
                .interval
                .map(|_| (done - intended).as_micros() as u64),
        });
    }
}

/// Sends one request (connecting first if needed) and reads the whole body.
async fn exchange(
    shared: &Shared,
    conn: &mut Option<SendRequest<Empty<Bytes>>>,
    req: Request<Empty<Bytes>>,
    size: u64,
) -> (Outcome, Duration) {
    let sent = Instant::now();
    let ready = match conn.as_mut() {
        Some(c) => c.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        *conn = connect(shared).await;
    }
    let Some(c) = conn.as_mut() else {
        return (Outcome::Transport, sent.elapsed());
    };
    let resp = match c.send_request(req).await {
        Ok(r) => r,
        Err(_) => return (Outcome::Transport, sent.elapsed()),
    };
    let ttfb = sent.elapsed();
    let status = resp.status();
    let mut body = resp.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => len += f.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => return (Outcome::Transport, ttfb),
        }
    }
    let outcome = if status != 200 {
        Outcome::Status
    } else if len != size {
        Outcome::Body
    } else {
        Outcome::Ok
    };
    (outcome, ttfb)
}
