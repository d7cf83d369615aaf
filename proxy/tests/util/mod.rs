//! Shared test fixtures: a real test origin (hyper on 127.0.0.1:0), a running proxy
//! (`serve` on ephemeral ports, every host resolved to the origin), raw-socket helpers
//! and an `eventually` poller with a deadline.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use filter_proxy::config::Config;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// An allowed, uncategorised demo host.
pub const ALLOWED: &str = "allowed.example";
/// A host in a category the `default` group blocks (`social`).
pub const BLOCKED: &str = "share-portal-2855.test";

type OriginBody = BoxBody<Bytes, Infallible>;

static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// A test origin. Routes: `/echo` (request as JSON: method, path, headers, body length),
/// `/bytes/N` (N zero bytes, streamed in 64 KiB frames), `/delay/MS` (answers after MS
/// milliseconds), and CORS preflights (any `OPTIONS` with `Access-Control-Request-Method`).
pub struct Origin {
    pub addr: SocketAddr,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Requests answered.
    pub requests: Arc<AtomicUsize>,
    /// TCP connections the origin has finished with (closed).
    pub closed: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    pub async fn start() -> Origin {
        Self::start_with_idle_close(None).await
    }

    /// An origin that closes keep-alive connections idle for `idle` (like a web server's
    /// keep-alive timeout), without telling the client beforehand.
    pub async fn start_with_idle_close(idle: Option<Duration>) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (c, r, d) = (connections.clone(), requests.clone(), closed.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, d) = (r.clone(), d.clone());
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        r.fetch_add(1, Ordering::SeqCst);
                        origin_route(req)
                    });
                    let mut http = hyper::server::conn::http1::Builder::new();
                    if let Some(idle) = idle {
                        http.timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(idle);
                    }
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    d.fetch_add(1, Ordering::SeqCst);
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Origin {
            addr,
            connections,
            requests,
            closed,
            task,
        }
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<OriginBody> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    resp
}

async fn origin_route(req: Request<Incoming>) -> Result<Response<OriginBody>, Infallible> {
    let path = req.uri().path().to_string();
    if req.method() == Method::OPTIONS
        && req.headers().contains_key("access-control-request-method")
    {
        let origin = req.headers().get(header::ORIGIN).cloned();
        let mut resp = full(StatusCode::NO_CONTENT, "");
        let h = resp.headers_mut();
        if let Some(o) = origin {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, PUT, DELETE".parse().unwrap(),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "x-custom, content-type".parse().unwrap(),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, "600".parse().unwrap());
        h.insert("x-origin-preflight", "yes".parse().unwrap());
        return Ok(resp);
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        let total: usize = n.parse().unwrap_or(0);
        let stream = futures_util::stream::unfold(total, |left| async move {
            if left == 0 {
                return None;
            }
            let n = left.min(ZEROS.len());
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(&ZEROS[..n]))),
                left - n,
            ))
        });
        let mut resp = Response::new(StreamBody::new(stream).boxed());
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, total.to_string().parse().unwrap());
        return Ok(resp);
    }
    if let Some(ms) = path.strip_prefix("/delay/") {
        let ms: u64 = ms.parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        return Ok(full(StatusCode::OK, format!("slept {ms}ms\n")));
    }
    // /echo and everything else: the request as JSON.
    let method = req.method().to_string();
    let mut headers = serde_json::Map::new();
    for (name, value) in req.headers() {
        let entry = headers
            .entry(name.as_str().to_string())
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let serde_json::Value::Array(values) = entry {
            values.push(
                String::from_utf8_lossy(value.as_bytes())
                    .into_owned()
                    .into(),
            );
        }
    }
    let uri = req.uri().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json = serde_json::json!({
        "method": method,
        "uri": uri,
        "headers": headers,
        "body_len": body.len(),
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = full(StatusCode::OK, json.to_string());
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    Ok(resp)
}

/// The demo data directory in the source tree.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo")
}

