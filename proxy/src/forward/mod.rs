//! One client request, from head to response head: framing check, routing (absolute-form
//! forward, CONNECT, or refusal), identity, policy decision, header rewrite, and the
//! upstream exchange through the pool. Every failure becomes a [`ProxyError`] and is
//! turned into a response in [`crate::respond`].

pub(crate) mod audit;
pub(crate) mod connect;
pub mod headers;
pub(crate) mod target;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use http::uri::Authority;
use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::filter::CategoryDb;
use crate::identity::{Identity, IdentitySource};
use crate::metrics::DecisionLabel;
use crate::policy::{Decision, Policy};
use crate::reload::Snapshot;
use crate::respond;
use crate::server::framing;
use crate::server::state::{ApplianceInfo, ClientCtx, Shared};
use crate::store::Verdict;
use crate::upstream;

/// Handles one request; never fails (errors become responses).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    client: Arc<ClientCtx>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let start = Instant::now();
    // Only the debug log line needs the target after the request is consumed.
    let logged =
        tracing::enabled!(tracing::Level::DEBUG).then(|| (req.method().clone(), req.uri().clone()));
    let mut facts = audit::Facts::start(&shared.access_log, &req, start);
    let (decision, mut resp, error) = match route(&shared, &client, req, facts.as_mut()).await {
        Ok((decision, resp)) => (decision, resp, None),
        Err(e) => {
            if let Some(kind) = e.upstream_kind() {
                shared.metrics.upstream_error(kind);
            }
            if let Some(kind) = e.client_kind() {
                shared.metrics.client_error(kind);
            }
            (DecisionLabel::Error, e.response(), Some(e))
        }
    };
    let elapsed = start.elapsed();
    shared
        .metrics
        .record_request(decision, resp.status().as_u16(), elapsed);
    // A tunnel writes its own line when it closes (with its bytes and SNI).
    if let Some(mut facts) = facts.filter(|f| !f.tunnel) {
        let entry = facts.entry(
            client.client_ip,
            decision,
            resp.status().as_u16(),
            error.as_ref(),
        );
        audit::record(&shared.access_log, start, entry, &mut resp);
    }
    if let Some((method, uri)) = logged {
        // The one log line per request, at debug level.
        tracing::debug!(
            %method,
            %uri,
            status = resp.status().as_u16(),
            decision = ?decision,
            micros = elapsed.as_micros() as u64,
            error = error.as_ref().map(tracing::field::display),
            fault = error.as_ref().map(|e| tracing::field::debug(e.fault())),
            "request"
        );
    }
    resp
}

/// The policy's decision for a canonical target (an IP-address host goes by the
/// group's `ip_literals` rule) and the path as sent.
pub(crate) fn decide(
    policy: &Policy,
    db: &CategoryDb,
    host: &str,
    ip: Option<IpAddr>,
    path: &str,
) -> Decision {
    match ip {
        Some(ip) => policy.decide_ip(db, ip, host, path),
        None => policy.decide(db, host, path),
    }
}

async fn route(
    shared: &Arc<Shared>,
    client: &Arc<ClientCtx>,
    req: Request<Incoming>,
    facts: Option<&mut audit::Facts>,
) -> Result<(DecisionLabel, Response<ProxyBody>), ProxyError> {
    if let Some(window) = &client.window {
        if framing::has_content_length_too(window, &req) {
            return Err(ProxyError::Framing(
                "both Content-Length and Transfer-Encoding present",
            ));
        }
    }
    if req
        .headers()
        .get_all(http::header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        // RFC 9112 §3.2: more than one Host is a 400; which one would the origin read?
        return Err(ProxyError::BadRequest("more than one Host header"));
    }
    if headers::names_us(req.headers(), &shared.via) {
        return Err(ProxyError::Loop);
    }
    if req.method() == Method::CONNECT {
        return connect::handle(shared, client, req, facts).await;
    }
    let uri = req.uri().clone();
    let transparent = client.appliance.as_ref().is_some_and(|a| a.transparent);
    let authority = match (uri.scheme_str(), transparent) {
        (Some("http"), _) => uri
            .authority()
            .cloned()
            .ok_or(ProxyError::BadRequest("absolute-form URL without a host"))?,
        // Intercepted transparently: origin-form is expected; the target is in Host.
        (None, true) => req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| Authority::try_from(h.as_bytes()).ok())
            .ok_or(ProxyError::BadRequest(
                "intercepted request without a valid Host",
            ))?,
        (None, false) => return Err(ProxyError::OriginForm),
        (Some(_), _) => {
            return Err(ProxyError::BadRequest(
                "only http:// URLs are proxied in absolute form; use CONNECT for https",
            ))
        }
    };
    let target = target::parse(&authority, Some(80))?;

    let snapshot = shared.reloader.current();
    let (identity, policy) = resolve(shared, &snapshot, req.headers(), client).await?;
    let decision = decide(&policy, &snapshot.db, &target.host, target.ip, uri.path());
    if let Some(facts) = facts {
        facts.identity(&identity);
        facts.decision(&snapshot, &decision);
    }
    if let Decision::Block(reason) = decision {
        let resp = respond::block(
            &snapshot.db,
            &reason,
            req.method(),
            req.headers(),
            &target.host,
        );
        return Ok((DecisionLabel::Blocked, resp));
    }

    let (mut parts, body) = req.into_parts();
    shared
        .rewrite
        .apply(&mut parts.headers, &authority, &client.values, &identity);
    parts.uri = origin_form(&uri);
    parts.version = http::Version::HTTP_11;
    let resp = send(
        shared,
        &target.host,
        target.port,
        Request::from_parts(parts, body),
    )
    .await?;
    Ok((DecisionLabel::Allowed, resp))
}

