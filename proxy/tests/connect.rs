//! CONNECT through the running proxy: categorised by host before any upstream connect,
//! bytes tunnelled end to end, a fronted SNI cut, and the tunnel metrics. (TLS end to end
//! through `tunnel::run` is covered by the tunnel tests; here the wiring is under test.)

mod util;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{Origin, TestProxy, ALLOWED, BLOCKED};

/// Reads a response head byte by byte (so nothing after it is consumed).
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

async fn connect_through(proxy: &TestProxy, target: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream))
        .await
        .expect("CONNECT answered")
        .expect("a response head");
    (stream, String::from_utf8_lossy(&head).into_owned())
}

#[tokio::test]
async fn allowed_connect_tunnels_bytes_end_to_end_and_is_counted() {
    let origin = Origin::start().await;
    // The test config allows non-TLS tunnels, so plain HTTP can ride the tunnel.
    let proxy = TestProxy::start(&origin, "").await;
    let (mut stream, head) = connect_through(&proxy, &format!("{ALLOWED}:80")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let response = util::read_until_close(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        !response.contains("x-filter-group"),
        "a tunnel is not rewritten: {response}"
    );
    // The origin closed its side; the tunnel ends once the client closes too.
    drop(stream);
    util::eventually(
        Duration::from_secs(5),
        "tunnel closed and counted",
        || async {
            proxy
                .metric("filter_proxy_tunnels_closed_total{outcome=\"closed\"}")
                .await
                == Some(1.0)
        },
    )
    .await;
    assert_eq!(
        proxy.metric("filter_proxy_tunnels_opened_total").await,
        Some(1.0)
    );
    assert_eq!(proxy.metric("filter_proxy_tunnels_open").await, Some(0.0));
    let up = proxy
        .metric("filter_proxy_tunnel_bytes_total{direction=\"up\"}")
        .await
        .unwrap();
    let down = proxy
        .metric("filter_proxy_tunnel_bytes_total{direction=\"down\"}")
        .await
        .unwrap();
    assert!(
        up > 0.0 && down > 0.0,
        "bytes counted both ways: {up} {down}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn blocked_connect_is_refused_before_any_upstream_connect() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let (_stream, head) = connect_through(&proxy, &format!("{BLOCKED}:443")).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        0,
        "no upstream connection made"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn fronted_sni_naming_a_blocked_host_is_cut() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let (mut stream, head) = connect_through(&proxy, &format!("{ALLOWED}:443")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
        .write_all(&util::client_hello(BLOCKED))
        .await
        .unwrap();
    let rest = util::read_until_close(&mut stream).await;
    assert!(rest.is_empty(), "nothing comes back: {rest:?}");
    util::eventually(Duration::from_secs(5), "SNI mismatch counted", || async {
        proxy
            .metric("filter_proxy_tunnels_closed_total{outcome=\"sni_blocked\"}")
            .await
            == Some(1.0)
    })
    .await;
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        0,
        "no byte reached the origin"
    );
    proxy.stop().await;
}
