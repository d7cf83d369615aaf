//! Answers of the test origin, one function per endpoint.
//!
//! Everything a hot endpoint sends is prepared once ([`OriginState`]); the
//! echo and admin endpoints, used for checks rather than load, may allocate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{build_payload, OriginBody, CHUNK_LEN, PAYLOAD_LEN};
use super::faults::{FaultAction, FaultSettings, Faults};
use super::routes::{self, Route};

/// Largest request body the origin reads (admin JSON, CORS POSTs).
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// Shared, read-mostly state of one origin.
#[derive(Debug)]
pub struct OriginState {
    payload: Bytes,
    ok_body: Bytes,
    /// Live fault injection settings.
    pub faults: Faults,
    /// Request headers copied into every answer as `x-echo-<name>`, with
    /// `x-echo-reached: 1`, so a client learns on each request what reached the origin
    /// (the appliance run checks identity this way). Empty: nothing is added.
    echo: Vec<(header::HeaderName, header::HeaderName)>,
}

impl OriginState {
    /// Builds the payload and default settings.
    pub fn new() -> Arc<Self> {
        Arc::new(OriginState {
            payload: build_payload(),
            ok_body: Bytes::from_static(b"ok\n"),
            faults: Faults::default(),
            echo: Vec::new(),
        })
    }

    /// An origin that copies the named request headers into every answer (see `echo`).
    pub fn echoing(names: &[header::HeaderName]) -> Arc<Self> {
        let mut state = Arc::try_unwrap(Self::new()).expect("a fresh Arc has one owner");
        state.echo = names
            .iter()
            .map(|n| {
                let echoed = header::HeaderName::from_bytes(format!("x-echo-{n}").as_bytes())
                    .expect("a valid header name prefixed stays valid");
                (n.clone(), echoed)
            })
            .collect();
        Arc::new(state)
    }
}

/// Marks an answer as the origin's and copies the configured request headers into it.
fn add_echo(seen: Vec<(header::HeaderName, HeaderValue)>, answer: &mut Answer) {
    if let Ok(resp) = answer {
        let h = resp.headers_mut();
        h.insert("x-echo-reached", HeaderValue::from_static("1"));
        for (name, value) in seen {
            h.append(name, value);
        }
    }
}

/// Returned by the service to make hyper drop the connection without an answer.
#[derive(Debug)]
pub struct AbortConnection;

impl std::fmt::Display for AbortConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection aborted on purpose")
    }
}

impl std::error::Error for AbortConnection {}

type Answer = Result<Response<OriginBody>, AbortConnection>;

fn response(status: StatusCode, body: OriginBody) -> Response<OriginBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<OriginBody> {
    let text = serde_json::to_vec(value).expect("serialising plain maps and structs cannot fail");
    let mut r = response(status, OriginBody::full(Bytes::from(text)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Answers one request.
pub async fn handle(state: Arc<OriginState>, req: Request<Incoming>) -> Answer {
    if state.echo.is_empty() {
        return answer(state, req).await;
    }
    let seen: Vec<_> = state
        .echo
        .iter()
        .flat_map(|(name, echoed)| {
            req.headers()
                .get_all(name)
                .iter()
                .map(|v| (echoed.clone(), v.clone()))
        })
        .collect();
    let mut out = answer(Arc::clone(&state), req).await;
    add_echo(seen, &mut out);
    out
}

async fn answer(state: Arc<OriginState>, req: Request<Incoming>) -> Answer {
    let route = routes::parse(req.uri().path());
    if route == Route::AdminFaults {
        return Ok(admin_faults(&state, req).await);
    }
    if let Some(delay) = state.faults.delay() {
        tokio::time::sleep(delay).await;
    }
    match state.faults.draw() {
        FaultAction::None => {}
        FaultAction::Reset => return Err(AbortConnection),
        FaultAction::Error(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Ok(response(status, OriginBody::full(state.ok_body.clone())));
        }
    }
    Ok(match route {
        Route::Root => response(StatusCode::OK, OriginBody::full(state.ok_body.clone())),
        Route::Bytes(n) if n as usize <= PAYLOAD_LEN => response(
            StatusCode::OK,
            OriginBody::full(state.payload.slice(..n as usize)),
        ),
        Route::Bytes(n) => response(StatusCode::OK, stream(&state, n, true)),
        Route::Stream(n) => response(StatusCode::OK, stream(&state, n, false)),
        Route::Delay(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            response(StatusCode::OK, OriginBody::full(state.ok_body.clone()))
        }
        Route::Status(code) => response(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            OriginBody::full(state.ok_body.clone()),
        ),
        Route::EchoHeaders => echo_headers(&req),
        Route::Cors => cors(req).await,
        Route::Page(page) => {
            let (kind, body) = page.content();
            let mut r = response(StatusCode::OK, OriginBody::full(Bytes::from_static(body)));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            r
        }
        Route::Reset => return Err(AbortConnection),
        Route::AdminFaults | Route::NotFound => {
            response(StatusCode::NOT_FOUND, OriginBody::empty())
        }
    })
}

fn stream(state: &OriginState, n: u64, sized: bool) -> OriginBody {
    OriginBody::Stream {
        chunk: state.payload.slice(..CHUNK_LEN),
        remaining: n,
        sized,
    }
}

/// `/echo/headers`: `{"method", "path", "headers": {name: value}}`, repeated
/// headers joined with ", " so a duplicate is visible to the checker.
fn echo_headers(req: &Request<Incoming>) -> Response<OriginBody> {
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let body = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "headers": headers,
    });
    json(StatusCode::OK, &body)
}

/// `/cors`: preflights get the `Access-Control-*` set; other methods the
/// allow-origin header and a small JSON body.
async fn cors(req: Request<Incoming>) -> Response<OriginBody> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    let preflight = req.method() == Method::OPTIONS;
    let requested_headers = req
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    // Drain any body so the connection stays reusable.
    let _ = http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await;
    let mut r = if preflight {
        response(StatusCode::NO_CONTENT, OriginBody::empty())
    } else {
        let mut r = response(
            StatusCode::OK,
            OriginBody::full(Bytes::from_static(b"{\"cors\":true}")),
        );
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    };
    let h = r.headers_mut();
    // A named origin may send credentials (a browser refuses them with `*`).
    if origin.as_bytes() != b"*" {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            requested_headers.unwrap_or(HeaderValue::from_static("content-type")),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    r
}

/// `/__origin/faults`: GET reads, PUT/POST replace (JSON [`FaultSettings`]),
/// DELETE clears.
async fn admin_faults(state: &OriginState, req: Request<Incoming>) -> Response<OriginBody> {
    match *req.method() {
        Method::GET => json(StatusCode::OK, &state.faults.get()),
        Method::DELETE => {
            state.faults.set(&FaultSettings::default());
            json(StatusCode::OK, &state.faults.get())
        }
        Method::PUT | Method::POST => {
            let body = match http_body_util::Limited::new(req.into_body(), MAX_REQUEST_BODY)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({ "errors": [e.to_string()] }),
                    )
                }
            };
            let settings: FaultSettings = match serde_json::from_slice(&body) {
                Ok(s) => s,
                Err(e) => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({ "errors": [e.to_string()] }),
                    )
                }
            };
            match settings.validate() {
                Ok(()) => {
                    state.faults.set(&settings);
                    json(StatusCode::OK, &state.faults.get())
                }
                Err(errors) => json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "errors": errors }),
                ),
            }
        }
        _ => response(StatusCode::METHOD_NOT_ALLOWED, OriginBody::empty()),
    }
}
