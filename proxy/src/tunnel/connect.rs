//! `CONNECT host:port`: categorised by host like any request (blocked -> 403 before any
//! upstream connect); allowed -> connect upstream, answer 200, and park the tunnel (run by
//! the connection task once hyper releases the socket). The tunnel checks the TLS SNI
//! against the same client's policy, so a fronted SNI is cut.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::audit::Facts;
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::DecisionLabel;
use crate::policy::Decision;
use crate::state::{self, ClientCtx, Shared};
use crate::{framing, respond, target, upstream};

use super::guard::run_tunnel;

/// Answers a CONNECT request (the caller has checked framing, `Host` and loops): blocked
/// -> 403; allowed -> upstream connected, `200`, and the tunnel parked in the client's
/// slot.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    client: &Arc<ClientCtx>,
    mut req: Request<Incoming>,
    mut facts: Option<&mut Facts>,
) -> Result<(DecisionLabel, Response<ProxyBody>), ProxyError> {
    let authority = req
        .uri()
        .authority()
        .cloned()
        .ok_or(ProxyError::BadRequest("CONNECT needs host:port"))?;
    let target = target::parse(&authority, None)?;
    let (host, ip, port) = (target.host.into_owned(), target.ip, target.port);

    let snapshot = shared.reloader.current();
    let (identity, policy) = state::resolve(shared, &snapshot, req.headers(), client).await?;
    let decision = policy.decide_target(&snapshot.db, &host, ip, "/");
    if let Some(facts) = facts.as_deref_mut() {
        facts.identity(&identity);
        facts.decision(&snapshot, &decision);
    }
    if let Decision::Block(reason) = decision {
        let resp = respond::block(&snapshot.db, &reason, req.method(), req.headers(), &host);
        return Ok((DecisionLabel::Blocked, resp));
    }

    let up = &shared.config.upstream;
    let upstream = upstream::connect(&host, port, &up.resolve, up.connect_timeout).await?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared_t = shared.clone();
    // The tunnel writes the access-log line when it closes, with its bytes and SNI.
    let pending = facts.and_then(|facts| {
        facts.tunnel = true;
        let entry = facts.entry(client.client_ip, DecisionLabel::Allowed, 200, None);
        shared.access_log.pending(entry, facts.started())
    });
    client.tunnel.park(Box::pin(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                run_tunnel(
                    &shared_t,
                    TokioIo::new(upgraded),
                    upstream,
                    &policy,
                    &snapshot,
                    &host,
                    pending,
                )
                .await
            }
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    }));
    if let Some(window) = &client.window {
        framing::tunnel_started(window);
    }
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = StatusCode::OK;
    Ok((DecisionLabel::Allowed, resp))
}
