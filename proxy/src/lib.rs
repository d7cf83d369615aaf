//! `filter_proxy`: the web-filtering forward proxy that the suite measures.
//!
//! # Layout
//! Listed from the bottom up: a module imports only from modules listed above it (and no
//! file imports from one that imports it; `tests/module_graph.rs` checks both).
//!
//! Foundations:
//! - [`duration`]: duration strings in config files.
//! - [`filter`]: the category database (domain and path-prefix rules -> category).
//! - [`policy`]: per-group policies and the allow/block decision.
//! - [`identity`]: who sent a request (Basic auth, trusted header, client IP).
//! - [`demo`]: the seeded generator of the demo categories, policies and users.
//! - [`reload`]: the category + policy snapshot and its atomic swap.
//! - [`store`]: identity and policy lookups, from the embedded files or Redis (TTL cache,
//!   single flight, breaker, fail mode).
//!
//! Plumbing:
//! - [`metrics`]: Prometheus metrics with pre-resolved label sets (and the label enums).
//! - [`access_log`]: one structured line per request and tunnel, written off the hot path.
//! - [`error`]: every way a request fails ([`error::ProxyError`]) and whose fault it was.
//! - [`proxy_protocol`]: PROXY protocol v2 with HMAC-signed identity TLVs (both sides); the
//!   `proxy-protocol` crate, re-exported.
//! - [`config`]: the config file, raw -> validated (all problems collected, with key and
//!   line); owns the `[tunnel]` and `[admin]` section types.
//! - [`pool`] and [`upstream`]: pooled keep-alive connections to origins; resolve + connect.
//! - [`body`]: the streamed response body type.
//! - [`respond`]: every locally generated response: error -> status and body, block pages.
//! - [`framing`]: the CL+TE smuggling check (a message-boundary tracker fed by the socket).
//! - [`headers`]: hop-by-hop stripping, `Via`, identity and forwarding headers.
//! - `target`: the request target canonicalised (userinfo, ports, every IP spelling).
//! - `audit`: what the access log records of one request, gathered while it is routed.
//! - `slowdown`: a test-only slowdown for the release gate's self-test (cargo feature
//!   `gate-selftest`).
//!
//! The request path:
//! - `state`: the running state, the per-connection context (with the slot a CONNECT
//!   parks its tunnel in) and the one identity + policy lookup per request.
//! - [`tunnel`]: CONNECT, transparently intercepted TLS, SNI peeking, byte splicing.
//! - [`forward`]: one request: framing check, routing, decision, block or header rewrite,
//!   upstream exchange; metrics and the access-log line for both paths.
//! - [`admin`]: health, readiness, metrics, reload and profiling endpoints.
//! - [`server`]: accept loop, connection limit, PROXY v2 ingress, per-connection hyper
//!   setup, graceful drain.
//!
//! The on-premise appliance is the `appliance` crate: the binary runs it as
//! `filter-proxy appliance`, it uses only [`proxy_protocol`], and nothing in this crate
//! uses it.
//!
//! See `ARCHITECTURE.md` for the flow of a request.

pub mod access_log;
pub mod admin;
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

/// PROXY protocol v2 with signed identity, its own crate (`proxy-protocol`) since both the
/// cloud proxy and the appliance use it; re-exported so both reach it by one path.
pub use proxy_protocol;
