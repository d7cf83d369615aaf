//! What the access log records of one request, gathered while it is routed: who sent it,
//! which group's policy applied, the target's category and the blocking rule. Gathered
//! only when the access log is on; then the allowed path costs a few reference-count
//! increments and no allocation.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use http::{Method, Request, Response, Uri};

use crate::access_log::{AccessLog, Entry};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::filter::CategoryId;
use crate::identity::Identity;
use crate::metrics::DecisionLabel;
use crate::policy::{BlockReason, Decision};
use crate::reload::Snapshot;

/// Facts about one request for its access-log line.
#[derive(Debug)]
pub(crate) struct Facts {
    wall: SystemTime,
    started: Instant,
    method: Method,
    uri: Uri,
    bytes_in: Option<u64>,
    user: Option<Arc<str>>,
    group: Option<Arc<str>>,
    category: Option<Arc<str>>,
    rule: Option<String>,
    /// A tunnel took the line over: it is written when the tunnel closes.
    pub tunnel: bool,
}

impl Facts {
    /// Facts for `req`, started at `started`; None when the log is off.
    pub fn start<B>(log: &AccessLog, req: &Request<B>, started: Instant) -> Option<Self> {
        log.enabled().then(|| Facts {
            wall: SystemTime::now(),
            started,
            method: req.method().clone(),
            uri: req.uri().clone(),
            bytes_in: body_length(req),
            user: None,
            group: None,
            category: None,
            rule: None,
            tunnel: false,
        })
    }

    /// Records who sent the request.
    pub fn identity(&mut self, identity: &Identity) {
        self.user = identity.user.clone();
        self.group = Some(identity.group.clone());
    }

    /// Records the decision's category and, for a block, its rule.
    pub fn decision(&mut self, snapshot: &Snapshot, decision: &Decision) {
        let category = |id: CategoryId| snapshot.db.category_shared(id);
        match decision {
            Decision::Allow { category: id } => self.category = id.and_then(category),
            Decision::Block(BlockReason::Category { category: id, rule }) => {
                self.category = category(*id);
                self.rule = Some(rule.clone());
            }
            Decision::Block(BlockReason::DenyList { entry }) => {
                self.category = Some(Arc::from("deny-list"));
                self.rule = Some(entry.clone());
            }
            Decision::Block(BlockReason::IpLiteral { address }) => {
                self.category = Some(Arc::from("ip-address"));
                self.rule = Some(address.clone());
            }
        }
    }

    /// The entry, as far as the response head tells (the facts are moved into it).
    pub fn entry(
        &mut self,
        client: std::net::IpAddr,
        decision: DecisionLabel,
        status: u16,
        error: Option<&ProxyError>,
    ) -> Entry {
        let head = self.started.elapsed();
        Entry {
            start: self.wall,
            client,
            user: self.user.take(),
            group: self.group.take(),
            method: std::mem::replace(&mut self.method, Method::GET),
            uri: std::mem::take(&mut self.uri),
            category: self.category.take(),
            rule: self.rule.take(),
            decision,
            status,
            bytes_in: self.bytes_in,
            bytes_out: 0,
            head,
            total: head,
            sni: None,
            error: error.map(ProxyError::label),
        }
    }

    /// When the request started (for the line's total duration).
    pub fn started(&self) -> Instant {
        self.started
    }
}

/// Sends the line of a finished response head: now for a local body, when the body ends
/// for a streamed one.
pub(crate) fn record(
    log: &AccessLog,
    started: Instant,
    entry: Entry,
    resp: &mut Response<ProxyBody>,
) {
    match resp.body_mut() {
        ProxyBody::Upstream { log: pending, .. } => {
            *pending = log.pending(entry, started);
        }
        ProxyBody::Local(full) => {
            let mut entry = entry;
            entry.bytes_out = http_body::Body::size_hint(full).exact().unwrap_or(0);
            log.send(entry);
        }
    }
}

/// The request body's length from `Content-Length` (0 without a body; None when chunked).
fn body_length<B>(req: &Request<B>) -> Option<u64> {
    match req.headers().get(http::header::CONTENT_LENGTH) {
        Some(v) => v.to_str().ok().and_then(|v| v.parse().ok()),
        None if req.headers().contains_key(http::header::TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}
