//! The traffic of an appliance run: an open-loop schedule of plain-HTTP school requests,
//! each from its user's own address, alternately through the appliance and straight to
//! the proxy, so both routes carry the same mix at the same rate at the same time.
//!
//! Each request is a new connection (the appliance's work is per connection: accept,
//! identity lookup, a signed header, the upstream connect), `Connection: close`, sent in
//! absolute form as to any explicit proxy. Latency is measured from the connect to the
//! last body byte; the schedule's own lag is recorded separately so a saturated load
//! generator is visible. The origin copies the identity headers it received into every
//! answer (`x-echo-*`): through the appliance, every answer that came from the origin
//! must name the user the request's source address was registered for.
//!
//! The schedule is the one every paced sender uses ([`crate::schedule`]); a new connection
//! per request is why this sender dispatches a task per ticket instead of running
//! [`crate::get_loop`]'s keep-alive connections.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;

use crate::corpus::Corpus;
use crate::mix::Mix;
use crate::record::{new_histogram, record_clamped, Class, Outcome, Sample};
use crate::schedule::{Schedule, Ticket};

use super::users::SimUser;

/// Which way a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// Client -> appliance -> proxy -> origin.
    Appliance,
    /// Client -> proxy -> origin (the same request without the appliance hop).
    Direct,
}

/// The request classes this driver sends (a subset of the school day's mix: the plain
/// HTTP ones; CONNECT tunnels and large downloads are left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReqClass {
    /// Allowed browsing (`browse_allowed`).
    Allowed,
    /// Blocked pages (`browse_blocked`): the proxy answers 403.
    Blocked,
    /// Cross-origin requests (`cors_xhr`), simple GETs.
    Cors,
    /// `/echo/headers` (`identity_check`).
    Identity,
}

impl ReqClass {
    /// The class name used in `run.json` and the reports.
    pub fn label(self) -> &'static str {
        match self {
            ReqClass::Allowed => "allowed",
            ReqClass::Blocked => "blocked",
            ReqClass::Cors => "cors",
            ReqClass::Identity => "identity",
        }
    }

    /// The recorder's class of the same name.
    pub fn recorded(self) -> Class {
        match self {
            ReqClass::Allowed => Class::Allowed,
            ReqClass::Blocked => Class::Blocked,
            ReqClass::Cors => Class::Cors,
            ReqClass::Identity => Class::Identity,
        }
    }

    /// Every class, in report order.
    pub const ALL: [ReqClass; 4] = [
        ReqClass::Allowed,
        ReqClass::Blocked,
        ReqClass::Cors,
        ReqClass::Identity,
    ];
}

/// Where the traffic goes and how much of it.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    /// The appliance's explicit listener.
    pub appliance: SocketAddr,
    /// The proxy's listener.
    pub proxy: SocketAddr,
    /// Requests per second over both routes.
    pub rate: f64,
    /// Length of the schedule, warm-up included.
    pub duration: Duration,
    /// Start of the schedule left out of the latency statistics.
    pub warmup: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Requests in flight at most (beyond it the schedule waits and records the lag).
    pub max_in_flight: usize,
    /// The request header (lower case) carrying the user the proxy identified.
    pub user_header: String,
}

/// Counts and latencies of one route and class.
#[derive(Debug, Clone)]
pub struct ClassTally {
    /// Requests sent (whole run).
    pub count: u64,
    /// Unexpected outcomes (whole run).
    pub failures: u64,
    /// Failures by kind: `status`, `transport`, `timeout`.
    pub errors: BTreeMap<&'static str, u64>,
    /// Connect to last byte, after the warm-up (µs).
    pub latency: Histogram<u64>,
    /// From the scheduled start to the last byte, after the warm-up (µs).
    pub corrected: Histogram<u64>,
}

impl Default for ClassTally {
    fn default() -> Self {
        Self {
            count: 0,
            failures: 0,
            errors: BTreeMap::new(),
            latency: new_histogram(),
            corrected: new_histogram(),
        }
    }
}

/// Whether answers through the appliance carried the right user.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IdentityTally {
    /// Answers from the origin to requests through the appliance (each checked).
    pub checked: u64,
    /// The origin saw the user registered for the request's source address.
    pub matched: u64,
    /// The origin saw another user.
    pub mismatched: u64,
    /// The origin saw no user at all.
    pub missing: u64,
    /// Up to five mismatches, `expected -> seen`, for the report.
    pub examples: Vec<String>,
}

/// Everything the traffic recorded.
#[derive(Debug, Clone, Default)]
pub struct TrafficTally {
    /// Per route and class.
    pub classes: BTreeMap<(Route, ReqClass), ClassTally>,
    /// Identity through the appliance.
    pub identity: IdentityTally,
    /// Scheduled start to actual start, every request (µs).
    pub lag: Option<Histogram<u64>>,
    /// Requests whose start lagged the schedule by more than 100 ms.
    pub late: u64,
    /// Requests scheduled.
    pub scheduled: u64,
    /// Seconds from the first scheduled request to the last answer.
    pub elapsed_s: f64,
    /// Every request through the appliance, as the load generator's recorder takes them
    /// (so the run directory is written the way every attack writes it).
    pub through_samples: Vec<Sample>,
}

