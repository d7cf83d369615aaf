//! `tunnel::run` over real loopback sockets: a rustls client through the tunnel to a
//! tokio-rustls origin, SNI filtering (domain fronting), half-close in both directions,
//! the idle and hello timeouts (under paused time), and both non-TLS policies.

mod tunnel_tls;

use std::net::SocketAddr;
use std::time::Duration;

use filter_proxy::tunnel::{self, Hello, NonTlsPolicy, TunnelOutcome, TunnelSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{timeout, Instant};
use tunnel_tls::{connect, https_get, start_tls_origin, TestCert};

/// Upper bound on any wait in these tests (a hang fails the test instead of stalling CI).
const WAIT: Duration = Duration::from_secs(10);

fn settings(non_tls: NonTlsPolicy) -> TunnelSettings {
    TunnelSettings {
        hello_timeout: Duration::from_secs(5),
        hello_max_bytes: 16 * 1024,
        idle_timeout: Duration::from_secs(30),
        non_tls,
    }
}

/// Accepts one client connection on 127.0.0.1:0, connects to `upstream` and runs the
/// tunnel between them; the outcome arrives on the returned channel.
async fn start_tunnel(
    upstream: SocketAddr,
    settings: TunnelSettings,
    blocked: &'static [&'static str],
) -> (SocketAddr, oneshot::Receiver<TunnelOutcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tunnel");
    let addr = listener.local_addr().expect("tunnel addr");
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.expect("accept client");
        let upstream = TcpStream::connect(upstream)
            .await
            .expect("connect upstream");
        let outcome = tunnel::run(client, upstream, &settings, |sni| blocked.contains(&sni)).await;
        let _ = tx.send(outcome);
    });
    (addr, rx)
}

async fn outcome(rx: oneshot::Receiver<TunnelOutcome>) -> TunnelOutcome {
    timeout(WAIT, rx)
        .await
        .expect("tunnel finished in time")
        .expect("tunnel task sent its outcome")
}

/// An upstream that accepts one connection and reports everything it received.
async fn start_recording_upstream() -> (SocketAddr, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut received = Vec::new();
        let _ = (&mut conn).take(1 << 20).read_to_end(&mut received).await;
        let _ = tx.send(received);
    });
    (addr, rx)
}

/// An upstream that echoes each chunk back as it arrives, for as long as the peer sends.
async fn start_echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = conn.read(&mut buf).await {
            if conn.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    addr
}

#[tokio::test]
async fn tls_request_completes_through_tunnel() {
    let cert = TestCert::generate();
    let origin = start_tls_origin(&cert).await;
    let (addr, rx) = start_tunnel(
        origin.addr,
        settings(NonTlsPolicy::Close),
        &["blocked.test"],
    )
    .await;

    let response = timeout(WAIT, https_get(&cert, connect(addr).await, "allowed.test"))
        .await
        .expect("request finished in time")
        .expect("https request through the tunnel");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("sni=allowed.test"), "{response}");

    match outcome(rx).await {
        TunnelOutcome::Closed { up, down } => {
            assert!(up > 200, "client hello and request went up: {up}");
            assert!(down > 500, "server flight and response came down: {down}");
        }
        other => panic!("unexpected outcome {other:?}"),
    }
    assert_eq!(origin.handshakes(), 1);
}

#[tokio::test]
async fn fronted_sni_is_cut_before_any_byte_goes_upstream() {
    let cert = TestCert::generate();
    let (upstream, received) = start_recording_upstream().await;
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Allow), &["blocked.test"]).await;

    let result = timeout(WAIT, https_get(&cert, connect(addr).await, "blocked.test"))
        .await
        .expect("handshake ended in time");
    assert!(result.is_err(), "handshake must fail: {result:?}");
    assert_eq!(
        outcome(rx).await,
        TunnelOutcome::SniBlocked {
            sni: "blocked.test".into()
        }
    );
    let received = timeout(WAIT, received)
        .await
        .expect("upstream closed")
        .expect("report");
    assert!(received.is_empty(), "upstream got {} bytes", received.len());
}

#[tokio::test(start_paused = true)]
async fn hello_split_into_many_reads_is_still_judged() {
    let cert = TestCert::generate();
    let hello = cert.client_hello_bytes("Blocked.Test");
    let (upstream, received) = start_recording_upstream().await;
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Allow), &["blocked.test"]).await;

    let mut client = connect(addr).await;
    for chunk in hello.chunks(50) {
        client.write_all(chunk).await.expect("send hello chunk");
        // Paused time: the sleep only ends once the tunnel has consumed the chunk.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        outcome(rx).await,
        TunnelOutcome::SniBlocked {
            sni: "blocked.test".into()
        }
    );
    let received = timeout(WAIT, received)
        .await
        .expect("upstream closed")
        .expect("report");
    assert!(received.is_empty(), "upstream got {} bytes", received.len());
}

#[test]
fn every_prefix_of_a_real_client_hello_needs_more() {
    let cert = TestCert::generate();
    let hello = cert.client_hello_bytes("Allowed.Test");
    for cut in 0..hello.len() {
        assert_eq!(
            tunnel::inspect(&hello[..cut]),
            Hello::NeedMore,
            "prefix {cut}"
        );
    }
    assert_eq!(
        tunnel::inspect(&hello),
        Hello::Complete {
            sni: Some("allowed.test".into())
        }
    );
}

