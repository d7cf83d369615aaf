//! Real parts for the canary judge's tests: the proxy binary built with the test-only
//! slowdown knob, a loopback origin, proxies stopped by pid on drop, and paced load that
//! is bounded in count and time.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A host the demo categories leave allowed (news).
pub const ALLOWED_HOST: &str = "daily-now-2620.test";
/// A host the demo policy blocks for everyone (adult).
pub const BLOCKED_HOST: &str = "nsfw-portal-19.test";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// The proxy built with the `gate-selftest` feature (as `make gate-selftest` builds it,
/// in the debug profile), hard-linked into a directory of this test process so a
/// concurrent build cannot swap it mid-test.
pub fn selftest_proxy() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "filter-proxy",
                "--features",
                "gate-selftest",
            ])
            .current_dir(&root)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the self-test proxy failed");
        let exe = std::env::current_exe().expect("test executable path");
        let profile = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executables live in target/<profile>/deps");
        let dir = profile
            .join("canary-bins")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the binary directory");
        let to = dir.join("filter-proxy");
        let from = profile.join("filter-proxy");
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).expect("copy the proxy binary");
        }
        to
    })
    .clone()
}

/// A loopback origin answering every request with a small 200 and closing, after
/// `delay` (an origin that answers late makes every allowed request through a proxy
/// slower by as much, inside the span the proxy's latency histogram times).
pub struct Origin {
    pub addr: SocketAddr,
}

impl Origin {
    pub fn start(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the origin");
        let addr = listener.local_addr().expect("origin address");
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || serve(conn, delay));
            }
        });
        Origin { addr }
    }
}

fn serve(mut conn: TcpStream, delay: Duration) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // One request per connection: the answer says so and closes.
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    std::thread::sleep(delay);
    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

/// A filter-proxy child, killed and reaped by pid on drop (also on panic).
pub struct Proxy {
    child: Child,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

impl Proxy {
    /// Starts the self-test proxy on the demo data, every host resolved to `origin`,
    /// with the slowdown variables in `env`; waits for `/readyz` (30 s at most).
    pub fn start(origin: SocketAddr, env: &[(&str, &str)]) -> Self {
        let demo = workspace().join("scenarios/demo");
        let (listen, admin) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "[server]\nlisten = \"{listen}\"\nadmin_listen = \"{admin}\"\n\n\
             [filter]\ncategories = \"{c}\"\npolicy = \"{p}\"\n\n\
             [identity]\norder = [\"basic\", \"trusted_header\", \"client_ip\"]\n\
             users_file = \"{u}\"\ntrusted_cidrs = [\"127.0.0.1/32\"]\n\n\
             [upstream.resolve]\n\"*\" = \"{origin}\"\n\n[store]\nbackend = \"memory\"\n\n\
             [log]\nformat = \"text\"\nlevel = \"warn\"\n",
            c = demo.join("categories.txt").display(),
            p = demo.join("policy.toml").display(),
            u = demo.join("users.csv").display(),
        );
        let path = dir.path().join("proxy.toml");
        std::fs::write(&path, config).expect("write the proxy config");
        let mut cmd = Command::new(selftest_proxy());
        cmd.arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start filter-proxy");
        let mut proxy = Proxy {
            child,
            listen,
            admin,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("filter-proxy exited before it was ready: {status}");
            }
            if get_status(admin, "/readyz") == Some(200) {
                return proxy;
            }
            assert!(
                Instant::now() < deadline,
                "filter-proxy not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `/metrics` URL.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.admin)
    }
}

fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ').nth(1)?.parse().ok()
}

/// Paced load on loopback: each sender sends one request every `1/rate` s to its proxy
/// (a new connection each: the answer closes it), stopping at `stop`, at its request
/// budget or at its deadline, whichever comes first.
pub struct Load {
    stop: Arc<AtomicBool>,
    pub sent: Arc<AtomicU64>,
    senders: Vec<JoinHandle<()>>,
}

/// One paced stream of requests.
#[derive(Debug, Clone, Copy)]
pub struct Stream {
    pub proxy: SocketAddr,
    pub host: &'static str,
    pub rate: f64,
}

