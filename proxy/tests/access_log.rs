//! The access log through a running proxy: one line per request and per tunnel, with the
//! user, group, category, decision, status, bytes and durations an audit needs.

mod util;

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use util::{raw_exchange, read_until_close, status_of, Origin, TestProxy, ALLOWED, BLOCKED};

const OVERLAY: &str = "[access_log]\nenabled = true\npath = \"access.log\"\n";

/// Stops the proxy (which flushes the log) and reads its lines.
async fn lines(proxy: TestProxy) -> Vec<serde_json::Value> {
    let dir = proxy.stop_keeping_dir().await;
    std::fs::read_to_string(dir.path().join("access.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn every_request_and_tunnel_gets_one_line() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, OVERLAY).await;
    let student = "Proxy-Authorization: Basic c3R1ZGVudDAwMDE6cHctc3R1ZGVudDAwMDE=\r\n";
    let raw = raw_exchange(
        proxy.addr,
        format!(
            "GET http://{ALLOWED}/bytes/1024 HTTP/1.1\r\nHost: {ALLOWED}\r\n{student}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&raw), 200);
    let raw = raw_exchange(
        proxy.addr,
        format!("GET http://{BLOCKED}/x HTTP/1.1\r\nHost: {BLOCKED}\r\n{student}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&raw), 403);
    let raw = raw_exchange(
        proxy.addr,
        b"GET http://a..b/ HTTP/1.1\r\nHost: a..b\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400);
    // A tunnel whose SNI names a blocked host: one line, written when it closes.
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(
            format!("CONNECT {ALLOWED}:443 HTTP/1.1\r\nHost: {ALLOWED}:443\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut head = [0u8; 19];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut head)
        .await
        .unwrap();
    assert!(head.starts_with(b"HTTP/1.1 200"));
    stream
        .write_all(&util::client_hello(BLOCKED))
        .await
        .unwrap();
    let _ = read_until_close(&mut stream).await;
    util::eventually(Duration::from_secs(5), "tunnel closed", || async {
        proxy
            .metric("filter_proxy_tunnels_closed_total{outcome=\"sni_blocked\"}")
            .await
            == Some(1.0)
    })
    .await;

    let lines = lines(proxy).await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let allowed = &lines[0];
    assert_eq!(allowed["decision"], "allowed");
    assert_eq!(allowed["status"], 200);
    assert_eq!(allowed["user"], "student0001");
    assert_eq!(allowed["group"], "students");
    assert_eq!(allowed["bytes_out"], 1024, "counted when the body ended");
    assert_eq!(allowed["url"], format!("http://{ALLOWED}/bytes/1024"));
    assert_eq!(allowed["client"], "127.0.0.1");
    assert!(allowed["duration_us"].as_u64() >= allowed["head_us"].as_u64());
    let blocked = &lines[1];
    assert_eq!(blocked["decision"], "blocked");
    assert_eq!(blocked["status"], 403);
    assert_eq!(blocked["category"], "social");
    assert_eq!(blocked["rule"], BLOCKED);
    let error = &lines[2];
    assert_eq!(error["decision"], "error");
    assert_eq!(error["status"], 400);
    assert_eq!(error["error"], "bad_request");
    let tunnel = &lines[3];
    assert_eq!(tunnel["kind"], "tunnel");
    assert_eq!(tunnel["sni"], BLOCKED);
    assert_eq!(tunnel["decision"], "blocked");
}
