//! One access-log entry: the plain values and shared pointers a request (or tunnel) hands
//! to the writer.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{Method, Uri};

use crate::metrics::DecisionLabel;

/// What a line records. Built on the request path from values the request already has.
#[derive(Debug)]
pub struct Entry {
    /// When the request (or tunnel) started.
    pub start: SystemTime,
    /// The client's address (the PROXY header's source behind an appliance).
    pub client: IpAddr,
    /// The authenticated user, when known.
    pub user: Option<Arc<str>>,
    /// The group whose policy applied, when resolved.
    pub group: Option<Arc<str>>,
    /// The request method (`CONNECT` for tunnels).
    pub method: Method,
    /// The target as requested (absolute-form URL, or `host:port` for CONNECT).
    pub uri: Uri,
    /// The category of the target, when the database knows it.
    pub category: Option<Arc<str>>,
    /// The rule or list entry that blocked the request.
    pub rule: Option<String>,
    /// Allowed, blocked or error.
    pub decision: DecisionLabel,
    /// The status sent to the client.
    pub status: u16,
    /// Request body bytes from the client (its `Content-Length`; None when chunked);
    /// for tunnels, bytes client to origin.
    pub bytes_in: Option<u64>,
    /// Response body bytes to the client; for tunnels, bytes origin to client.
    pub bytes_out: u64,
    /// Time to the response head (for tunnels, to the 200).
    pub head: Duration,
    /// Time until the response body (or tunnel) ended.
    pub total: Duration,
    /// The TLS SNI a tunnel carried.
    pub sni: Option<String>,
    /// Why the request failed (an error's kind), for errors.
    pub error: Option<&'static str>,
}
