//! `CONNECT host:port`: categorised by host like any request (blocked -> 403 before any
//! upstream connect); allowed -> connect upstream, answer 200, and park the tunnel (run by
//! the connection task once hyper releases the socket). The tunnel checks the TLS SNI
//! against the same client's policy, so a fronted SNI is cut.

use std::sync::Arc;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::body::ProxyBody;
use crate::metrics::DecisionLabel;
use crate::policy::{Decision, Policy};
use crate::reload::Snapshot;
use crate::respond::{self, ProxyError, RequestKind};
use crate::server::state::{ClientCtx, Shared};
use crate::{tunnel, upstream};

use super::normalise_host;

/// Runs one tunnel between a client and a connected upstream, cutting it when the TLS
/// SNI names a host this client's `policy` blocks, and counts it in the tunnel metrics.
/// Used for CONNECT and for transparently intercepted TLS.
pub(crate) async fn run_tunnel<C>(
    shared: &Shared,
    client_io: C,
    upstream: TcpStream,
    policy: &Policy,
    snapshot: &Snapshot,
    target: &str,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let metrics = &shared.metrics;
    metrics.tunnels_opened.inc();
    metrics.tunnels_open.inc();
    let sni_blocked = |sni: &str| {
        let sni = sni.to_ascii_lowercase();
        matches!(policy.decide(&snapshot.db, &sni, "/"), Decision::Block(_))
    };
    let outcome = tunnel::run(client_io, upstream, &shared.config.tunnel, sni_blocked).await;
    metrics.tunnels_open.dec();
    metrics.tunnel_closed(&outcome);
    tracing::debug!(target, outcome = ?outcome, "tunnel closed");
}

pub(super) async fn handle(
    shared: &Arc<Shared>,
    client: &Arc<ClientCtx>,
    mut req: Request<Incoming>,
) -> Result<(DecisionLabel, Response<ProxyBody>), ProxyError> {
    let authority = req
        .uri()
        .authority()
        .cloned()
        .ok_or(ProxyError::BadRequest("CONNECT needs host:port"))?;
    let port = authority
        .port_u16()
        .ok_or(ProxyError::BadRequest("CONNECT needs host:port"))?;
    let host = normalise_host(authority.host()).into_owned();

    let snapshot = shared.reloader.current();
    let (_identity, policy) = super::resolve(shared, &snapshot, req.headers(), client).await?;
    if let Decision::Block(reason) = policy.decide(&snapshot.db, &host, "/") {
        let (category, rule) = respond::describe_block(&snapshot.db, &reason);
        let kind = RequestKind::of(req.method(), req.headers());
        let resp = respond::blocked(kind, req.headers(), &host, category, rule);
        return Ok((DecisionLabel::Blocked, resp));
    }

    let up = &shared.config.upstream;
    let upstream = upstream::connect(&host, port, &up.resolve, up.connect_timeout).await?;
    let on_upgrade = hyper::upgrade::on(&mut req);
    let shared_t = shared.clone();
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
                )
                .await
            }
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    }));
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = StatusCode::OK;
    Ok((DecisionLabel::Allowed, resp))
}