impl TrafficTally {
    /// All classes of one route merged (latency after the warm-up).
    pub fn route_latency(&self, route: Route) -> Histogram<u64> {
        let mut h = new_histogram();
        for ((r, _), t) in &self.classes {
            if *r == route {
                let _ = h.add(&t.latency);
            }
        }
        h
    }

    /// Requests and failures of one route.
    pub fn route_counts(&self, route: Route) -> (u64, u64) {
        self.classes
            .iter()
            .filter(|((r, _), _)| *r == route)
            .fold((0, 0), |(n, f), (_, t)| (n + t.count, f + t.failures))
    }
}

/// The URLs a class draws from.
struct Urls {
    corpus: Corpus,
    weights: Vec<(ReqClass, u64)>,
    total: u64,
}

impl Urls {
    fn new(mix: &Mix, corpus: Corpus) -> Self {
        let weights: Vec<(ReqClass, u64)> = [
            (ReqClass::Allowed, "browse_allowed"),
            (ReqClass::Blocked, "browse_blocked"),
            (ReqClass::Cors, "cors_xhr"),
            (ReqClass::Identity, "identity_check"),
        ]
        .into_iter()
        .map(|(c, name)| (c, mix.weight(name)))
        .filter(|(c, w)| *w > 0 && !Self::list(&corpus, *c).is_empty())
        .collect();
        let total = weights.iter().map(|(_, w)| w).sum();
        Self {
            corpus,
            weights,
            total,
        }
    }

    fn list(corpus: &Corpus, class: ReqClass) -> Vec<&str> {
        match class {
            ReqClass::Allowed => corpus.allowed.iter().map(|u| u.url.as_str()).collect(),
            ReqClass::Blocked => corpus.blocked.iter().map(String::as_str).collect(),
            ReqClass::Cors => corpus.cors_allowed.iter().map(String::as_str).collect(),
            ReqClass::Identity => corpus.identity.iter().map(String::as_str).collect(),
        }
    }

    fn pick(&self, rng: &mut impl Rng) -> (ReqClass, String) {
        let mut x = rng.random_range(0..self.total.max(1));
        let class = self
            .weights
            .iter()
            .find(|(_, w)| {
                if x < *w {
                    true
                } else {
                    x -= w;
                    false
                }
            })
            .map_or(ReqClass::Allowed, |(c, _)| *c);
        let url = match class {
            ReqClass::Allowed => {
                let rank = self
                    .corpus
                    .zipf_rank(rng)
                    .min(self.corpus.allowed.len() - 1);
                self.corpus.allowed[rank].url.clone()
            }
            ReqClass::Blocked => pick_one(&self.corpus.blocked, rng),
            ReqClass::Cors => pick_one(&self.corpus.cors_allowed, rng),
            ReqClass::Identity => pick_one(&self.corpus.identity, rng),
        };
        (class, url)
    }
}

fn pick_one(list: &[String], rng: &mut impl Rng) -> String {
    list[rng.random_range(0..list.len())].clone()
}

/// Whether the mix has any class this driver sends.
pub fn usable(mix: &Mix, corpus: &Corpus) -> bool {
    ReqClass::ALL
        .iter()
        .any(|c| mix.weight(weight_name(*c)) > 0 && !Urls::list(corpus, *c).is_empty())
}

fn weight_name(c: ReqClass) -> &'static str {
    match c {
        ReqClass::Allowed => "browse_allowed",
        ReqClass::Blocked => "browse_blocked",
        ReqClass::Cors => "cors_xhr",
        ReqClass::Identity => "identity_check",
    }
}