#[tokio::test]
async fn hello_larger_than_limit_is_closed_even_when_non_tls_is_allowed() {
    let cert = TestCert::generate();
    let hello = cert.client_hello_bytes("allowed.test");
    let limit = 256;
    assert!(hello.len() > limit, "test needs a hello above the limit");
    let (upstream, received) = start_recording_upstream().await;
    let mut small = settings(NonTlsPolicy::Allow);
    small.hello_max_bytes = limit;
    let (addr, rx) = start_tunnel(upstream, small, &[]).await;

    let mut client = connect(addr).await;
    client.write_all(&hello).await.expect("send hello");
    assert_eq!(outcome(rx).await, TunnelOutcome::NotTls);
    let received = timeout(WAIT, received)
        .await
        .expect("upstream closed")
        .expect("report");
    assert!(received.is_empty(), "upstream got {} bytes", received.len());
}

#[tokio::test]
async fn client_half_close_still_gets_the_reply() {
    // Upstream reads until the client's FIN, then answers and closes.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        let mut request = Vec::new();
        conn.read_to_end(&mut request).await.expect("read to FIN");
        conn.write_all(&request.to_ascii_uppercase())
            .await
            .expect("reply");
        conn.shutdown().await.expect("shutdown");
    });
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Allow), &[]).await;

    let mut client = connect(addr).await;
    client.write_all(b"hello upstream").await.expect("send");
    client.shutdown().await.expect("half-close");
    let mut reply = Vec::new();
    timeout(WAIT, client.read_to_end(&mut reply))
        .await
        .expect("reply in time")
        .expect("read reply");
    assert_eq!(reply, b"HELLO UPSTREAM");
    assert_eq!(
        outcome(rx).await,
        TunnelOutcome::Closed { up: 14, down: 14 }
    );
}

#[tokio::test]
async fn upstream_half_close_lets_the_client_keep_sending() {
    // Upstream speaks first, closes its side, then still reads everything the client sends.
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream = listener.local_addr().expect("upstream addr");
    let (tx, received) = oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.expect("accept");
        conn.write_all(b"banner").await.expect("banner");
        conn.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.expect("read to FIN");
        let _ = tx.send(got);
    });
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Allow), &[]).await;

    let mut client = connect(addr).await;
    client.write_all(b"x").await.expect("first bytes");
    let mut banner = Vec::new();
    timeout(WAIT, client.read_to_end(&mut banner))
        .await
        .expect("banner and FIN in time")
        .expect("read banner");
    assert_eq!(banner, b"banner");
    client
        .write_all(b"yz after FIN")
        .await
        .expect("send after upstream FIN");
    client.shutdown().await.expect("half-close");
    let got = timeout(WAIT, received)
        .await
        .expect("upstream done")
        .expect("report");
    assert_eq!(got, b"xyz after FIN");
    assert_eq!(outcome(rx).await, TunnelOutcome::Closed { up: 13, down: 6 });
}

#[tokio::test(start_paused = true)]
async fn idle_tunnel_is_closed_after_idle_timeout() {
    let upstream = start_echo_upstream().await;
    let settings = settings(NonTlsPolicy::Allow);
    let idle = settings.idle_timeout;
    let (addr, rx) = start_tunnel(upstream, settings, &[]).await;

    let mut client = connect(addr).await;
    client.write_all(b"ping").await.expect("send");
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.expect("echo");
    assert_eq!(&echo, b"ping");
    let last_activity = Instant::now();

    let mut rest = Vec::new();
    let _ = timeout(idle * 2, client.read_to_end(&mut rest))
        .await
        .expect("tunnel closed before twice the idle timeout");
    assert!(rest.is_empty());
    assert!(
        last_activity.elapsed() >= idle,
        "closed early: {:?}",
        last_activity.elapsed()
    );
    assert_eq!(outcome(rx).await, TunnelOutcome::Idle { up: 4, down: 4 });
}

#[tokio::test(start_paused = true)]
async fn silent_client_is_closed_after_hello_timeout_when_non_tls_is_closed() {
    let (upstream, received) = start_recording_upstream().await;
    let settings = settings(NonTlsPolicy::Close);
    let hello_timeout = settings.hello_timeout;
    let (addr, rx) = start_tunnel(upstream, settings, &[]).await;

    let started = Instant::now();
    let mut client = connect(addr).await;
    let mut rest = Vec::new();
    let _ = timeout(WAIT, client.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(
        started.elapsed() >= hello_timeout,
        "closed early: {:?}",
        started.elapsed()
    );
    assert_eq!(outcome(rx).await, TunnelOutcome::NotTls);
    let received = timeout(WAIT, received)
        .await
        .expect("upstream closed")
        .expect("report");
    assert!(received.is_empty());
}

#[tokio::test]
async fn non_tls_is_closed_under_close_policy() {
    let (upstream, received) = start_recording_upstream().await;
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Close), &[]).await;

    let mut client = connect(addr).await;
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: allowed.test\r\n\r\n")
        .await
        .expect("send");
    assert_eq!(outcome(rx).await, TunnelOutcome::NotTls);
    let received = timeout(WAIT, received)
        .await
        .expect("upstream closed")
        .expect("report");
    assert!(received.is_empty(), "upstream got {} bytes", received.len());
}

#[tokio::test]
async fn non_tls_is_forwarded_under_allow_policy() {
    let upstream = start_echo_upstream().await;
    let (addr, rx) = start_tunnel(upstream, settings(NonTlsPolicy::Allow), &[]).await;

    let mut client = connect(addr).await;
    client.write_all(b"SSH-2.0-test\r\n").await.expect("send");
    let mut echo = [0u8; 14];
    timeout(WAIT, client.read_exact(&mut echo))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&echo, b"SSH-2.0-test\r\n");
    client.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    timeout(WAIT, client.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .expect("read to end");
    assert_eq!(
        outcome(rx).await,
        TunnelOutcome::Closed { up: 14, down: 14 }
    );
}
