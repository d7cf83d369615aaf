//! The appliance end to end in explicit mode: client -> appliance -> fake cloud proxy
//! (which verifies the PROXY v2 header with the cloud-side `accept` and echoes), over real
//! loopback sockets. Covers identity, half-close, idle timeout, the connection cap and
//! upstream failures.

mod appliance_common;

use std::net::SocketAddr;
use std::time::Duration;

use appliance::radius::codec::encode_accounting_request;
use appliance_common::{cloud, eventually, start, Cloud, SECRET};
use proxy_protocol::ProxiedIdentity;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const DEADLINE: Duration = Duration::from_secs(10);

fn explicit(extra: &str) -> String {
    // Top-level keys first: TOML puts anything after a table header into that table.
    format!("{extra}\n[[listeners]]\nmode = \"explicit\"\nlisten = \"127.0.0.1:0\"\n")
}

async fn next_identity(c: &mut Cloud) -> ProxiedIdentity {
    tokio::time::timeout(DEADLINE, c.identities.recv())
        .await
        .expect("cloud saw a connection")
        .expect("cloud alive")
        .expect("header verified")
        .expect("a PROXY (not LOCAL) header")
}

/// Writes `data`, half-closes, and reads everything back until the appliance closes.
async fn echo_round(addr: SocketAddr, data: &[u8]) -> (Vec<u8>, SocketAddr) {
    let mut s = TcpStream::connect(addr).await.expect("connect appliance");
    let local = s.local_addr().expect("addr");
    let (mut r, mut w) = s.split();
    let write = async {
        // Errors here show up as missing echo below (the appliance may refuse early).
        if w.write_all(data).await.is_ok() {
            let _ = w.shutdown().await;
        }
    };
    let read = async {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(DEADLINE, r.read_to_end(&mut got))
            .await
            .expect("stream ends");
        got
    };
    let ((), got) = tokio::join!(write, read);
    (got, local)
}

#[tokio::test]
async fn static_identity_reaches_the_cloud_and_half_close_is_kept() {
    let mut c = cloud().await;
    let r = start(
        c.addr,
        &explicit(
            r#"
            [[static_map]]
            network = "127.0.0.0/8"
            user = "library-pc"
            group = "students"
            "#,
        ),
    )
    .await;
    let listener = r.listeners[0];
    let (got, local) = echo_round(listener, b"GET / HTTP/1.1\r\n\r\n").await;
    // The cloud echoed our bytes, saw our EOF (half-close), then still sent "bye".
    assert_eq!(got, b"GET / HTTP/1.1\r\n\r\nbye");
    let id = next_identity(&mut c).await;
    assert_eq!(id.user.as_deref(), Some("library-pc"));
    assert_eq!(id.group.as_deref(), Some("students"));
    assert_eq!(id.source, local, "original client address");
    assert_eq!(id.destination, listener, "explicit mode: the listener");
    assert!(!id.transparent, "explicit mode is flagged as such");
    let m = r.appliance.metrics();
    assert_eq!(m.identity_count("static"), 1);
    eventually("bytes counted", DEADLINE, || {
        m.bytes_down.get() == got.len() as u64
    })
    .await;
    assert_eq!(m.bytes_up.get(), 18);
    r.stop().await;
}

#[tokio::test]
async fn radius_identity_wins_and_unknown_ip_goes_without_user() {
    let mut c = cloud().await;
    let r = start(
        c.addr,
        &explicit(&format!(
            r#"
            [radius]
            listen = "127.0.0.1:0"
            clients = [{{ network = "127.0.0.1/32", secret = "{SECRET}" }}]
            "#
        )),
    )
    .await;
    let listener = r.listeners[0];
    // Unknown at first: forwarded, authenticated addresses, no user.
    let (got, _) = echo_round(listener, b"x").await;
    assert_eq!(got, b"xbye");
    let id = next_identity(&mut c).await;
    assert_eq!((id.user, id.group), (None, None));

    // Register 127.0.0.1 through RADIUS, as a NAS would.
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let req = encode_accounting_request(
        9,
        &[
            (1, b"alice"),
            (8, &[127, 0, 0, 1]),
            (40, &1u32.to_be_bytes()),
            (11, b"staff"),
        ],
        SECRET.as_bytes(),
    );
    sock.send_to(&req, r.radius.expect("radius"))
        .await
        .expect("send");
    let mut buf = [0u8; 64];
    tokio::time::timeout(DEADLINE, sock.recv_from(&mut buf))
        .await
        .expect("Accounting-Response")
        .expect("recv");
    let (got, _) = echo_round(listener, b"y").await;
    assert_eq!(got, b"ybye");
    let id = next_identity(&mut c).await;
    assert_eq!(id.user.as_deref(), Some("alice"));
    assert_eq!(id.group.as_deref(), Some("staff"));
    let m = r.appliance.metrics();
    assert_eq!(
        (m.identity_count("miss"), m.identity_count("radius")),
        (1, 1)
    );
    r.stop().await;
}

