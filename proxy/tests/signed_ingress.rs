//! Connections from on-premise appliances: a signed PROXY v2 header ahead of the client's
//! bytes carries the original client and the identity the appliance vouches for. Built
//! with the appliance's own header builder, sent over real sockets to the running proxy.

mod util;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use filter_proxy::proxy_protocol::build::HeaderIdentity;
use filter_proxy::proxy_protocol::{build_header, unix_now, HmacKey};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use util::{status_of, Origin, TestProxy, ALLOWED, BLOCKED};

const KEY: &str = "school-appliance-shared-key-0001";

const OVERLAY: &str = "[proxy_protocol]\ntrusted_cidrs = [\"127.0.0.1/32\"]\n\
                       hmac_key = \"school-appliance-shared-key-0001\"\n";

fn header(
    key: &str,
    to: SocketAddr,
    user: Option<&str>,
    group: Option<&str>,
    transparent: bool,
) -> Vec<u8> {
    let source: SocketAddr = "10.9.8.7:50000".parse().unwrap();
    let identity = HeaderIdentity {
        user,
        group,
        transparent,
    };
    build_header(
        source,
        to,
        identity,
        &HmacKey::new(key.as_bytes().to_vec()),
        0xE0,
        unix_now(),
    )
    .unwrap()
}

/// Sends `header` then `rest` on one connection; returns everything read until close.
async fn exchange(proxy: &TestProxy, header: &[u8], rest: &[u8]) -> String {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(header).await.unwrap();
    stream.write_all(rest).await.unwrap();
    util::read_until_close(&mut stream).await
}

fn body_json(raw: &str) -> serde_json::Value {
    serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap_or("")).unwrap_or_default()
}

#[tokio::test]
async fn appliance_identity_and_client_address_are_honoured() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, OVERLAY).await;
    let h = header(KEY, proxy.addr, Some("teacher7"), Some("teachers"), false);
    let raw = exchange(
        &proxy,
        &h,
        b"GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\nX-Filter-Group: staff\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    let echo = body_json(&raw);
    assert_eq!(echo["headers"]["x-filter-user"][0], "teacher7");
    assert_eq!(echo["headers"]["x-filter-group"][0], "teachers");
    assert_eq!(echo["headers"]["x-forwarded-for"][0], "10.9.8.7");
    // `social` is blocked for the default group but not for teachers.
    let get_blocked =
        format!("GET http://{BLOCKED}/ HTTP/1.1\r\nHost: {BLOCKED}\r\nConnection: close\r\n\r\n");
    let raw = exchange(&proxy, &h, get_blocked.as_bytes()).await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert_eq!(
        proxy
            .metric("filter_proxy_proxy_protocol_accepted_total")
            .await,
        Some(2.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn forged_or_missing_headers_are_refused() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, OVERLAY).await;
    let forged = header(
        "another-key-that-is-long-enough-00",
        proxy.addr,
        Some("x"),
        Some("staff"),
        false,
    );
    let raw = exchange(
        &proxy,
        &forged,
        b"GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\r\n",
    )
    .await;
    assert!(raw.is_empty(), "closed without an answer: {raw}");
    // A trusted peer must send a header.
    let raw = util::raw_exchange(
        proxy.addr,
        b"GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\r\n",
    )
    .await;
    assert!(raw.is_empty(), "closed without an answer: {raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    assert_eq!(
        proxy
            .metric("filter_proxy_proxy_protocol_refused_total{reason=\"bad_hmac\"}")
            .await,
        Some(1.0)
    );
    util::eventually(Duration::from_secs(5), "missing header counted", || async {
        proxy
            .metric("filter_proxy_proxy_protocol_refused_total{reason=\"missing_header\"}")
            .await
            == Some(1.0)
    })
    .await;
    proxy.stop().await;
}

#[tokio::test]
async fn transparent_http_is_served_from_host_and_tls_sni_is_checked() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, OVERLAY).await;
    let h = header(KEY, origin.addr, None, None, true);
    let request = format!("GET /echo HTTP/1.1\r\nHost: {ALLOWED}\r\nConnection: close\r\n\r\n");
    let raw = exchange(&proxy, &h, request.as_bytes()).await;
    assert_eq!(
        status_of(&raw),
        200,
        "origin-form is fine when intercepted: {raw}"
    );
    assert_eq!(body_json(&raw)["headers"]["x-forwarded-for"][0], "10.9.8.7");
    let request = format!("GET / HTTP/1.1\r\nHost: {BLOCKED}\r\nConnection: close\r\n\r\n");
    let raw = exchange(&proxy, &h, request.as_bytes()).await;
    assert_eq!(status_of(&raw), 403, "{raw}");

    // Intercepted TLS naming a blocked host is cut before any byte reaches the origin.
    let before = origin.requests.load(Ordering::SeqCst);
    let raw = exchange(&proxy, &h, &util::client_hello(BLOCKED)).await;
    assert!(raw.is_empty(), "{raw:?}");
    util::eventually(Duration::from_secs(5), "SNI block counted", || async {
        proxy
            .metric("filter_proxy_tunnels_closed_total{outcome=\"sni_blocked\"}")
            .await
            == Some(1.0)
    })
    .await;
    assert_eq!(origin.requests.load(Ordering::SeqCst), before);
    proxy.stop().await;
}
