//! CONNECT through the real proxy (`server::serve` on loopback): a raw TCP client sends
//! CONNECT, then speaks TLS (rustls) over the tunnel to a tokio-rustls origin. Covers the
//! allowed path, a blocked CONNECT (403, no upstream connection), domain fronting (SNI of
//! a blocked host inside a tunnel to an allowed one) and the `non_tls = "close"` policy,
//! each checked in the proxy's tunnel metrics too.

mod tunnel_tls;
mod util;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tunnel_tls::{https_get, read_head, start_tls_origin, TestCert, TlsOrigin};
use util::{eventually, Origin, TestProxy, ALLOWED, BLOCKED};

const WAIT: Duration = Duration::from_secs(10);

/// A proxy whose every host resolves to the TLS origin.
async fn proxy_to(origin: &TlsOrigin, non_tls: &str) -> (Origin, TestProxy) {
    // `TestProxy` wants an HTTP origin too; CONNECT traffic goes to the TLS one.
    let http_origin = Origin::start().await;
    let overlay = format!(
        "[upstream.resolve]\n\"*\" = \"{}\"\n[tunnel]\nnon_tls = \"{non_tls}\"\n",
        origin.addr
    );
    let proxy = TestProxy::start(&http_origin, &overlay).await;
    (http_origin, proxy)
}

/// Sends `CONNECT authority` and reads the response head (byte by byte, so nothing of
/// the tunnel is consumed); returns the status and the stream.
async fn connect_via(proxy: SocketAddr, authority: &str) -> (u16, TcpStream) {
    let mut stream = TcpStream::connect(proxy).await.expect("connect to proxy");
    let request = format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send CONNECT");
    let head = timeout(WAIT, read_head(&mut stream))
        .await
        .expect("CONNECT answered in time")
        .expect("a response head");
    let head = String::from_utf8_lossy(&head);
    (util::status_of(&head), stream)
}

/// Waits until the proxy has counted `n` tunnels ending with `outcome`.
async fn await_outcome(proxy: &TestProxy, outcome: &str, n: f64) {
    let line = format!("filter_proxy_tunnels_closed_total{{outcome=\"{outcome}\"}}");
    eventually(WAIT, &format!("{line} reaches {n}"), || async {
        proxy.metric(&line).await == Some(n)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_through_connect_reaches_the_origin() {
    let cert = TestCert::for_names(&[ALLOWED, BLOCKED]);
    let origin = start_tls_origin(&cert).await;
    let (_http, proxy) = proxy_to(&origin, "close").await;

    let (status, stream) = connect_via(proxy.addr, &format!("{ALLOWED}:443")).await;
    assert_eq!(status, 200);
    let response = timeout(WAIT, https_get(&cert, stream, ALLOWED))
        .await
        .expect("request finished in time")
        .expect("https through the proxy");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with(&format!("sni={ALLOWED}")), "{response}");

    await_outcome(&proxy, "closed", 1.0).await;
    let up = proxy
        .metric("filter_proxy_tunnel_bytes_total{direction=\"up\"}")
        .await;
    assert!(up.is_some_and(|b| b > 200.0), "bytes up counted: {up:?}");
    assert_eq!(origin.handshakes(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_connect_gets_403_without_touching_the_origin() {
    let cert = TestCert::for_names(&[ALLOWED, BLOCKED]);
    let origin = start_tls_origin(&cert).await;
    let (_http, proxy) = proxy_to(&origin, "close").await;

    let (status, _stream) = connect_via(proxy.addr, &format!("{BLOCKED}:443")).await;
    assert_eq!(status, 403);
    assert_eq!(
        origin.connections(),
        0,
        "no upstream connection for a blocked CONNECT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fronted_sni_inside_an_allowed_connect_is_cut() {
    let cert = TestCert::for_names(&[ALLOWED, BLOCKED]);
    let origin = start_tls_origin(&cert).await;
    let (_http, proxy) = proxy_to(&origin, "allow").await;

    let (status, stream) = connect_via(proxy.addr, &format!("{ALLOWED}:443")).await;
    assert_eq!(status, 200, "the CONNECT host itself is allowed");
    let result = timeout(WAIT, https_get(&cert, stream, BLOCKED))
        .await
        .expect("handshake ended in time");
    assert!(result.is_err(), "fronted handshake must fail: {result:?}");

    await_outcome(&proxy, "sni_blocked", 1.0).await;
    assert_eq!(origin.handshakes(), 0, "no TLS byte reached the origin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_bytes_in_a_tunnel_are_cut_under_close_policy() {
    let cert = TestCert::for_names(&[ALLOWED]);
    let origin = start_tls_origin(&cert).await;
    let (_http, proxy) = proxy_to(&origin, "close").await;

    let (status, mut stream) = connect_via(proxy.addr, &format!("{ALLOWED}:443")).await;
    assert_eq!(status, 200);
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: allowed.example\r\n\r\n")
        .await
        .expect("send plain request");
    let mut rest = Vec::new();
    let _ = timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("tunnel closed in time");
    assert!(rest.is_empty(), "nothing came back: {rest:?}");
    await_outcome(&proxy, "not_tls", 1.0).await;
}
