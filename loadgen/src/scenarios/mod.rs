//! The Goose scenarios: one per kind of traffic a school sends through the proxy.
//!
//! Every scenario checks the answer it gets (a wrong answer is a failure, not
//! just a slow one) and records each request's time to first and last byte in
//! microseconds ([`crate::record`]). A simulated user takes an identity from
//! the roster in its on-start transaction and gets its own HTTP client: the
//! proxy with that user's `Proxy-Authorization`, trusting the origin's CA.

pub mod browse_allowed;
pub mod browse_blocked;
pub mod cors_xhr;
pub mod exchange;
pub mod https_tunnel;
pub mod identity_check;
pub mod large_download;
mod user;

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use goose::prelude::*;

use crate::corpus::Corpus;
use crate::mix::Mix;
use crate::record::{RunClock, Sample};
use crate::roster::Roster;

pub use user::UserState;

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

/// Wraps `$f(&ctx, user)` into a Goose transaction holding the shared context.
macro_rules! with_ctx {
    ($ctx:expr, $f:path) => {{
        let ctx = Arc::clone($ctx);
        Transaction::new(Arc::new(move |user: &mut GooseUser| {
            let ctx = Arc::clone(&ctx);
            Box::pin(async move { $f(&ctx, user).await })
        }))
    }};
}

/// The scenario names that run on `route` (the others need the proxy).
pub fn runnable(name: &str, proxied: bool) -> bool {
    proxied || !matches!(name, "browse_blocked" | "identity_check")
}

/// Builds the weighted Goose scenarios of a mix.
pub fn build(ctx: &Arc<RunContext>, mix: &Mix) -> Result<Vec<Scenario>, GooseError> {
    let mut out = Vec::new();
    for (name, weight) in &mix.weights {
        if *weight == 0 || !runnable(name, ctx.proxied()) {
            continue;
        }
        let main = match name.as_str() {
            "browse_allowed" => with_ctx!(ctx, browse_allowed::run),
            "browse_blocked" => with_ctx!(ctx, browse_blocked::run),
            "https_tunnel" => with_ctx!(ctx, https_tunnel::run),
            "cors_xhr" => with_ctx!(ctx, cors_xhr::run),
            "identity_check" => with_ctx!(ctx, identity_check::run),
            "large_download" => with_ctx!(ctx, large_download::run),
            _ => continue,
        };
        let mut scenario = Scenario::new(name)
            .set_weight(*weight as usize)?
            .register_transaction(with_ctx!(ctx, user::start).set_name("start").set_on_start())
            .register_transaction(main.set_name(name));
        if ctx.pace_interval.is_none() && mix.think_max > Duration::ZERO {
            scenario = scenario.set_wait_time(mix.think_min, mix.think_max)?;
        }
        out.push(scenario);
    }
    Ok(out)
}
