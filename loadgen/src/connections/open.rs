//! Opening the storm's connections: idle keep-alive connections (one GET of 1 KiB, then
//! idle), idle tunnels (CONNECT, then a TLS handshake with the origin through the tunnel,
//! then idle) and attempts beyond the connection cap, each bound to a 127.0.0.0/8 source
//! address of its own before connecting so that thousands of connections to one proxy
//! port do not run out of ephemeral ports (each source address has its own port range).
//!
//! A ramp opens `n` connections at evenly spaced start times over its length, with a
//! bounded number in flight (so a stalled proxy slows the ramp instead of piling up
//! tasks); every connection has a deadline, and what it cost to establish is recorded.
//! A shared counter follows the connections held as each becomes idle, so a sampler can
//! plot a proxy's cost over what the client holds when the proxy reports no count itself.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;

/// The host every storm request names (uncategorised, so allowed by every policy).
pub const HOST: &str = "allowed.example";
/// Connections being established at once, at most.
const IN_FLIGHT: usize = 512;
/// Longest time one connection may take to become idle.
const ESTABLISH_DEADLINE: Duration = Duration::from_secs(15);
/// Longest answer head read, bytes.
const HEAD_MAX: usize = 8 * 1024;

/// Which kind of connection a ramp opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One GET of 1 KiB, then idle.
    KeepAlive,
    /// CONNECT to `HOST:port`, TLS handshake with the origin through it, then idle. The
    /// bundled proxy sends every host and port to the origin ([`TUNNEL_PORT`] then); a
    /// proxy that resolves names itself (Squid with a hosts file) needs the origin's port.
    Tunnel {
        /// The port the CONNECT names.
        port: u16,
    },
}

/// The port tunnels name by default (the bundled proxy maps it to the origin).
pub const TUNNEL_PORT: u16 = 443;

/// A connection held open until the storm ends.
pub enum Held {
    /// An idle keep-alive connection.
    Plain(TcpStream),
    /// An idle tunnel with its TLS session.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Held {
    /// Whether the proxy still has the connection open: nothing to read (`WouldBlock`) or
    /// unread bytes (a TLS session ticket) is open; end of stream or an error is closed.
    /// May consume a byte, so it is for a connection about to be dropped.
    pub fn still_open(&self) -> bool {
        let stream = match self {
            Held::Plain(s) => s,
            Held::Tls(s) => s.get_ref().0,
        };
        let mut byte = [0u8; 1];
        match stream.try_read(&mut byte) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }
}

/// What a ramp produced.
pub struct Ramp {
    /// The open, idle connections.
    pub held: Vec<Held>,
    /// Connections that failed, with the first few reasons.
    pub failed: u64,
    /// Up to five distinct failure reasons.
    pub reasons: Vec<String>,
    /// Time from the first connect to the last connection idle.
    pub elapsed: Duration,
    /// Connect-to-idle times, µs.
    pub establish_us: Histogram<u64>,
}

/// The source address of connection `i` of a run's `block` (0: storm, 1: active users,
/// 2: beyond the cap): 127.(2 + block).x.y, 4,000 addresses per block.
pub fn source_addr(block: u8, i: u64) -> Ipv4Addr {
    let n = i % 4_000;
    Ipv4Addr::new(127, 2 + block, (n / 250) as u8, (n % 250 + 1) as u8)
}

/// A TCP connection to `proxy` from `src` (any port).
pub async fn connect_from(src: Ipv4Addr, proxy: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src.into(), 0))?;
    let stream = socket.connect(proxy).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The keep-alive GET of 1 KiB, absolute-form.
