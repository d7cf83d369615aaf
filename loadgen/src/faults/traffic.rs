//! Background traffic of a fault run: allowed browsing through the proxy at a fixed
//! offered rate (open loop), with every request kept as an event.
//!
//! The open-loop attack driver aggregates into histograms; a fault verdict needs more:
//! when each request started (inside or outside the fault window), its status (503
//! with or without `Retry-After`, 502, 504) and how long it waited. So this loop keeps
//! one small event per request, in a vector per connection (no shared lock), merged at
//! the end. Bounded: nothing is sent after the run's length plus a short grace.
//!
//! The schedule and the connections are the open-loop driver's ([`crate::schedule`],
//! [`crate::get_loop`]); this file owns the event and the sink that keeps it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;

use crate::corpus::Corpus;
use crate::get_loop::{self, Answer, Ending, GetTarget, Gets, Sink, TargetError};
use crate::schedule::{Schedule, Ticket};

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

/// Why the traffic could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// A corpus URL cannot be sent.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A connection task panicked.
    #[error("traffic task")]
    Task(#[from] tokio::task::JoinError),
}

/// Sends the traffic from `start` (an instant shared with the fault schedule) and
/// returns every event.
pub async fn run(plan: TrafficPlan, start: Instant) -> Result<TrafficResult, TrafficError> {
    let targets = Gets::targets(&plan.corpus, true)?;
    let schedule = Arc::new(Schedule::new(
        start,
        Some(plan.rate),
        plan.duration,
        Some(Duration::from_secs(2)),
    ));
    let gets = Arc::new(Gets {
        connect_to: plan.proxy,
        targets,
        corpus: plan.corpus,
        auth: Some(plan.auth),
        timeout: plan.request_timeout,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..plan.connections.max(1) {
        tasks.spawn(get_loop::connection_loop(
            Arc::clone(&schedule),
            Arc::clone(&gets),
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xFA17,
            Events {
                start,
                events: Vec::new(),
            },
        ));
    }
    let mut events = Vec::new();
    while let Some(done) = tasks.join_next().await {
        events.extend(done?.events);
    }
    events.sort_by_key(|e| e.start_us);
    Ok(TrafficResult {
        events,
        unsent: schedule.unsent(),
    })
}

/// The sink: one [`Event`] per request, kept per connection (no shared lock).
struct Events {
    start: Instant,
    events: Vec<Event>,
}

impl Sink for Events {
    fn record(&mut self, _: &Ticket, _: &GetTarget, answer: &Answer) {
        let (status, retry_after) = match answer.ending {
            Ending::Answered(s) => (s.as_u16(), answer.retry_after),
            Ending::Transport => (STATUS_TRANSPORT, false),
            Ending::Timeout => (STATUS_TIMEOUT, false),
        };
        self.events.push(Event {
            start_us: answer
                .sent
                .saturating_duration_since(self.start)
                .as_micros() as u64,
            latency_us: (answer.done - answer.sent).as_micros() as u64,
            status,
            retry_after,
        });
    }
}
