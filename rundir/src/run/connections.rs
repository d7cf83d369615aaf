//! The connection-storm results of a run (`run.json` → `connections`, written by runs of
//! the `connections` profile): how fast the proxy accepted a school's worth of devices
//! connecting at once, what the active users saw meanwhile, what the connection cap
//! refused, and what each idle connection costs the proxy.
//!
//! Costs are least-squares slopes over (open connections, value) samples taken while the
//! connections were opened and held, each with its 95% interval: a single before/after
//! ratio hides how noisy the reading was, a slope with an interval says it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::latency::Percentiles;

/// The `connections` object of `run.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ConnectionResults {
    /// Idle keep-alive connections: each one GET of 1 KiB, then idle.
    #[serde(default)]
    pub keep_alive: Option<ConnectionKind>,
    /// Idle CONNECT tunnels: TLS handshake with the origin through the tunnel, then idle.
    #[serde(default)]
    pub tunnel: Option<ConnectionKind>,
    /// The active browsing users during the storm (ramps and hold).
    #[serde(default)]
    pub active: Option<ActiveUsers>,
    /// Connections attempted beyond the proxy's connection cap.
    #[serde(default)]
    pub refusals: Option<Refusals>,
    /// Most client connections the proxy reported open at once.
    #[serde(default)]
    pub peak_connections: Option<u64>,
    /// The proxy's `server.max_connections` during the run.
    #[serde(default)]
    pub connection_cap: Option<u64>,
    /// The file holding every (time, connections, heap, RSS, fds) sample, relative to the
    /// run directory.
    #[serde(default)]
    pub samples_file: Option<String>,
}

/// One kind of idle connection: how it was opened and what each one costs.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ConnectionKind {
    /// Connections the plan opens.
    pub planned: u64,
    /// Connections that reached their idle state.
    pub opened: u64,
    /// Connections that failed on the way (connect, answer, handshake).
    pub failed: u64,
    /// Seconds from the first connect to the last connection idle.
    pub ramp_s: f64,
    /// Connections made idle per second over the ramp (`opened / ramp_s`).
    pub accept_rate_per_s: f64,
    /// Time to establish one connection (connect to idle), µs.
    #[serde(default)]
    pub establish_us: Option<Percentiles>,
    /// Live heap (jemalloc `allocated`) per connection, bytes.
    #[serde(default)]
    pub heap_bytes: Option<Slope>,
    /// Resident set size per connection, bytes.
    #[serde(default)]
    pub rss_bytes: Option<Slope>,
    /// Open file descriptors per connection.
    #[serde(default)]
    pub fds: Option<Slope>,
}

/// A least-squares slope of a value over the open connection count.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Slope {
    /// The slope: the value's change per connection.
    pub per_connection: f64,
    /// Lower end of its 95% interval.
    pub lower: f64,
    /// Upper end of its 95% interval.
    pub upper: f64,
    /// Samples it rests on.
    pub samples: u64,
    /// Coefficient of determination of the fit.
    pub r_squared: f64,
}

/// The active users measured during the storm.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct ActiveUsers {
    /// Users, each on its own keep-alive connection.
    pub users: u64,
    /// Requests answered 200 with the whole body.
    pub requests: u64,
    /// Requests that failed (error, other status, short body).
    pub failures: u64,
    /// Latency of the answered requests, µs.
    #[serde(default)]
    pub latency_us: Option<Percentiles>,
}

/// Connections beyond the cap: each should get the proxy's 503 at once.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct Refusals {
    /// Connections attempted while the cap was full.
    pub attempted: u64,
    /// Of those, answered with the proxy's 503 refusal.
    pub refused: u64,
    /// Of those, served instead (the cap let them in).
    pub served: u64,
    /// Of those, closed or failed without an answer.
    pub failed: u64,
    /// The proxy's own count of refusals (`client_connections_refused`) at the end.
    #[serde(default)]
    pub proxy_counted: Option<u64>,
}
