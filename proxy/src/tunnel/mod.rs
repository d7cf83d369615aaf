//! CONNECT tunnels: after the proxy has answered `200 Connection Established`, peek the
//! client's TLS ClientHello for its SNI, refuse domain fronting, then splice bytes both
//! ways with correct half-close and an idle timeout.
//!
//! The proxy does not decrypt. The CONNECT authority was already checked by the caller;
//! the SNI is checked here because a client can CONNECT to an allowed host and then ask
//! that host's CDN for a blocked one (domain fronting). The hello is read with a byte and
//! a time bound, and nothing is forwarded until it has been judged, so a blocked tunnel
//! never sends a byte upstream.
//!
//! Streams that do not start like TLS follow [`NonTlsPolicy`]. Streams that start like
//! TLS but whose ClientHello cannot be read (malformed, larger than `hello_max_bytes`,
//! cut short, or too slow) are always closed: otherwise padding a hello past the limit
//! would bypass the SNI check.
//!
//! Where each piece lives: `connect` answers a CONNECT request (decision, upstream
//! connect, `200`, parking the tunnel); `transparent` takes TLS an appliance intercepted;
//! both run their tunnel through `guard`, which judges the SNI against the client's policy
//! and counts and logs the tunnel; `run` peeks the ClientHello (`hello`) and splices
//! (`splice`). The settings are the config's `[tunnel]` section; the slot a CONNECT parks
//! its tunnel in belongs to the connection context (`state`).

pub(crate) mod connect;
pub(crate) mod guard;
mod hello;
mod run;
mod splice;
pub(crate) mod transparent;

pub use crate::config::{NonTlsPolicy, TunnelSettings};
pub use hello::{inspect, Hello};
pub use run::{run, TunnelOutcome};
pub use splice::{splice, SpliceEnd, SpliceResult, BUFFER_SIZE};
