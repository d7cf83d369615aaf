//! Bad RADIUS packets, fuzz-style and bounded: the codec never panics on any bytes, and
//! the listener drops and counts every bad datagram while still answering good ones.

mod appliance_common;

use std::net::SocketAddr;
use std::time::Duration;

use appliance::radius::codec::{encode_accounting_request, verify_accounting_response, Packet};
use appliance::radius::record::AccountingRecord;
use appliance_common::{eventually, start, Running, SECRET};
use tokio::net::UdpSocket;

const DEADLINE: Duration = Duration::from_secs(10);

/// Fixed-seed xorshift: reproducible "random" bytes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

async fn appliance() -> Running {
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("literal");
    start(
        upstream,
        &format!(
            r#"
            [[listeners]]
            mode = "explicit"
            listen = "127.0.0.1:0"
            [radius]
            listen = "127.0.0.1:0"
            clients = [{{ network = "127.0.0.0/8", secret = "{SECRET}" }}]
            "#
        ),
    )
    .await
}

fn start_packet(id: u8, user: &str, ip: [u8; 4]) -> Vec<u8> {
    encode_accounting_request(
        id,
        &[(1, user.as_bytes()), (8, &ip), (40, &1u32.to_be_bytes())],
        SECRET.as_bytes(),
    )
}

/// Sends a good packet and checks its authentic answer arrives: the listener is alive.
async fn still_answers(sock: &UdpSocket, server: SocketAddr, id: u8) {
    let req = start_packet(id, "probe", [10, 99, 0, id]);
    sock.send_to(&req, server).await.expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(DEADLINE, sock.recv_from(&mut buf))
        .await
        .expect("an answer to the good packet")
        .expect("recv");
    // Bad packets get no answer, so the first datagram back must be this request's.
    assert!(
        verify_accounting_response(&buf[..n], &req, SECRET.as_bytes()),
        "unexpected datagram in reply to a bad packet"
    );
}

fn dropped(r: &Running) -> u64 {
    let m = r.appliance.metrics();
    ["malformed", "not_accounting", "bad_authenticator"]
        .iter()
        .map(|res| m.radius_count("unknown", res))
        .sum()
}

#[test]
fn codec_survives_random_bytes() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut decoded = 0;
    for i in 0..50_000 {
        let len = (rng.next() % 300) as usize;
        let mut d = rng.bytes(len);
        // Every few rounds make the header plausible so attribute parsing is reached.
        if i % 3 == 0 && d.len() >= 20 {
            d[0] = 4;
            let l = (d.len() as u16).to_be_bytes();
            d[2] = l[0];
            d[3] = l[1];
        }
        if let Ok(p) = Packet::decode(&d) {
            decoded += 1;
            let _ = AccountingRecord::from_packet(&p);
            assert!(p.attributes().count() <= d.len());
            assert!(!p.verify_accounting_request(SECRET.as_bytes()));
        }
    }
    assert!(decoded > 0, "the plausible headers should decode sometimes");
}

#[tokio::test]
async fn structured_bad_packets_are_dropped_and_counted() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let good = start_packet(1, "alice", [10, 0, 0, 1]);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    cases.push(("empty", Vec::new()));
    cases.push(("truncated header", good[..10].to_vec()));
    cases.push(("truncated body", good[..good.len() - 3].to_vec()));
    let mut short_len = good.clone();
    short_len[2..4].copy_from_slice(&19u16.to_be_bytes());
    cases.push(("length below 20", short_len));
    let mut long_len = good.clone();
    long_len[2..4].copy_from_slice(&5000u16.to_be_bytes());
    cases.push(("length above 4096", long_len));
    let mut zero_attr = good.clone();
    zero_attr[21] = 0;
    cases.push(("attribute length 0", zero_attr));
    let mut overrun = good.clone();
    overrun[21] = 250;
    cases.push(("attribute overruns", overrun));
    let mut access = good.clone();
    access[0] = 1;
    cases.push(("Access-Request", access));
    cases.push((
        "wrong secret",
        encode_accounting_request(2, &[(1, b"eve"), (8, &[10, 0, 0, 2])], b"wrong"),
    ));
    let mut tampered = good.clone();
    let n = tampered.len();
    tampered[n - 1] ^= 1;
    cases.push(("tampered attribute", tampered));
    cases.push(("oversized datagram", vec![4u8; 6000]));
    for (i, (what, d)) in cases.iter().enumerate() {
        sock.send_to(d, server).await.expect("send");
        let want = i as u64 + 1;
        eventually(what, DEADLINE, || dropped(&r) == want).await;
    }
    still_answers(&sock, server, 42).await;
    assert_eq!(
        r.appliance.sessions().len(),
        1,
        "only the probe was applied"
    );
    r.stop().await;
}

#[tokio::test]
async fn random_datagrams_never_crash_the_listener() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sent = 0u64;
    // 20 batches of 50: bounded, and each batch is drained before the next so loopback
    // socket buffers never overflow (every datagram must be counted).
    for batch in 0..20u8 {
        for _ in 0..50 {
            let len = 20 + (rng.next() % 200) as usize;
            let mut d = rng.bytes(len);
            d[0] = if rng.next() % 2 == 0 { 4 } else { d[0] };
            sock.send_to(&d, server).await.expect("send");
            sent += 1;
        }
        eventually("batch counted", DEADLINE, || dropped(&r) == sent).await;
        still_answers(&sock, server, batch).await;
    }
    assert_eq!(dropped(&r), 1000);
    r.stop().await;
}