impl Load {
    pub fn start(streams: &[Stream], max_duration: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let senders = streams
            .iter()
            .map(|&s| {
                let (stop, sent) = (stop.clone(), sent.clone());
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let gap = Duration::from_secs_f64(1.0 / s.rate);
                    let budget = (s.rate * max_duration.as_secs_f64()).ceil() as u64;
                    for i in 0..budget {
                        if stop.load(Ordering::Relaxed) || start.elapsed() >= max_duration {
                            return;
                        }
                        let due = start + gap * u32::try_from(i).unwrap_or(u32::MAX);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        request(s.proxy, s.host, i);
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load {
            stop,
            sent,
            senders,
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.senders.drain(..) {
            let _ = s.join();
        }
    }
}

fn request(proxy: SocketAddr, host: &str, i: u64) {
    let Ok(mut s) = TcpStream::connect_timeout(&proxy, Duration::from_secs(2)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET http://{host}/page/{i} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    );
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

/// The committed gates file with the `[canary]` latency and CPU lines widened for this
/// machine: two shared cores, where identical builds' per-interval CPU per request and
/// median latency differed by 14% and 25-50% in A/A sessions of this test (the CI gate
/// keeps CPU per request reported-only and its latency lines at +50%/+100% for the same
/// reason), and one non-critical metric of the thirteen crossed its line in one A/A
/// session of six, so the pass score is 90 here (twelve of thirteen). The slowdowns below
/// are far beyond these lines.
pub fn machine_gates(dir: &std::path::Path) -> std::path::PathBuf {
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/../baselines/gates.toml");
    let mut doc: toml::Table =
        toml::from_str(&std::fs::read_to_string(committed).expect("read gates.toml"))
            .expect("gates.toml parses");
    let metrics = doc["canary"]["metric"]
        .as_array()
        .expect("canary metrics")
        .clone();
    let widened: Vec<toml::Value> = metrics
        .into_iter()
        .map(|mut m| {
            let name = m["metric"].as_str().unwrap_or_default().to_string();
            if name.starts_with("latency_") || name == "cpu_s_per_request" {
                let t = m.as_table_mut().expect("a rule is a table");
                t.insert("hotfix".into(), 0.5.into());
                t.insert("rollback".into(), 1.0.into());
            }
            m
        })
        .collect();
    doc["canary"]
        .as_table_mut()
        .expect("[canary] is a table")
        .insert("metric".into(), widened.into());
    let canary = doc["canary"].as_table_mut().expect("[canary] is a table");
    canary.insert("pass_score".into(), 90.0.into());
    let path = dir.join("gates.toml");
    std::fs::write(&path, toml::to_string(&doc).expect("serialise")).expect("write gates");
    path
}

/// Load for one proxy: allowed pages and block pages.
pub fn mix(proxy: &Proxy, allowed_rate: f64, blocked_rate: f64) -> Vec<Stream> {
    let mut out = Vec::new();
    if allowed_rate > 0.0 {
        let half = Stream {
            proxy: proxy.listen,
            host: ALLOWED_HOST,
            rate: allowed_rate / 2.0,
        };
        out.extend([half, half]);
    }
    if blocked_rate > 0.0 {
        out.push(Stream {
            proxy: proxy.listen,
            host: BLOCKED_HOST,
            rate: blocked_rate,
        });
    }
    out
}

/// Debian's `prometheus` scraping `jobs` (name, admin address) every second on loopback,
/// its data in a temp dir; stopped by pid on drop. None when it is not installed.
pub struct Prometheus {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    pub fn start(jobs: &[(&str, SocketAddr)]) -> Option<Self> {
        let bin = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())?;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for (name, addr) in jobs {
            config.push_str(&format!(
                "  - job_name: {name}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, config).expect("write prometheus.yml");
        let addr = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let mut prom = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = prom.child.try_wait() {
                panic!("prometheus exited before it was ready: {status}");
            }
            if get_status(addr, "/-/ready") == Some(200) {
                return Some(prom);
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
