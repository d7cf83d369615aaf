//! The cloud side of PROXY v2: real TCP connections on loopback, headers built by the
//! appliance's builder, verified by `proxy_protocol::accept`.

use std::net::SocketAddr;
use std::time::Duration;

use proxy_protocol::build::{build_local_header, HeaderIdentity};
use proxy_protocol::{
    accept, build_header, unix_now, AcceptError, CloudSideConfig, HmacKey, ProxiedIdentity,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HTTP: &[u8] = b"GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n";

fn key() -> HmacKey {
    HmacKey::new(b"school-appliance-shared-key-0001".to_vec())
}

fn cfg(trusted: &str) -> CloudSideConfig {
    let mut c = CloudSideConfig::new(vec![trusted.parse().expect("cidr literal")], key());
    c.header_timeout = Duration::from_secs(5);
    c
}

fn src() -> SocketAddr {
    "10.20.30.40:51515".parse().expect("literal")
}

fn dst() -> SocketAddr {
    "203.0.113.7:443".parse().expect("literal")
}

fn header_with(key: &HmacKey, user: Option<&str>, group: Option<&str>, ts: u64) -> Vec<u8> {
    build_header(
        src(),
        dst(),
        HeaderIdentity {
            user,
            group,
            transparent: false,
        },
        key,
        0xE0,
        ts,
    )
    .expect("builds")
}

type Outcome = (Result<Option<ProxiedIdentity>, AcceptError>, Vec<u8>);

/// Sends `chunks` (with a short pause between them) then half-closes; returns what
/// `accept` said and every byte left on the stream afterwards.
async fn run(cfg: CloudSideConfig, chunks: Vec<Vec<u8>>) -> Outcome {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let client = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let n = chunks.len();
        for (i, c) in chunks.into_iter().enumerate() {
            s.write_all(&c).await.expect("write");
            if i + 1 < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = s.shutdown().await;
        // Keep the socket open until the server is done reading.
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    });
    let (mut stream, peer) = listener.accept().await.expect("accept");
    let result = accept(&mut stream, peer, &cfg).await;
    let mut rest = Vec::new();
    if result.is_ok() {
        stream.read_to_end(&mut rest).await.expect("read rest");
    }
    drop(stream);
    client.await.expect("client task");
    (result, rest)
}

fn joined(header: Vec<u8>) -> Vec<Vec<u8>> {
    let mut all = header;
    all.extend_from_slice(HTTP);
    vec![all]
}

#[tokio::test]
async fn round_trip_carries_identity_and_leaves_http_bytes() {
    let now = unix_now();
    let (res, rest) = run(
        cfg("127.0.0.0/8"),
        joined(header_with(&key(), Some("alice"), Some("staff"), now)),
    )
    .await;
    let id = res.expect("accepted").expect("identity present");
    assert_eq!(id.user.as_deref(), Some("alice"));
    assert_eq!(id.group.as_deref(), Some("staff"));
    assert_eq!(id.source, src());
    assert_eq!(id.destination, dst());
    assert_eq!(id.timestamp, now);
    assert!(!id.transparent);
    assert_eq!(
        rest, HTTP,
        "stream must be positioned exactly at the HTTP bytes"
    );
}

#[tokio::test]
async fn header_arriving_in_pieces_is_reassembled() {
    let h = header_with(&key(), Some("bob"), None, unix_now());
    let chunks = vec![
        h[..5].to_vec(),
        h[5..20].to_vec(),
        h[20..].to_vec(),
        HTTP.to_vec(),
    ];
    let (res, rest) = run(cfg("127.0.0.1/32"), chunks).await;
    let id = res.expect("accepted").expect("identity present");
    assert_eq!(id.user.as_deref(), Some("bob"));
    assert_eq!(id.group, None);
    assert_eq!(rest, HTTP);
}

#[tokio::test]
async fn header_without_identity_still_authenticates_addresses() {
    let (res, _) = run(
        cfg("127.0.0.1/32"),
        joined(header_with(&key(), None, None, unix_now())),
    )
    .await;
    let id = res.expect("accepted").expect("identity present");
    assert_eq!((id.user, id.group, id.source), (None, None, src()));
}

