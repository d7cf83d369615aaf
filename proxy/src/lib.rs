//! `filter_proxy`: the web-filtering forward proxy that the suite measures.
//!
//! # Layout
//! - [`filter`]: the category database (domain and path-prefix rules -> category).
//! - [`policy`]: per-group policies and the allow/block decision.
//! - [`identity`]: who sent a request (Basic auth, trusted header, client IP).
//! - [`tunnel`]: CONNECT tunnels, SNI peeking, byte splicing.
//! - [`admin`]: health, readiness, metrics and profiling endpoints.
//!
//! The rest (config, server, forwarding, pool, metrics, reload) is added by the
//! server modules; see `ARCHITECTURE.md` for the flow of a request.

pub mod admin;
pub mod filter;
pub mod identity;
pub mod policy;
pub mod proxy_protocol;
pub mod tunnel;
