//! `filter_proxy`: the web-filtering forward proxy that the suite measures.
//!
//! # Layout
//! - [`filter`]: the category database (domain and path-prefix rules -> category).
//! - [`policy`]: per-group policies and the allow/block decision.
//! - [`identity`]: who sent a request (Basic auth, trusted header, client IP).
//! - [`tunnel`]: CONNECT tunnels, SNI peeking, byte splicing.
//! - [`admin`]: health, readiness, metrics and profiling endpoints.
//! - [`config`]: the config file, raw -> validated (all problems collected, with key and line).
//! - [`server`]: accept loop, connection limit, per-connection hyper setup, graceful drain.
//! - [`forward`]: one request: framing check, routing, identity, decision, header rewrite.
//! - [`pool`] and [`upstream`]: pooled keep-alive connections to origins; resolve + connect.
//! - [`respond`]: every locally generated response (errors, block pages) in one place.
//! - [`body`]: the streamed response body type.
//! - [`metrics`] and [`reload`]: Prometheus metrics; atomic policy snapshot swaps.
//! - [`access_log`]: one structured line per request and tunnel, written off the hot path.
//!
//! See `ARCHITECTURE.md` for the flow of a request.

pub mod access_log;
pub mod admin;
pub mod appliance;
pub(crate) mod audit;
pub mod body;
pub mod config;
pub mod demo;
pub mod duration;
pub mod error;
pub mod filter;
pub mod forward;
pub mod framing;
pub mod headers;
pub mod identity;
pub mod metrics;
pub mod policy;
pub mod pool;
pub mod proxy_protocol;
pub mod reload;
pub mod respond;
pub mod server;
#[cfg(feature = "gate-selftest")]
pub mod slowdown;
pub(crate) mod state;
pub mod store;
pub(crate) mod target;
pub mod tunnel;
pub mod upstream;
