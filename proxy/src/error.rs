//! Every way a request can fail inside the proxy ([`ProxyError`]), whose fault each one
//! was, and the metric each one is counted under.
//!
//! The response a client sees for each error (status, body, `Connection` and
//! `Retry-After`) is decided in one place, [`crate::respond`]; this module only names and
//! classifies failures, so the pool, the resolver and the target parser can return them
//! without depending on how responses are built.

use crate::metrics::{ClientErrorKind, UpstreamErrorKind};

/// Whose fault a failed request was; logged, and used to pick the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The client sent something the proxy refuses.
    Downstream,
    /// The origin (or the path to it) failed.
    Upstream,
    /// The proxy itself (capacity, bug).
    Ours,
}

/// Every way a request can fail inside the proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Malformed or unsupported request.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// Ambiguous message framing (request smuggling risk); the connection is closed.
    #[error("ambiguous framing: {0}")]
    Framing(&'static str),
    /// An origin-form request: the client talked to the proxy as if it were the origin.
    #[error("origin-form request to the proxy")]
    OriginForm,
    /// The request already passed through this proxy (its `Via` names us): a forwarding loop.
    #[error("forwarding loop: the request already passed through this proxy")]
    Loop,
    /// Upstream name resolution failed.
    #[error("cannot resolve {host}: {detail}")]
    Resolve {
        /// The host.
        host: String,
        /// Resolver message.
        detail: String,
    },
    /// Upstream TCP connect failed.
    #[error("cannot connect upstream: {0}")]
    Connect(std::io::Error),
    /// Upstream TCP connect timed out.
    #[error("upstream connect timed out")]
    ConnectTimeout,
    /// The origin sent no response head in time.
    #[error("upstream response timed out")]
    ResponseTimeout,
    /// The origin broke the exchange.
    #[error("upstream failed: {0}")]
    Protocol(hyper::Error),
    /// The client's request body broke off or was malformed (bad chunked encoding, a
    /// body shorter than its length) while it was being forwarded: the client's fault.
    #[error("request body: {0}")]
    ClientBody(hyper::Error),
    /// No upstream connection became free within the acquire timeout.
    #[error("upstream connection pool exhausted")]
    PoolExhausted,
    /// No identity source identified the client and `identity.require_auth` is on: a 407
    /// carrying this `Proxy-Authenticate` challenge (the configured Basic realm).
    #[error("proxy authentication required")]
    AuthRequired(http::HeaderValue),
    /// The policy store cannot answer and fails closed: nothing is forwarded unfiltered.
    #[error("filtering is temporarily unavailable; try again shortly")]
    FilteringUnavailable,
}

impl ProxyError {
    /// Whose fault it was.
    pub fn fault(&self) -> Fault {
        match self {
            ProxyError::BadRequest(_)
            | ProxyError::Framing(_)
            | ProxyError::OriginForm
            | ProxyError::ClientBody(_)
            | ProxyError::Loop
            | ProxyError::AuthRequired(_) => Fault::Downstream,
            ProxyError::PoolExhausted | ProxyError::FilteringUnavailable => Fault::Ours,
            _ => Fault::Upstream,
        }
    }

    /// The upstream error kind for metrics, when the origin side failed.
    pub fn upstream_kind(&self) -> Option<UpstreamErrorKind> {
        Some(match self {
            ProxyError::Resolve { .. } => UpstreamErrorKind::Resolve,
            ProxyError::Connect(_) => UpstreamErrorKind::Connect,
            ProxyError::ConnectTimeout => UpstreamErrorKind::ConnectTimeout,
            ProxyError::ResponseTimeout => UpstreamErrorKind::ResponseTimeout,
            ProxyError::Protocol(_) => UpstreamErrorKind::Protocol,
            ProxyError::PoolExhausted => UpstreamErrorKind::PoolExhausted,
            _ => return None,
        })
    }

    /// The client error kind for metrics, when the client was at fault.
    pub fn client_kind(&self) -> Option<ClientErrorKind> {
        Some(match self {
            ProxyError::BadRequest(_) => ClientErrorKind::BadRequest,
            ProxyError::Framing(_) => ClientErrorKind::Framing,
            ProxyError::OriginForm => ClientErrorKind::OriginForm,
            ProxyError::Loop => ClientErrorKind::Loop,
            ProxyError::ClientBody(_) => ClientErrorKind::Body,
            ProxyError::AuthRequired(_) => ClientErrorKind::AuthRequired,
            _ => return None,
        })
    }

    /// A short stable name of this error's kind, for logs.
    pub fn label(&self) -> &'static str {
        match (self.client_kind(), self.upstream_kind()) {
            (Some(kind), _) => kind.label(),
            (_, Some(kind)) => kind.label(),
            _ => "filtering_unavailable",
        }
    }
}