/// Merges `overlay` into `base`, tables recursively.
fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// A running proxy in front of an [`Origin`].
pub struct TestProxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// Holds copies of the demo data files (reload tests edit them) and the config as
    /// `proxy.toml` (for the binary's subcommands).
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), filter_proxy::server::ServeError>>>,
}

impl TestProxy {
    /// Starts a proxy whose every host resolves to `origin`; `overlay` is TOML merged over
    /// the test defaults.
    pub async fn start(origin: &Origin, overlay: &str) -> TestProxy {
        Self::start_with(origin, |_| overlay.to_string()).await
    }

    /// Like [`TestProxy::start`], with the overlay built from the proxy's own address.
    pub async fn start_with(
        origin: &Origin,
        overlay: impl FnOnce(SocketAddr) -> String,
    ) -> TestProxy {
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, admin_addr) = (proxy.local_addr().unwrap(), admin.local_addr().unwrap());
        let overlay = overlay(addr);
        let dir = tempfile::tempdir().unwrap();
        for f in ["categories.txt", "policy.toml", "users.csv"] {
            std::fs::copy(demo_dir().join(f), dir.path().join(f)).unwrap();
        }
        let mut table: toml::Table = format!(
            r#"
            [server]
            shutdown_grace = "5s"
            [filter]
            categories = "categories.txt"
            policy = "policy.toml"
            [identity]
            users_file = "users.csv"
            [upstream]
            connect_timeout = "2s"
            response_header_timeout = "5s"
            acquire_timeout = "2s"
            [upstream.resolve]
            "*" = "{}"
            [tunnel]
            non_tls = "allow"
            "#,
            origin.addr
        )
        .parse()
        .unwrap();
        merge(
            &mut table,
            overlay
                .parse::<toml::Table>()
                .expect("overlay is valid TOML"),
        );
        let text = toml::to_string(&table).unwrap();
        std::fs::write(dir.path().join("proxy.toml"), &text).unwrap();
        let config = Config::from_toml_str(&text, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(filter_proxy::server::serve(
            config,
            proxy,
            admin,
            async move {
                let _ = rx.await;
            },
        ));
        TestProxy {
            addr,
            admin: admin_addr,
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits (bounded) for `serve` to return.
    pub async fn stop(mut self) {
        self.drain().await;
    }

    /// Like [`TestProxy::stop`], keeping the directory (logs written there) for the caller.
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        self.drain().await;
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    async fn drain(&mut self) {
        self.begin_shutdown();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("serve returns after the drain")
            .unwrap()
            .unwrap();
    }

    /// The task running `serve`, to await its end.
    pub fn take_task(&mut self) -> JoinHandle<Result<(), filter_proxy::server::ServeError>> {
        self.task.take().unwrap()
    }

    /// A reqwest client using this proxy for http URLs.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(format!("http://{}", self.addr)).unwrap())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    /// GET on the admin listener: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::Client::new()
            .get(format!("http://{}{path}", self.admin))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// The value of one un-labelled metric sample line (`name value`), if present.
    pub async fn metric(&self, line_prefix: &str) -> Option<f64> {
        let (_, text) = self.admin_get("/metrics").await;
        text.lines()
            .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// GET `url` through `client` and return the status code (panics on a transport error).
pub async fn get_status(client: &reqwest::Client, url: &str) -> u16 {
    client
        .get(url)
        .send()
        .await
        .expect("request through the proxy")
        .status()
        .as_u16()
}

/// Polls `check` until it returns true or `deadline` passes (then panics with `what`).
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= until {
            panic!("not within {deadline:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends raw bytes on a new connection and reads until the peer closes (bounded).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_until_close(&mut stream).await
}

/// Reads until the peer closes (EOF or a reset); panics if it has not within 10 s, so
/// every caller also asserts that the connection was closed.
pub async fn read_until_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    // A reset counts as closed too, so the read's own result does not matter.
    let _closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the peer closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn status_of(raw: &str) -> u16 {
    raw.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The first TLS flight (a ClientHello) of a rustls client asking for `sni`.
pub fn client_hello(sni: &str) -> Vec<u8> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}
