//! A tunnel under a client's policy, for CONNECT and for transparently intercepted TLS
//! alike: the ClientHello's SNI is judged by the same policy as the request's target (so
//! a fronted SNI is cut), the tunnel is counted in the tunnel metrics, and its access-log
//! line, when there is one, is written at close with its bytes and SNI.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::access_log::Pending;
use crate::metrics::DecisionLabel;
use crate::policy::{Decision, Policy};
use crate::reload::Snapshot;
use crate::state::Shared;
use crate::target;

use super::run::{run, TunnelOutcome};

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
        match target::canonical_host(sni) {
            Ok((host, ip)) => matches!(
                policy.decide_target(&snapshot.db, &host, ip, "/"),
                Decision::Block(_)
            ),
            // A name no host can have is no reason to let the tunnel through.
            Err(_) => true,
        }
    };
    let outcome = run(client_io, upstream, &shared.config.tunnel, sni_blocked).await;
    metrics.tunnels_open.dec();
    let (up, down) = outcome.bytes();
    metrics.tunnel_closed(outcome.end(), up, down);
    if let Some(mut pending) = pending {
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
