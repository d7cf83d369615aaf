//! Proxy configuration: raw TOML ([`raw`]) -> validated [`Config`] ([`validate`]) -> the
//! running server state (built by [`crate::server::serve`]).
//!
//! Validation collects every problem instead of stopping at the first one, naming the key
//! (and the line, found in the source text) so that `filter-proxy check-config` can print
//! a complete list. The category database, policy and user table named by the config are
//! loaded here too, so a config that validates is one the proxy can start with.

pub mod admin;
mod checker;
mod load;
mod problem;
pub mod raw;
mod settings;
mod tunnel;
mod validate;

pub use crate::duration::parse_duration;
pub use problem::{ConfigError, Problem};
pub use settings::{
    Config, FilterSettings, ForwardSettings, LogFormat, LogSettings, ResolveOverrides,
    ServerSettings, UpstreamSettings,
};
pub use tunnel::{NonTlsPolicy, TunnelSettings};