#[tokio::test]
async fn untrusted_sender_is_not_read_at_all() {
    // Its header is left for the HTTP parser, which refuses it; its identity never counts.
    let sent = joined(header_with(&key(), Some("alice"), None, unix_now()));
    let (res, rest) = run(cfg("192.0.2.0/24"), sent.clone()).await;
    assert_eq!(res.expect("treated as a plain client"), None);
    assert_eq!(rest, sent.concat(), "not one byte consumed");
}

#[tokio::test]
async fn plain_client_from_untrusted_network_passes_untouched() {
    let (res, rest) = run(cfg("192.0.2.0/24"), vec![HTTP.to_vec()]).await;
    assert_eq!(res.expect("plain client allowed"), None);
    assert_eq!(rest, HTTP);
}

#[tokio::test]
async fn trusted_peer_must_send_header_when_required() {
    let (res, _) = run(cfg("127.0.0.1/32"), vec![HTTP.to_vec()]).await;
    assert_eq!(res.expect_err("required").kind(), "missing_header");

    let mut relaxed = cfg("127.0.0.1/32");
    relaxed.require_from_trusted = false;
    let (res, rest) = run(relaxed, vec![HTTP.to_vec()]).await;
    assert_eq!(res.expect("optional header"), None);
    assert_eq!(rest, HTTP);
}

#[tokio::test]
async fn bad_hmac_is_refused() {
    let wrong = HmacKey::new(b"some-other-school-key-0000000000".to_vec());
    let (res, _) = run(
        cfg("127.0.0.1/32"),
        joined(header_with(&wrong, Some("alice"), None, unix_now())),
    )
    .await;
    assert_eq!(res.expect_err("bad key").kind(), "bad_hmac");
}

#[tokio::test]
async fn tampered_user_is_refused() {
    let mut h = header_with(&key(), Some("alice"), Some("students"), unix_now());
    let pos = h
        .windows(5)
        .position(|w| w == b"alice")
        .expect("user in header");
    h[pos..pos + 5].copy_from_slice(b"admin");
    let (res, _) = run(cfg("127.0.0.1/32"), joined(h)).await;
    assert_eq!(res.expect_err("tampered").kind(), "bad_hmac");
}

