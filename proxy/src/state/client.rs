//! What every request of one client connection shares: who the client is (its address,
//! or what a verified appliance said about it), the framing tracker's record of its bytes,
//! the forwarded header values fixed for it, and the slot a CONNECT parks its tunnel in.
//! Built once per connection by the server, read by the HTTP and tunnel paths alike.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::framing::SharedWindow;
use crate::headers::ClientValues;
use crate::proxy_protocol::ProxiedIdentity;

use super::tunnel_slot::TunnelSlot;

/// Per-connection context handed to every request of that connection.
#[derive(Debug)]
pub(crate) struct ClientCtx {
    /// The TCP peer (an appliance, when a PROXY header was accepted).
    pub peer: SocketAddr,
    /// The client's address: the PROXY header's source, else the peer's.
    pub client_ip: IpAddr,
    /// What a verified appliance said about this connection, if one did.
    pub appliance: Option<ApplianceInfo>,
    /// Recent bytes read, for the framing check (None when `strict_framing` is off).
    pub window: Option<SharedWindow>,
    /// Where a CONNECT request parks its tunnel until hyper releases the socket.
    pub tunnel: TunnelSlot,
    /// Forwarded header values fixed for this connection (built once, cloned per request).
    pub values: ClientValues,
}

/// A verified PROXY v2 header's identity, converted once per connection.
#[derive(Debug)]
pub(crate) struct ApplianceInfo {
    /// The user the appliance authenticated.
    pub user: Option<Arc<str>>,
    /// The group the appliance authenticated.
    pub group: Option<Arc<str>>,
    /// Intercepted transparently: the stream carries origin-form HTTP (or TLS) for
    /// `destination`, not proxy requests.
    pub transparent: bool,
    /// The client's original destination.
    pub destination: SocketAddr,
}

impl From<ProxiedIdentity> for ApplianceInfo {
    fn from(p: ProxiedIdentity) -> Self {
        ApplianceInfo {
            user: p.user.map(Arc::from),
            group: p.group.map(Arc::from),
            transparent: p.transparent,
            destination: p.destination,
        }
    }
}
