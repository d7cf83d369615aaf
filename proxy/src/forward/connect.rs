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

use crate::access_log::Pending;
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::metrics::DecisionLabel;
use crate::policy::{Decision, Policy};
use crate::reload::Snapshot;
use crate::respond;
use crate::server::state::{ClientCtx, Shared};
use crate::tunnel::TunnelOutcome;
use crate::{tunnel, upstream};

use super::target;

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
    pending: Option<Box<Pending>>,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let metrics = &shared.metrics;
    metrics.tunnels_opened.inc();
    metrics.tunnels_open.inc();
    let seen_sni = std::sync::OnceLock::<String>::new();
    let sni_blocked = |sni: &str| {
        if pending.is_some() {
            let _ = seen_sni.set(sni.to_string());
        }
        match super::target::canonical_host(sni) {
            Ok((host, ip)) => matches!(
                super::decide(policy, &snapshot.db, &host, ip, "/"),
                Decision::Block(_)
            ),
            // A name no host can have is no reason to let the tunnel through.
            Err(_) => true,
        }
    };
    let outcome = tunnel::run(client_io, upstream, &shared.config.tunnel, sni_blocked).await;
    metrics.tunnels_open.dec();
    metrics.tunnel_closed(&outcome);
    if let Some(mut pending) = pending {
        let (up, down) = outcome.bytes();
        let entry = pending.entry_mut();
        entry.bytes_in = Some(up);
        entry.sni = seen_sni.into_inner();
        if let TunnelOutcome::SniBlocked { .. } = outcome {
            entry.decision = DecisionLabel::Blocked;
        }
        pending.finish(down);
    }
    tracing::debug!(target, outcome = ?outcome, "tunnel closed");
}

pub(super) async fn handle(
    shared: &Arc<Shared>,
    client: &Arc<ClientCtx>,
    mut req: Request<Incoming>,
    mut facts: Option<&mut super::audit::Facts>,
) -> Result<(DecisionLabel, Response<ProxyBody>), ProxyError> {
    let authority = req
        .uri()
        .authority()
        .cloned()
        .ok_or(ProxyError::BadRequest("CONNECT needs host:port"))?;
    let target = target::parse(&authority, None)?;
    let (host, ip, port) = (target.host.into_owned(), target.ip, target.port);

    let snapshot = shared.reloader.current();
    let (identity, policy) = super::resolve(shared, &snapshot, req.headers(), client).await?;
    let decision = super::decide(&policy, &snapshot.db, &host, ip, "/");
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
        crate::server::framing::tunnel_started(window);
    }
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = StatusCode::OK;
    Ok((DecisionLabel::Allowed, resp))
}
