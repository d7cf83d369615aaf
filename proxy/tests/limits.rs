//! Strict framing and client-side limits, with raw sockets: CL+TE, duplicate lengths,
//! obs-fold, oversized heads, slowloris, malformed requests next to a good client, and the
//! connection limit.

mod util;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{raw_exchange, status_of, Origin, TestProxy};

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_closed() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let raw = raw_exchange(
        proxy.addr,
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n\
          GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    assert!(
        raw.contains("Content-Length and Transfer-Encoding"),
        "{raw}"
    );
    assert_eq!(
        raw.matches("HTTP/1.1 ").count(),
        1,
        "connection closed after the refusal: {raw}"
    );
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        0,
        "nothing reached the origin"
    );
    // Same with the headers the other way round.
    let raw = raw_exchange(
        proxy.addr,
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    // A plain chunked upload is fine.
    let raw = raw_exchange(
        proxy.addr,
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert!(raw.contains("\"body_len\":4"), "{raw}");
    proxy.stop().await;
}

#[tokio::test]
async fn duplicate_lengths_and_obs_fold_are_400() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let raw = raw_exchange(
        proxy.addr,
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "differing Content-Lengths: {raw}");
    let raw = raw_exchange(
        proxy.addr,
        b"GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          X-Folded: first\r\n  second\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 400, "obs-fold: {raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    proxy.stop().await;
}

#[tokio::test]
async fn oversized_head_gets_431() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[server]\nmax_header_bytes = 8192\n").await;
    let big = "a".repeat(20_000);
    let req = format!(
        "GET http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\nX-Big: {big}\r\n\r\n"
    );
    let raw = raw_exchange(proxy.addr, req.as_bytes()).await;
    assert_eq!(status_of(&raw), 431, "{raw}");
    proxy.stop().await;
}

#[tokio::test]
async fn slowloris_client_is_cut_at_the_head_deadline_despite_trickling() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[server]\nheader_read_timeout = \"400ms\"\n").await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET http://allowed.example/echo HTTP/1.1\r\n")
        .await
        .unwrap();
    // Trickle one header line every 100 ms; each would reset a per-read timer.
    let mut sent = 0;
    let closed = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream
            .write_all(format!("X-Drip-{sent}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            break true;
        }
        sent += 1;
        let mut buf = [0u8; 256];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
        {
            assert_eq!(n, 0, "no response is sent to a head that never completes");
            break true;
        }
        if sent > 50 {
            break false;
        }
    };
    assert!(
        closed,
        "the proxy kept a trickling head open for {sent} lines"
    );
    assert!(
        sent >= 2,
        "closed too early to prove the deadline is per head: {sent}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn malformed_request_gets_400_while_a_concurrent_client_is_served() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    let good = tokio::spawn(async move {
        client
            .get("http://allowed.example/delay/300")
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let raw = raw_exchange(proxy.addr, b"G\x01T / HTTP/1.1\r\n\r\n").await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    let raw = raw_exchange(proxy.addr, b"GET http://allowed.example/ HTTP/9.9\r\n\r\n").await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    assert_eq!(good.await.unwrap().unwrap(), 200);
    proxy.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[server]\nmax_connections = 1\n").await;
    let _held = TcpStream::connect(proxy.addr).await.unwrap();
    util::eventually(
        Duration::from_secs(5),
        "first connection counted",
        || async { proxy.metric("filter_proxy_client_connections").await == Some(1.0) },
    )
    .await;
    let mut second = TcpStream::connect(proxy.addr).await.unwrap();
    let raw = util::read_until_close(&mut second).await;
    assert_eq!(status_of(&raw), 503, "{raw}");
    assert_eq!(
        proxy
            .metric("filter_proxy_client_connections_refused_total")
            .await,
        Some(1.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn without_strict_framing_hyper_alone_forwards_cl_te_as_chunked() {
    // Documents why the proxy's own check exists: hyper accepts the pair, drops the
    // Content-Length and uses chunked framing.
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[server]\nstrict_framing = false\n").await;
    let raw = raw_exchange(
        proxy.addr,
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 1);
    proxy.stop().await;
}