#[tokio::test]
async fn stale_and_future_timestamps_are_refused() {
    for ts in [unix_now() - 3600, unix_now() + 3600] {
        let (res, _) = run(
            cfg("127.0.0.1/32"),
            joined(header_with(&key(), Some("alice"), None, ts)),
        )
        .await;
        let err = res.expect_err("stale");
        assert!(matches!(err, AcceptError::Stale { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn unsigned_header_is_refused() {
    let h = ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (src(), dst()),
    )
    .write_tlv(0xE0, b"\x01alice")
    .expect("tlv")
    .build()
    .expect("build");
    let (res, _) = run(cfg("127.0.0.1/32"), joined(h)).await;
    assert_eq!(res.expect_err("unsigned").kind(), "unsigned");
}

#[tokio::test]
async fn local_header_is_a_health_check() {
    let (res, rest) = run(cfg("127.0.0.1/32"), joined(build_local_header())).await;
    assert_eq!(res.expect("local accepted"), None);
    assert_eq!(rest, HTTP);
}

#[tokio::test]
async fn slow_or_truncated_header_is_refused() {
    let h = header_with(&key(), Some("alice"), None, unix_now());
    let mut c = cfg("127.0.0.1/32");
    c.header_timeout = Duration::from_millis(300);
    // Truncated then closed.
    let (res, _) = run(c.clone(), vec![h[..30].to_vec()]).await;
    assert_eq!(res.expect_err("truncated").kind(), "closed");
    // Partial and left hanging: the client keeps the socket open past the timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let partial = h[..30].to_vec();
    let client = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&partial).await.expect("write");
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    });
    let (mut stream, peer) = listener.accept().await.expect("accept");
    let err = accept(&mut stream, peer, &c)
        .await
        .expect_err("must time out");
    assert_eq!(err.kind(), "timeout");
    drop(stream);
    client.await.expect("client");
}

#[tokio::test]
async fn random_garbage_after_signature_never_panics() {
    // Bounded fuzz: a fixed-seed xorshift, 300 headers with random family, length and body.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let c = cfg("127.0.0.1/32");
    let mut refused = 0;
    for _ in 0..300 {
        let body_len = (next() % 120) as usize;
        let mut h = ppp::v2::PROTOCOL_PREFIX.to_vec();
        h.push(0x21);
        h.push([0x11u8, 0x21, 0x31, 0x00, 0x12, 0x45][(next() % 6) as usize]);
        h.extend_from_slice(&(body_len as u16).to_be_bytes());
        h.extend((0..body_len).map(|_| next() as u8));
        if let Ok(parsed) = ppp::v2::Header::try_from(h.as_slice()) {
            let r = proxy_protocol::accept::verify(&parsed, &c, unix_now());
            assert!(r.is_err(), "random bytes must never verify");
        }
        refused += 1;
    }
    assert_eq!(refused, 300);
    // And a few through a real socket.
    for _ in 0..20 {
        let len = (next() % 60) as usize;
        let mut h = ppp::v2::PROTOCOL_PREFIX.to_vec();
        h.extend((0..len).map(|_| next() as u8));
        let (res, _) = run(c.clone(), vec![h]).await;
        assert!(res.is_err());
    }
}

#[tokio::test]
async fn transparent_flag_is_carried_and_signed() {
    let h = build_header(
        src(),
        dst(),
        HeaderIdentity {
            user: Some("alice"),
            group: None,
            transparent: true,
        },
        &key(),
        0xE0,
        unix_now(),
    )
    .expect("builds");
    let (res, _) = run(cfg("127.0.0.1/32"), joined(h.clone())).await;
    assert!(res.expect("accepted").expect("identity").transparent);
    // Stripping the flag TLV (subtype 0x05) breaks the signature.
    let pos = h
        .windows(5)
        .position(|w| w == [0xE0, 0, 2, 0x05, 1])
        .expect("flag TLV present");
    let mut stripped = h.clone();
    stripped.drain(pos..pos + 5);
    let len = u16::from_be_bytes([stripped[14], stripped[15]]) - 5;
    stripped[14..16].copy_from_slice(&len.to_be_bytes());
    let (res, _) = run(cfg("127.0.0.1/32"), joined(stripped)).await;
    assert_eq!(res.expect_err("flag stripped").kind(), "bad_hmac");
}

#[tokio::test]
async fn ipv6_and_mixed_family_addresses_round_trip() {
    let v6_src: SocketAddr = "[2001:db8::10]:50000".parse().expect("literal");
    let v6_dst: SocketAddr = "[2001:db8::20]:443".parse().expect("literal");
    let h = build_header(
        v6_src,
        v6_dst,
        HeaderIdentity {
            user: Some("ipv6-user"),
            ..Default::default()
        },
        &key(),
        0xE0,
        unix_now(),
    )
    .expect("builds");
    let (res, rest) = run(cfg("127.0.0.1/32"), joined(h)).await;
    let id = res.expect("accepted").expect("identity");
    assert_eq!((id.source, id.destination), (v6_src, v6_dst));
    assert_eq!(id.user.as_deref(), Some("ipv6-user"));
    assert_eq!(rest, HTTP);

    // An IPv4 client bound for an IPv6 destination travels as IPv6 with a mapped source.
    let h = build_header(
        src(),
        v6_dst,
        HeaderIdentity::default(),
        &key(),
        0xE0,
        unix_now(),
    )
    .expect("builds");
    let (res, _) = run(cfg("127.0.0.1/32"), joined(h)).await;
    let id = res.expect("accepted").expect("identity");
    assert_eq!(id.source.ip().to_canonical(), src().ip());
    assert_eq!(id.destination, v6_dst);
}