/// What one request got back.
enum Answer {
    Got {
        status: StatusCode,
        reached: bool,
        user: Option<String>,
        /// When the response head arrived.
        head: Instant,
    },
    Failed(&'static str),
}

/// Runs the schedule to its end and returns the tally.
pub async fn run(plan: &TrafficPlan, mix: &Mix, corpus: Corpus, users: &[SimUser]) -> TrafficTally {
    let urls = Arc::new(Urls::new(mix, corpus));
    let users: Arc<Vec<SimUser>> = Arc::new(users.to_vec());
    let tally = Arc::new(Mutex::new(TrafficTally {
        lag: Some(new_histogram()),
        ..TrafficTally::default()
    }));
    let permits = Arc::new(Semaphore::new(plan.max_in_flight.max(1)));
    let plan = Arc::new(plan.clone());
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5c4001);
    // Every request is sent however late (no hard stop): the lag histogram shows it.
    let schedule = Schedule::new(Instant::now(), Some(plan.rate), plan.duration, None);
    let start = schedule.start();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(Ticket { index: k, intended }) = schedule.next().await {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let route = if k % 2 == 0 {
            Route::Appliance
        } else {
            Route::Direct
        };
        let user = rng.random_range(0..users.len());
        let (class, url) = urls.pick(&mut rng);
        let measured = intended.duration_since(start) >= plan.warmup;
        let (plan, users, tally) = (plan.clone(), users.clone(), tally.clone());
        tasks.spawn(async move {
            let began = Instant::now();
            let u = &users[user];
            let target = match route {
                Route::Appliance => plan.appliance,
                Route::Direct => plan.proxy,
            };
            let answer = match tokio::time::timeout(
                plan.timeout,
                request(u.ip, target, &url, &plan.user_header),
            )
            .await
            {
                Ok(a) => a,
                Err(_) => Answer::Failed("timeout"),
            };
            let done = Instant::now();
            drop(permit);
            let mut t = tally.lock().expect("tally lock");
            let times = Times {
                began,
                intended,
                done,
                since_start: done - start,
            };
            record(&mut t, route, class, u, answer, measured, times);
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut t = Arc::try_unwrap(tally)
        .map(|m| m.into_inner().expect("tally lock"))
        .unwrap_or_else(|arc| arc.lock().expect("tally lock").clone());
    t.scheduled = schedule.total();
    t.elapsed_s = start.elapsed().as_secs_f64();
    t
}

/// When one request was due, started and ended.
struct Times {
    began: Instant,
    intended: Instant,
    done: Instant,
    /// `done` on the run's clock.
    since_start: Duration,
}

fn record(
    t: &mut TrafficTally,
    route: Route,
    class: ReqClass,
    user: &SimUser,
    answer: Answer,
    measured: bool,
    times: Times,
) {
    let us = |d: Duration| d.as_micros().min(u64::MAX as u128) as u64;
    let (service, corrected, lag) = (
        times.done - times.began,
        times.done - times.intended,
        times.began - times.intended,
    );
    let head = match &answer {
        Answer::Got { head, .. } => *head - times.began,
        Answer::Failed(_) => service,
    };
    if let Some(h) = t.lag.as_mut() {
        record_clamped(h, us(lag));
    }
    if lag > Duration::from_millis(100) {
        t.late += 1;
    }
    if route == Route::Appliance {
        if let Answer::Got {
            reached: true,
            user: seen,
            ..
        } = &answer
        {
            let id = &mut t.identity;
            id.checked += 1;
            match seen {
                Some(s) if *s == user.name => id.matched += 1,
                Some(s) => {
                    id.mismatched += 1;
                    if id.examples.len() < 5 {
                        id.examples
                            .push(format!("{} ({}) -> {s}", user.name, user.ip));
                    }
                }
                None => id.missing += 1,
            }
        }
    }
    let c = t.classes.entry((route, class)).or_default();
    c.count += 1;
    let failure = match answer {
        Answer::Failed(kind) => Some(kind),
        Answer::Got {
            status, reached, ..
        } => {
            let expected = if class == ReqClass::Blocked {
                status == StatusCode::FORBIDDEN && !reached
            } else {
                status.is_success() && reached
            };
            (!expected).then_some("status")
        }
    };
    if route == Route::Appliance {
        t.through_samples.push(Sample {
            class: class.recorded(),
            outcome: match failure {
                None => Outcome::Ok,
                Some("timeout") => Outcome::Timeout,
                Some("transport") => Outcome::Transport,
                Some(_) => Outcome::Status,
            },
            done_us: us(times.since_start),
            ttfb_us: us(head),
            ttlb_us: us(service),
            corrected_us: Some(us(corrected)),
        });
    }
    if let Some(kind) = failure {
        c.failures += 1;
        *c.errors.entry(kind).or_default() += 1;
    } else if measured {
        record_clamped(&mut c.latency, us(service));
        record_clamped(&mut c.corrected, us(corrected));
    }
}

/// One request on a fresh connection from `local`.
async fn request(local: IpAddr, target: SocketAddr, url: &str, user_header: &str) -> Answer {
    match send(local, target, url, user_header).await {
        Ok(a) => a,
        Err(()) => Answer::Failed("transport"),
    }
}

async fn send(
    local: IpAddr,
    target: SocketAddr,
    url: &str,
    user_header: &str,
) -> Result<Answer, ()> {
    let uri: Uri = url.parse().map_err(|_| ())?;
    let host = uri.authority().map(|a| a.as_str().to_owned()).ok_or(())?;
    let socket = TcpSocket::new_v4().map_err(|_| ())?;
    socket.bind(SocketAddr::new(local, 0)).map_err(|_| ())?;
    let stream = socket.connect(target).await.map_err(|_| ())?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ())?;
    let conn = tokio::spawn(conn);
    let req = Request::get(uri)
        .header(http::header::HOST, host)
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|_| ())?;
    let resp = sender.send_request(req).await.map_err(|_| ())?;
    let head = Instant::now();
    let status = resp.status();
    let reached = resp.headers().contains_key("x-echo-reached");
    let echoed = format!("x-echo-{user_header}");
    let user = resp
        .headers()
        .get(echoed.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    resp.into_body().collect().await.map_err(|_| ())?;
    let _ = conn.await;
    Ok(Answer::Got {
        status,
        reached,
        user,
        head,
    })
}
