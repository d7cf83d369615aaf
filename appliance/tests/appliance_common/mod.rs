//! Shared helpers for the appliance tests: start an appliance on ephemeral ports from a
//! TOML snippet, a fake cloud proxy that verifies the PROXY header and echoes, radclient,
//! and an eventually-style poll.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use appliance::config::RawApplianceConfig;
use appliance::{Appliance, Bound};
use proxy_protocol::{accept, CloudSideConfig, HmacKey, ProxiedIdentity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The key both the appliance and the fake cloud proxy use.
pub const KEY: &str = "test-appliance-shared-key-000001";
/// The RADIUS secret of the test NAS.
pub const SECRET: &str = "testing123";

/// A running appliance and its bound addresses.
pub struct Running {
    pub appliance: Appliance,
    pub listeners: Vec<SocketAddr>,
    pub radius: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("appliance stops within the drain timeout")
                .expect("run task");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Starts an appliance from `toml` (ports 0), pointing at `upstream`.
pub async fn start(upstream: SocketAddr, extra: &str) -> Running {
    let text = format!(
        "upstream = {{ address = \"{upstream}\", connect_timeout_ms = 2000 }}\n\
         proxy_protocol = {{ hmac_key = \"{KEY}\" }}\n{extra}"
    );
    let raw: RawApplianceConfig = toml::from_str(&text).expect("test config parses");
    let cfg = raw.validate(Path::new(".")).expect("test config is valid");
    let bound = Bound::bind(&cfg).await.expect("bind");
    let listeners = bound
        .listeners
        .iter()
        .map(|l| l.local_addr().expect("addr"))
        .collect();
    let radius = bound.radius.as_ref().map(|s| s.local_addr().expect("addr"));
    let admin = bound.admin.as_ref().map(|s| s.local_addr().expect("addr"));
    let appliance = Appliance::new(cfg);
    let (tx, rx) = oneshot::channel::<()>();
    let a = appliance.clone();
    let task = tokio::spawn(async move {
        a.run(bound, async {
            let _ = rx.await;
        })
        .await
        .expect("appliance runs");
    });
    Running {
        appliance,
        listeners,
        radius,
        admin,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A fake cloud proxy: verifies the PROXY header with [`accept`], reports the identity,
/// echoes until EOF, then writes `bye` and closes (exercising half-close).
pub struct Cloud {
    pub addr: SocketAddr,
    pub identities: mpsc::UnboundedReceiver<Result<Option<ProxiedIdentity>, String>>,
    task: JoinHandle<()>,
}

impl Drop for Cloud {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the fake cloud proxy on an ephemeral port.
pub async fn cloud() -> Cloud {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind cloud");
    let addr = listener.local_addr().expect("addr");
    let cfg = CloudSideConfig::new(
        vec!["127.0.0.1/32".parse().expect("cidr")],
        HmacKey::new(KEY.as_bytes().to_vec()),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, peer)) = listener.accept().await else {
                return;
            };
            let cfg = cfg.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let id = accept(&mut s, peer, &cfg).await;
                let is_proxied = matches!(id, Ok(Some(_)));
                let _ = tx.send(id.map_err(|e| e.kind().to_string()));
                if !is_proxied {
                    return;
                }
                let mut buf = vec![0u8; 8192];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
                let _ = s.write_all(b"bye").await;
                let _ = s.shutdown().await;
            });
        }
    });
    Cloud {
        addr,
        identities: rx,
        task,
    }
}

/// Polls `f` until it is true or `deadline` passes; panics naming `what`.
pub async fn eventually(what: &str, deadline: Duration, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + deadline;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `radclient` (one try, 1 s timeout) sending `attrs` as an Accounting-Request.
pub async fn radclient(server: SocketAddr, secret: &str, attrs: &str) -> Output {
    let mut child = tokio::process::Command::new("radclient")
        .args([
            "-t",
            "1",
            "-r",
            "1",
            "-x",
            &server.to_string(),
            "acct",
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("radclient is installed (freeradius-utils)");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(attrs.as_bytes())
        .await
        .expect("write attrs");
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("radclient finishes")
        .expect("radclient output")
}