pub fn get_request() -> String {
    format!("GET http://{HOST}/bytes/1024 HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
}

/// Reads one answer (head, then a `Content-Length` body) without reading past it;
/// returns the status and the body length.
pub async fn read_answer(stream: &mut TcpStream) -> Result<(u16, usize), String> {
    let mut buf = Vec::with_capacity(1024 + 512);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buf.len() > HEAD_MAX {
            return Err("answer head too long".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed before an answer".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "no status in the answer".to_string())?;
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read body: {e}"))?;
        if n == 0 {
            return Err("closed mid-body".into());
        }
        have += n;
    }
    Ok((status, have))
}

async fn keep_alive(proxy: SocketAddr, src: Ipv4Addr) -> Result<Held, String> {
    let mut stream = connect_from(src, proxy)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(get_request().as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    match read_answer(&mut stream).await? {
        (200, 1024) => Ok(Held::Plain(stream)),
        (status, len) => Err(format!("answer {status} with {len} body bytes")),
    }
}

async fn tunnel(
    proxy: SocketAddr,
    src: Ipv4Addr,
    port: u16,
    tls: TlsConnector,
) -> Result<Held, String> {
    let mut stream = connect_from(src, proxy)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let connect = format!("CONNECT {HOST}:{port} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n");
    stream
        .write_all(connect.as_bytes())
        .await
        .map_err(|e| format!("send CONNECT: {e}"))?;
    // Byte by byte: nothing past the head may be consumed.
    let mut head = Vec::with_capacity(128);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= HEAD_MAX {
            return Err("CONNECT answer head too long".into());
        }
        head.push(
            stream
                .read_u8()
                .await
                .map_err(|e| format!("CONNECT answer: {e}"))?,
        );
    }
    if !head.starts_with(b"HTTP/1.1 200") {
        let line = String::from_utf8_lossy(&head);
        return Err(format!(
            "CONNECT answered `{}`",
            line.lines().next().unwrap_or_default()
        ));
    }
    let name = rustls::pki_types::ServerName::try_from(HOST).map_err(|e| e.to_string())?;
    let tls_stream = tls
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS through the tunnel: {e}"))?;
    Ok(Held::Tls(Box::new(tls_stream)))
}

/// Opens `n` connections of `kind` over `ramp`, the first from source address index
/// `first`; returns them idle with the ramp's account. `held_now` is raised by one as each
/// connection becomes idle (the caller lowers it when it drops them).
pub async fn ramp(
    kind: Kind,
    n: u64,
    first: u64,
    over: Duration,
    proxy: SocketAddr,
    tls: &TlsConnector,
    held_now: &Arc<AtomicU64>,
) -> Ramp {
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let at = start + over.mul_f64(i as f64 / n as f64);
        tokio::time::sleep_until(at.into()).await;
        let permit = Arc::clone(&gate)
            .acquire_owned()
            .await
            .expect("the ramp's semaphore is never closed");
        let src = source_addr(0, first + i);
        let tls = tls.clone();
        let held_now = Arc::clone(held_now);
        tasks.spawn(async move {
            let _permit = permit;
            let t0 = Instant::now();
            let opened = match kind {
                Kind::KeepAlive => {
                    tokio::time::timeout(ESTABLISH_DEADLINE, keep_alive(proxy, src)).await
                }
                Kind::Tunnel { port } => {
                    tokio::time::timeout(ESTABLISH_DEADLINE, tunnel(proxy, src, port, tls)).await
                }
            };
            let opened = opened.unwrap_or_else(|_| Err("deadline passed".into()));
            if opened.is_ok() {
                held_now.fetch_add(1, Ordering::Relaxed);
            }
            (opened, t0.elapsed())
        });
    }
    let mut out = Ramp {
        held: Vec::with_capacity(n as usize),
        failed: 0,
        reasons: Vec::new(),
        elapsed: Duration::ZERO,
        establish_us: Histogram::new(3).expect("3 significant figures are valid"),
    };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((Ok(held), took)) => {
                let _ = out.establish_us.record(took.as_micros().max(1) as u64);
                out.held.push(held);
            }
            Ok((Err(reason), _)) => {
                out.failed += 1;
                if out.reasons.len() < 5 && !out.reasons.contains(&reason) {
                    out.reasons.push(reason);
                }
            }
            Err(e) => {
                out.failed += 1;
                if out.reasons.len() < 5 {
                    out.reasons.push(format!("task: {e}"));
                }
            }
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// What the attempts beyond the cap met.
#[derive(Debug, Default, Clone, Copy)]
pub struct BeyondCap {
    /// Attempts made.
    pub attempted: u64,
    /// Answered with the proxy's 503.
    pub refused: u64,
    /// Let in (no answer within the wait: the proxy waits for a request).
    pub served: u64,
    /// Closed or failed without an answer.
    pub failed: u64,
}

/// Makes `n` connections while the cap is full and classifies what each met; none sends
/// a request, so a refused one reads the proxy's 503 and a served one reads nothing.
pub async fn beyond_cap(n: u64, proxy: SocketAddr) -> BeyondCap {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        tasks.spawn(async move {
            let mut stream = match connect_from(source_addr(2, i), proxy).await {
                Ok(s) => s,
                Err(_) => return 2u8,
            };
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
                Ok(Ok(k)) if buf[..k].starts_with(b"HTTP/1.1 503") => 0,
                Err(_) => 1,
                _ => 2,
            }
        });
    }
    let mut out = BeyondCap {
        attempted: n,
        ..BeyondCap::default()
    };
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(0) => out.refused += 1,
            Ok(1) => out.served += 1,
            _ => out.failed += 1,
        }
    }
    out
}
