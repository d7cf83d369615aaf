//! The client-facing server: accept loop, connection limit, per-connection hyper setup,
//! and graceful drain.
//!
//! [`serve`] owns everything a running proxy needs and returns only after a graceful
//! drain: on the shutdown future, `/readyz` turns 503, the listener closes, every
//! connection is asked to finish its in-flight request and close, and whatever is still
//! running after `server.shutdown_grace` is aborted.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::framing;
use crate::headers::ClientValues;
use crate::state::{until_set, ApplianceInfo, ClientCtx, Shared};
use crate::tunnel::transparent;

pub use crate::state::ServeError;

/// The reply to a client beyond `server.max_connections`, written without reading.
const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
Content-Type: text/plain\r\nContent-Length: 29\r\n\r\nproxy connection limit hit\r\n\r\n";

/// Runs the proxy on `proxy` and the admin endpoints on `admin` until `shutdown`
/// completes, then drains and returns.
pub async fn serve(
    config: Config,
    proxy: TcpListener,
    admin: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let proxy_addr = proxy.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let grace = config.server.shutdown_grace;
    let reload_trigger = config.reload_trigger.clone();
    let shared = Shared::new(config)?;
    tracing::info!(
        proxy = %proxy_addr,
        admin = %admin_addr,
        policy = %shared.reloader.current().version_label(),
        "filter-proxy serving"
    );

    let (admin_stop_tx, admin_stop_rx) = watch::channel(false);
    let admin_task = tokio::spawn(crate::admin::serve(shared.clone(), admin, admin_stop_rx));
    let reaper = shared.pool.spawn_reaper();
    let reload_task = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                reload_trigger.notified().await;
                let _ = shared.reload().await;
            }
        })
    };

    let (drain_tx, drain_rx) = watch::channel(false);
    let limit = Arc::new(Semaphore::new(shared.config.server.max_connections));
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = proxy.accept() => match accepted {
                Ok((stream, peer)) => match limit.clone().try_acquire_owned() {
                    Ok(permit) => {
                        conns.spawn(connection(shared.clone(), stream, peer, permit, drain_rx.clone()));
                    }
                    Err(_) => {
                        shared.metrics.refused_connections.inc();
                        refuse(stream);
                    }
                },
                Err(e) => {
                    // Usually fd exhaustion: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }

    tracing::info!(
        connections = conns.len(),
        grace_ms = grace.as_millis() as u64,
        "draining"
    );
    shared.draining.store(true, Ordering::SeqCst);
    drop(proxy);
    let _ = drain_tx.send(true);
    let drained = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} })
        .await
        .is_ok();
    if !drained {
        tracing::warn!(
            remaining = conns.len(),
            "drain deadline passed; closing remaining connections"
        );
        conns.shutdown().await;
    }
    reload_task.abort();
    reaper.abort();
    shared.pool.close_idle();
    shared.access_log.close();
    let _ = admin_stop_tx.send(true);
    let _ = admin_task.await;
    tracing::info!("filter-proxy stopped");
    Ok(())
}

/// Best-effort 503 to a client beyond the connection limit, then close.
fn refuse(stream: TcpStream) {
    let _ = stream.try_write(REFUSAL);
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = stream.shutdown().await;
    });
}

/// Serves one client connection (and the tunnel it may turn into).
async fn connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    mut drain: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let _active = ActiveGuard::new(&shared.metrics);
    let (client_ip, appliance) = match &shared.config.proxy_protocol {
        None => (peer.ip(), None),
        Some(pp) => match crate::proxy_protocol::accept(&mut stream, peer, pp).await {
            Ok(None) => (peer.ip(), None),
            Ok(Some(header)) => {
                shared.metrics.proxy_protocol_accepted.inc();
                (
                    header.source.ip().to_canonical(),
                    Some(ApplianceInfo::from(header)),
                )
            }
            Err(e) => {
                shared.metrics.proxy_protocol_refused(e.kind());
                tracing::debug!(%peer, error = %e, "PROXY header refused; closing");
                return;
            }
        },
    };
    let transparent_to = appliance
        .as_ref()
        .filter(|a| a.transparent)
        .map(|a| a.destination);
    if let Some(destination) = transparent_to {
        if transparent::starts_with_tls(&stream, shared.config.tunnel.hello_timeout).await {
            let ctx = ClientCtx {
                peer,
                client_ip,
                appliance,
                window: None,
                tunnel: Default::default(),
                values: ClientValues::new(client_ip, shared.config.forward.trusts(client_ip)),
            };
            transparent::tls(&shared, stream, &ctx, destination).await;
            return;
        }
    }
    let window = shared.config.server.strict_framing.then(framing::window);
    let ctx = Arc::new(ClientCtx {
        peer,
        client_ip,
        appliance,
        window: window.clone(),
        tunnel: Default::default(),
        values: ClientValues::new(client_ip, shared.config.forward.trusts(client_ip)),
    });
    let service = {
        let (shared, ctx) = (shared.clone(), ctx.clone());
        service_fn(move |req| {
            let (shared, ctx) = (shared.clone(), ctx.clone());
            async move { Ok::<_, Infallible>(crate::forward::handle(shared, ctx, req).await) }
        })
    };
    let io = TokioIo::new(framing::RecordingIo::new(stream, window));
    let conn = shared.http.serve_connection(io, service).with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = until_set(&mut drain) => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "client connection ended with an error");
    }
    if let Some(tunnel) = ctx.tunnel.take() {
        tunnel.await;
    }
}

/// Counts a client connection as active for as long as it lives (also when aborted).
struct ActiveGuard(Arc<crate::metrics::Metrics>);

impl ActiveGuard {
    fn new(metrics: &Arc<crate::metrics::Metrics>) -> Self {
        metrics.active_connections.inc();
        ActiveGuard(metrics.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active_connections.dec();
    }
}