#[tokio::test]
async fn large_transfer_both_ways_with_small_buffers() {
    let mut c = cloud().await;
    let r = start(c.addr, &explicit("forward = { buffer_bytes = 1024 }")).await;
    // 2 MiB through 1 KiB buffers while the echo writes back concurrently: a splice that
    // blocked one direction on the other would deadlock here.
    let data: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let (got, _) = echo_round(r.listeners[0], &data).await;
    assert_eq!(got.len(), data.len() + 3);
    assert!(got.starts_with(&data) && got.ends_with(b"bye"));
    next_identity(&mut c).await;
    r.stop().await;
}

#[tokio::test]
async fn idle_connection_is_closed() {
    let mut c = cloud().await;
    let r = start(c.addr, &explicit("forward = { idle_timeout_secs = 1 }")).await;
    let mut s = TcpStream::connect(r.listeners[0]).await.expect("connect");
    s.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.expect("echo");
    assert_eq!(&buf, b"ping");
    next_identity(&mut c).await;
    // Now silence: the appliance must close the connection on its own.
    let mut rest = Vec::new();
    tokio::time::timeout(DEADLINE, s.read_to_end(&mut rest))
        .await
        .expect("closed by the idle timeout")
        .expect("read");
    assert!(rest.is_empty());
    let m = r.appliance.metrics().clone();
    eventually("idle timeout counted", DEADLINE, || {
        m.idle_timeouts.get() == 1
    })
    .await;
    eventually("slot released", DEADLINE, || m.active.get() == 0).await;
    r.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused() {
    let mut c = cloud().await;
    let r = start(c.addr, &explicit("forward = { max_connections = 2 }")).await;
    let addr = r.listeners[0];
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"a").await.expect("write");
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.expect("echo");
        next_identity(&mut c).await;
        held.push(s);
    }
    let mut third = TcpStream::connect(addr).await.expect("kernel accepts");
    let mut buf = Vec::new();
    let n = tokio::time::timeout(DEADLINE, third.read_to_end(&mut buf))
        .await
        .expect("refused promptly");
    assert!(n.map_or(true, |n| n == 0), "closed without data");
    let m = r.appliance.metrics().clone();
    assert_eq!(m.rejected_count("capacity"), 1);
    // Freeing a slot lets the next connection through.
    drop(held.pop());
    eventually("slot released", DEADLINE, || m.active.get() == 1).await;
    let (got, _) = echo_round(addr, b"z").await;
    assert_eq!(got, b"zbye");
    // Open connections delay shutdown up to the drain timeout; close ours first.
    drop(held);
    r.stop().await;
}

#[tokio::test]
async fn unreachable_cloud_closes_the_client_and_counts() {
    // Bind and drop to get a port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let r = start(dead_addr, &explicit("")).await;
    let (got, _) = echo_round(r.listeners[0], b"hello").await;
    assert!(got.is_empty());
    let m = r.appliance.metrics().clone();
    eventually("upstream failure counted", DEADLINE, || {
        m.rejected_count("upstream_connect") == 1
    })
    .await;
    r.stop().await;
}

#[tokio::test]
async fn admin_endpoints_report_health_readiness_and_metrics() {
    let mut c = cloud().await;
    let r = start(c.addr, &explicit("[admin]\nlisten = \"127.0.0.1:0\"\n")).await;
    let admin = r.admin.expect("admin bound");
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{admin}{path}")).send();
    assert_eq!(get("/healthz").await.expect("healthz").status(), 200);
    assert_eq!(get("/readyz").await.expect("readyz").status(), 200);
    // The probe is a LOCAL header: accepted by the cloud side, carries no identity.
    let probe = tokio::time::timeout(DEADLINE, c.identities.recv())
        .await
        .expect("probe reached the cloud")
        .expect("cloud alive");
    assert_eq!(probe, Ok(None));
    let (got, _) = echo_round(r.listeners[0], b"m").await;
    assert_eq!(got, b"mbye");
    let m = r.appliance.metrics().clone();
    eventually("connection finished", DEADLINE, || m.active.get() == 0).await;
    let text = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    for needle in [
        "appliance_connections_total{mode=\"explicit\"} 1",
        "appliance_bytes_total{direction=\"upstream\"} 1",
        "appliance_identity_lookups_total{result=\"miss\"} 1",
        "appliance_connections_active 0",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert_eq!(get("/nope").await.expect("404").status(), 404);
    // Cloud gone: not ready, with the reason.
    drop(c);
    eventually_ready(&http, admin, false).await;
    r.stop().await;
}

async fn eventually_ready(http: &reqwest::Client, admin: SocketAddr, want: bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let resp = http
            .get(format!("http://{admin}/readyz"))
            .send()
            .await
            .expect("readyz");
        let ok = resp.status() == 200;
        if ok == want {
            if !want {
                let body = resp.text().await.expect("body");
                assert!(body.contains("cloud proxy unreachable"), "{body}");
            }
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "readiness never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
