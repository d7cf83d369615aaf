//! What the scenarios share during a run: the route, the corpus, the roster, the clock
//! and the channel to the aggregator.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::corpus::Corpus;
use crate::record::{RunClock, Sample};
use crate::roster::Roster;

/// How the users reach the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Through the forward proxy at this address.
    Proxy(SocketAddr),
    /// Straight to the origin (no filtering, no identity): measures the load
    /// generator and origin alone; scenarios that need the proxy are skipped.
    Direct,
}

/// Everything the scenarios share during a run (read-only but for counters).
#[derive(Debug)]
pub struct RunContext {
    /// How requests travel.
    pub route: Route,
    /// URLs.
    pub corpus: Corpus,
    /// Identities.
    pub roster: Roster,
    /// Origin CA (PEM) the clients trust.
    pub ca_pem: Vec<u8>,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Origin of the page making cross-origin requests.
    pub cors_origin: http::HeaderValue,
    /// Time between two transactions of one user when paced to a target rate.
    pub pace_interval: Option<Duration>,
    /// The run's time origin.
    pub clock: RunClock,
    /// Where user recorders send samples.
    pub samples: Sender<Vec<Sample>>,
    /// Next roster position to hand out.
    pub next_identity: AtomicUsize,
}

impl RunContext {
    /// Whether requests go through the proxy.
    pub fn proxied(&self) -> bool {
        matches!(self.route, Route::Proxy(_))
    }
}
