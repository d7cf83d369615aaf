//! The admin listener: health, readiness, Prometheus metrics, reload, and profiling.
//!
//! Routes: `GET /healthz` (the process answers), `GET /readyz` (503 while draining),
//! `GET /metrics` (Prometheus text), `POST /reload` (swap in new category/policy data),
//! `GET /debug/pprof/profile` and `GET /debug/jemalloc` (see [`pprof`] and [`jemalloc`]).
//! It runs on its own listener so that scraping and probing never compete with client
//! connections for the connection limit, and stays up during drain so `/readyz` can say so.
//! `POST /reload` and the `/debug/` routes need the admin token when one is configured
//! ([`auth`]).

pub mod auth;
pub mod jemalloc;
pub mod pprof;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::{until_set, Shared};

/// Serves admin requests until `stop` turns true.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    loop {
        let (stream, _) = tokio::select! {
            _ = until_set(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(&shared, req).await) }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "admin connection error");
            }
        });
    }
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(body.into()))
        .expect("static status and headers are valid")
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if auth::guarded(req.uri().path()) {
        if let Err(why) = auth::check(&shared.config.admin, req.headers()) {
            shared.metrics.admin_refused(why);
            let mut refused = text(
                StatusCode::UNAUTHORIZED,
                PLAIN,
                "this route needs Authorization: Bearer <admin token>\n",
            );
            refused.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"filter-proxy admin\""),
            );
            return refused;
        }
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, PLAIN, "ok\n"),
        (&Method::GET, "/readyz") => match (shared.not_ready(), shared.store.degraded()) {
            (Some(why), _) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("{why}\n")),
            (None, Some(why)) => text(StatusCode::OK, PLAIN, format!("ready (degraded, failing open: {why})\n")),
            (None, None) => text(StatusCode::OK, PLAIN, "ready\n"),
        },
        (&Method::GET, "/metrics") => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            shared.metrics.render(),
        ),
        (&Method::POST, "/reload") => match shared.reload().await {
            Ok(version) => text(StatusCode::OK, PLAIN, format!("reloaded: policy version {version}\n")),
            Err(e) => text(StatusCode::UNPROCESSABLE_ENTITY, PLAIN, format!("reload refused: {e}\n")),
        },
        (&Method::GET, "/debug/pprof/profile") => pprof::profile_response(req.uri().query()).await,
        (&Method::GET, "/debug/jemalloc") => jemalloc::stats_response(),
        (_, "/healthz" | "/readyz" | "/metrics" | "/reload" | "/debug/pprof/profile" | "/debug/jemalloc") => {
            text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "method not allowed\n")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found; try /healthz /readyz /metrics POST /reload /debug/pprof/profile /debug/jemalloc\n",
        ),
    }
}
