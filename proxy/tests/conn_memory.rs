//! Live heap per idle client connection, measured on the real binary: the proxy runs as
//! its own process (so the test's own clients and origin are not counted) and its
//! jemalloc `allocated` is read from `/debug/jemalloc` before and after opening many idle
//! connections. Bytes, not time: the figures do not move with the machine's load.
//!
//! `FILTER_PROXY_BIN=target/release/filter-proxy cargo test -p filter-proxy --test
//! conn_memory -- --nocapture` measures a release build instead and prints its figures.
//!
//! The ceilings are regression guards, not the goals: hyper holds an 8 KiB read buffer and
//! an 8 KiB write buffer per HTTP/1 connection whatever we do (see proxy/README.md,
//! "Memory per connection"), and this is a debug build, whose futures are larger. A
//! connection that kept a window of twice the head limit (64 KiB), as the framing check
//! once did, fails them at once.

mod util;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use util::{demo_dir, Origin, ALLOWED};

/// Idle connections opened per kind.
const CONNECTIONS: usize = 200;
/// Ceiling for an idle keep-alive connection, its share of the upstream pool included.
const KEEP_ALIVE_CEILING: f64 = 32.0 * 1024.0;
/// Ceiling for an idle tunnel (the goal).
const TUNNEL_CEILING: f64 = 32.0 * 1024.0;
/// How much more a connection that has streamed a large download may keep.
const AFTER_DOWNLOAD_SLACK: f64 = 8.0 * 1024.0;

/// The proxy binary as a child process, killed by pid when dropped (also on panic).
struct ProxyProcess {
    child: Child,
    addr: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn start_proxy(origin: &Origin) -> ProxyProcess {
    let dir = tempfile::tempdir().unwrap();
    let (addr, admin) = (free_addr(), free_addr());
    let config = format!(
        "[server]\nlisten = \"{addr}\"\nadmin_listen = \"{admin}\"\n\
         [filter]\ncategories = \"{demo}/categories.txt\"\npolicy = \"{demo}/policy.toml\"\n\
         [identity]\nusers_file = \"{demo}/users.csv\"\n\
         [upstream.resolve]\n\"*\" = \"{origin}\"\n\
         [tunnel]\nnon_tls = \"allow\"\n[log]\nlevel = \"warn\"\n",
        demo = demo_dir().display(),
        origin = origin.addr,
    );
    std::fs::write(dir.path().join("proxy.toml"), config).unwrap();
    let binary = std::env::var_os("FILTER_PROXY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_filter-proxy").into());
    let child = Command::new(binary)
        .arg("--config")
        .arg(dir.path().join("proxy.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the proxy binary starts");
    let proxy = ProxyProcess {
        child,
        addr,
        admin,
        _dir: dir,
    };
    util::eventually(Duration::from_secs(20), "proxy ready", || async {
        admin_get(proxy.admin, "/readyz").await.0 == 200
    })
    .await;
    proxy
}

async fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(admin).await else {
        return (0, String::new());
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let raw = util::read_until_close(&mut s).await;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (util::status_of(&raw), body.unwrap_or_default())
}

/// Live heap, read twice a little apart until it settles (the proxy's own bookkeeping
/// after the last request may still be finishing).
async fn allocated(proxy: &ProxyProcess) -> f64 {
    let mut last = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, body) = admin_get(proxy.admin, "/debug/jemalloc").await;
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let now = json["allocated"].as_f64().unwrap();
        if last.is_some_and(|l: f64| (l - now).abs() < 4096.0) {
            return now;
        }
        last = Some(now);
    }
    last.unwrap()
}

/// Sends `head` and reads one response (head and `Content-Length` body); the connection
/// stays open.
async fn exchange(stream: &mut TcpStream, head: &str) -> String {
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a response");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut have = buf.len() - head_end;
    while have < length {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body");
        have += n;
    }
    head
}

/// Opens `CONNECTIONS` connections, each left idle after `head`; returns the live heap
/// each one holds.
async fn per_connection(proxy: &ProxyProcess, head: &str) -> f64 {
    // Warm the runtime and the upstream pool first, so they are not counted.
    for _ in 0..5 {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        exchange(&mut s, head).await;
    }
    let before = allocated(proxy).await;
    let mut open = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        let answer = exchange(&mut s, head).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        open.push(s);
    }
    let after = allocated(proxy).await;
    drop(open);
    (after - before) / CONNECTIONS as f64
}

#[tokio::test]
async fn idle_connections_hold_little_live_heap() {
    let origin = Origin::start().await;
    let proxy = start_proxy(&origin).await;
    let keep_alive = per_connection(
        &proxy,
        &format!("GET http://{ALLOWED}/bytes/1024 HTTP/1.1\r\nHost: {ALLOWED}\r\n\r\n"),
    )
    .await;
    let tunnel = per_connection(
        &proxy,
        &format!("CONNECT {ALLOWED}:443 HTTP/1.1\r\nHost: {ALLOWED}:443\r\n\r\n"),
    )
    .await;
    let download = per_connection(
        &proxy,
        &format!("GET http://{ALLOWED}/bytes/4194304 HTTP/1.1\r\nHost: {ALLOWED}\r\n\r\n"),
    )
    .await;
    eprintln!(
        "live heap per idle connection ({CONNECTIONS} each): keep-alive {keep_alive:.0} B, \
         tunnel {tunnel:.0} B, after a 4 MiB download {download:.0} B"
    );
    assert!(
        keep_alive <= KEEP_ALIVE_CEILING,
        "keep-alive: {keep_alive:.0} B"
    );
    assert!(tunnel <= TUNNEL_CEILING, "tunnel: {tunnel:.0} B");
    assert!(
        download <= keep_alive + AFTER_DOWNLOAD_SLACK,
        "after a download: {download:.0} B against {keep_alive:.0} B idle"
    );
}
