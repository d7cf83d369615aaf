//! Helpers shared by the attack tests: run files in a temp dir, the real proxy
//! in-process, a deliberately wrong "proxy", and one-attack-at-a-time.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Attacks share the process-wide Goose state and two cores: one at a time.
pub static ONE_ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The demo data directory.
pub fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo")
}

/// Writes a mix with `weights` (TOML lines) and a profile of `users` for
/// `duration_s` seconds; returns the profile path.
pub fn write_run_files(
    dir: &Path,
    weights: &str,
    users: u64,
    duration_s: u64,
    target_rate: Option<f64>,
) -> PathBuf {
    let demo = demo_dir();
    let mix = format!(
        r#"
[weights]
{weights}

[think_time]
min = "5ms"
max = "20ms"

[client]
request_timeout = "10s"

[roster]
users_csv = "{users}"
groups = ["students", "teachers"]
seed = 1

[corpus]
categories = "{categories}"
allowed_categories = ["education", "news", "search", "reference", "technology", "health", "sports", "travel"]
blocked_categories = ["adult", "gambling", "malware"]
exclude_hosts = ["mathgames-school.example", "classroom-video.example", "war-history-archive.example",
                 "staff-vpn-gateway.example", "homework-answers.test", "exam-leaks.test", "essay-mill.test",
                 "payroll-login-verify.test"]
allowed_urls = 300
blocked_urls = 100
zipf_exponent = 1.0
seed = 5
sizes = [{{ size = "1KiB", weight = 3 }}, {{ size = "16KiB", weight = 1 }}]

[download]
sizes = ["2MiB"]

[cors]
page_origin = "https://portal.school.example"
"#,
        users = demo.join("users.csv").display(),
        categories = demo.join("categories.txt").display(),
    );
    std::fs::write(dir.join("mix.toml"), mix).unwrap();
    let rate = target_rate
        .map(|r| format!("target_rate = {r}\n"))
        .unwrap_or_default();
    let profile = format!(
        r#"
name = "test"
users = {users}
duration = "{duration_s}s"
warmup = "1s"
{rate}scenario_mix = "mix.toml"
[ramp]
increase_rate = 100
"#
    );
    let path = dir.join("profile.toml");
    std::fs::write(&path, profile).unwrap();
    path
}

/// The real proxy, in-process, sending every host to `origin`.
pub struct Proxy {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(origin: SocketAddr) -> Proxy {
        let demo = demo_dir();
        let text = std::fs::read_to_string(demo.join("proxy.toml")).unwrap();
        let text = text.replace(
            "\"*\" = \"127.0.0.1:8080\"",
            &format!("\"*\" = \"{origin}\""),
        );
        assert!(
            text.contains(&origin.to_string()),
            "demo proxy config lost its resolve override"
        );
        let config = filter_proxy::config::Config::from_toml_str(&text, &demo).unwrap();
        let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = proxy.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            filter_proxy::server::serve(config, proxy, admin, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Proxy {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), &mut self.task).await;
    }
}

/// A broken "proxy" that answers every request `200 ok`, whatever it was.
pub async fn start_yes_man() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut filled = 0;
                loop {
                    let Ok(n) = stream.read(&mut buf[filled..]).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    filled += n;
                    // Answer each complete request head (these requests carry no body).
                    while let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok";
                        if stream.write_all(reply).await.is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..filled, 0);
                        filled -= end + 4;
                    }
                    if filled == buf.len() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}
