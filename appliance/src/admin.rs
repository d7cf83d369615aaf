//! The appliance's admin port: `/healthz` (the process serves), `/readyz` (the RADIUS
//! listener runs, if configured, and the cloud proxy accepts a connection), `/metrics`.
//!
//! Readiness probes the cloud proxy with a PROXY v2 `LOCAL` header, the protocol's own
//! health-check form, so the probe is never mistaken for (or counted as) user traffic.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::shared::Shared;
use proxy_protocol::build::build_local_header;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    r
}

/// Whether the cloud proxy accepts a connection and a `LOCAL` header.
async fn upstream_reachable(addr: &str) -> bool {
    let probe = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(&build_local_header()).await?;
        s.shutdown().await
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(())))
}

/// The readiness verdict: empty when ready, else the reasons.
pub(crate) async fn readiness(shared: &Shared) -> Vec<&'static str> {
    let mut problems = Vec::new();
    if shared.cfg.radius.is_some() && !shared.radius_running.load(Ordering::Acquire) {
        problems.push("radius listener not running");
    }
    if !upstream_reachable(&shared.cfg.upstream).await {
        problems.push("cloud proxy unreachable");
    }
    problems
}

async fn route(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    Ok(match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n".into()),
        "/readyz" => {
            let problems = readiness(&shared).await;
            if problems.is_empty() {
                reply(StatusCode::OK, TEXT, "ready\n".into())
            } else {
                reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    problems.join("\n") + "\n",
                )
            }
        }
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            shared.metrics.encode(),
        ),
        _ => reply(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
    })
}

/// Serves the admin endpoints until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = crate::stop::stopped(&mut shutdown) => return,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| route(req, shared.clone()));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "admin connection");
            }
        });
    }
}
