//! The state the request path shares, in a module of its own so that the server, the HTTP
//! path ([`crate::forward`]) and the tunnel path ([`crate::tunnel`]) all read it without
//! importing one another: the running proxy's [`Shared`] state, the per-connection
//! [`ClientCtx`], and the one lookup both paths make per request, who is asking and under
//! which policy ([`resolve`]).

mod client;
mod resolve;
mod shared;
mod tunnel_slot;

pub(crate) use client::{ApplianceInfo, ClientCtx};
pub(crate) use resolve::resolve;
pub use shared::ServeError;
pub(crate) use shared::{until_set, Shared};
