//! One client request, from head to response head: framing check, routing (absolute-form
//! forward, CONNECT handed to [`crate::tunnel`], or refusal), identity and policy through
//! `state::resolve`, the block response or the header rewrite, and the upstream
//! exchange through the pool (`send`). Every failure becomes a [`ProxyError`] and is
//! turned into a response in [`crate::respond`]; metrics and the access-log line are
//! recorded here for both paths.

mod send;

use std::sync::Arc;
use std::time::Instant;

use http::uri::Authority;
use http::{Method, Request, Response, Uri};
use hyper::body::Incoming;

use crate::audit::{self, Facts};
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::DecisionLabel;
use crate::policy::Decision;
use crate::state::{self, ClientCtx, Shared};
use crate::{framing, headers, respond, target, tunnel};

use send::send;

/// Handles one request; never fails (errors become responses).
pub(crate) async fn handle(
    shared: Arc<Shared>,
    client: Arc<ClientCtx>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let start = Instant::now();
    // The self-test slowdown runs inside the timed span, as a slower request path would:
    // the proxy's own latency histogram (what a canary judge reads) sees it too.
    #[cfg(feature = "gate-selftest")]
    {
        let delay = crate::slowdown::per_request(crate::slowdown::RequestPath::of(req.method()));
        crate::slowdown::delay(delay).await;
    }
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

async fn route(
    shared: &Arc<Shared>,
    client: &Arc<ClientCtx>,
    req: Request<Incoming>,
    facts: Option<&mut Facts>,
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
        return tunnel::connect::handle(shared, client, req, facts).await;
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
    let (identity, policy) = match state::resolve(shared, &snapshot, req.headers(), client).await {
        Ok(resolved) => resolved,
        // A preflight is never challenged (browsers send it without credentials): it
        // gets the grant and the request it announces meets the 407 if it has none.
        // Counted as allowed: the proxy let it pass. Only the 407 path pays this check.
        Err(ProxyError::AuthRequired(_))
            if respond::RequestKind::of(req.method(), req.headers())
                == respond::RequestKind::Preflight =>
        {
            let resp = respond::unauthenticated_preflight(req.headers());
            return Ok((DecisionLabel::Allowed, resp));
        }
        Err(e) => return Err(e),
    };
    let decision = policy.decide_target(&snapshot.db, &target.host, target.ip, uri.path());
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

/// The origin-form target (`/path?query`) of an absolute-form URI.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) if !pq.as_str().is_empty() => Uri::from(pq.clone()),
        _ => Uri::from_static("/"),
    }
}