/// Who sent the request and the policy that applies, from the store (one call per
/// request); a fail-closed store that cannot answer refuses the request.
pub(crate) async fn resolve(
    shared: &Shared,
    snapshot: &Snapshot,
    headers: &http::HeaderMap,
    client: &ClientCtx,
) -> Result<(Identity, Arc<Policy>), ProxyError> {
    if let Some(identity) = client
        .appliance
        .as_ref()
        .and_then(|a| appliance_identity(shared, a))
    {
        shared.metrics.identity(identity.source);
        let policy = snapshot.policies.for_group(&identity.group).clone();
        return Ok((identity, policy));
    }
    let resolution = shared
        .store
        .resolve(
            &shared.resolver,
            headers,
            client.client_ip,
            &snapshot.policies,
            &snapshot.db,
        )
        .await;
    shared.metrics.identity(resolution.identity.source);
    match resolution.verdict {
        Verdict::Decide(policy) | Verdict::FailOpen(policy) => Ok((resolution.identity, policy)),
        Verdict::FailClosed => Err(ProxyError::FilteringUnavailable),
    }
}

/// The identity a verified appliance header vouches for: its group, or the group of its
/// user in the user table (the default group for an unknown user). None when the header
/// named nobody, so the usual sources (client IP = the header's source) apply.
fn appliance_identity(shared: &Shared, appliance: &ApplianceInfo) -> Option<Identity> {
    let group = match (&appliance.group, &appliance.user) {
        (Some(group), _) => group.clone(),
        (None, Some(user)) => shared
            .resolver
            .user_group(user)
            .cloned()
            .unwrap_or_else(|| shared.resolver.unknown().group),
        (None, None) => return None,
    };
    Some(Identity {
        user: appliance.user.clone(),
        group,
        source: IdentitySource::TrustedHeader,
    })
}

/// The origin-form target (`/path?query`) of an absolute-form URI.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => Uri::from(pq.clone()),
        _ => Uri::from_static("/"),
    }
}

/// Whose fault a failed exchange was: a broken request body (hyper reports the client
/// connection's error as the "user body" error of the upstream exchange) is the
/// client's; anything else is the origin's.
fn upstream_or_client(e: hyper::Error) -> ProxyError {
    let from_client_body = e.is_user()
        && std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<hyper::Error>().is_some());
    if from_client_body {
        ProxyError::ClientBody(e)
    } else {
        ProxyError::Protocol(e)
    }
}

/// Sends `req` over a pooled connection; a request that never left because a reused
/// connection turned out dead is retried once on a fresh one.
async fn send(
    shared: &Shared,
    host: &str,
    port: u16,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let up = &shared.config.upstream;
    let mut retried = false;
    loop {
        let mut lease = shared
            .pool
            .acquire(host, port, || {
                upstream::connect(host, port, &up.resolve, up.connect_timeout)
            })
            .await?;
        let exchange = lease.sender().try_send_request(req);
        match tokio::time::timeout(up.response_header_timeout, exchange).await {
            Err(_) => return Err(ProxyError::ResponseTimeout),
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                headers::strip_hop_by_hop(&mut parts.headers);
                parts.headers.append(http::header::VIA, shared.via.clone());
                let body = ProxyBody::upstream(body, lease, None);
                return Ok(Response::from_parts(parts, body));
            }
            Ok(Err(mut e)) => match e.take_message() {
                Some(unsent) if lease.was_reused() && !retried => {
                    shared.metrics.pool.stale.inc();
                    retried = true;
                    req = unsent;
                }
                _ => return Err(upstream_or_client(e.into_error())),
            },
        }
    }
}
