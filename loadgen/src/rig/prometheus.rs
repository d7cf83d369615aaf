//! A Prometheus server on loopback (Debian's `prometheus`), scraping the rig's proxies'
//! `/metrics` every second, one job per proxy: what the canary judge reads through the
//! HTTP API, as it reads the production one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::children::ChildGuard;
use super::redis::{find_program, free_local_addr};
use super::RigError;

/// The Debian package that provides `prometheus`.
pub const PROMETHEUS_PACKAGE: &str = "prometheus";

/// A running Prometheus; it is stopped by pid when dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    /// The process.
    pub child: ChildGuard,
    /// Its HTTP address (API and UI).
    pub addr: SocketAddr,
}

impl PrometheusServer {
    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The configuration: every job scraped each second from its `/metrics`.
pub fn config(jobs: &[(&str, SocketAddr)]) -> String {
    let mut text = String::from(
        "# Written by loadgen: one job per proxy, scraped every second on loopback.\n\
         global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (name, addr) in jobs {
        text.push_str(&format!(
            "  - job_name: {name}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
        ));
    }
    text
}

/// Starts `bin` with its config and data under `dir` and waits for `/-/ready`.
pub async fn start(
    bin: &Path,
    dir: &Path,
    jobs: &[(&str, SocketAddr)],
    ready_timeout: Duration,
) -> Result<PrometheusServer, RigError> {
    let program = find_program(bin).ok_or_else(|| RigError::MissingProgram {
        program: bin.display().to_string(),
        hint: format!("install the Debian package `{PROMETHEUS_PACKAGE}`"),
    })?;
    std::fs::create_dir_all(dir).map_err(|cause| RigError::Io {
        what: format!("create {}", dir.display()),
        cause,
    })?;
    let config_path = dir.join("prometheus.yml");
    rundir::atomic::write_atomic(&config_path, config(jobs).as_bytes()).map_err(|e| {
        RigError::Io {
            what: format!("write {}", config_path.display()),
            cause: e.cause,
        }
    })?;
    let addr = free_local_addr()?;
    let mut cmd = Command::new(program);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.tsdb.path={}", data_dir(dir).display()))
        .arg(format!("--web.listen-address={addr}"));
    let mut child = ChildGuard::spawn("prometheus", cmd, Some(dir.join("prometheus.log")))?;
    let deadline = Instant::now() + ready_timeout;
    loop {
        if let Some(status) = child.try_exit_status() {
            return Err(RigError::ChildFailed {
                name: "prometheus".into(),
                status: status.to_string(),
                stderr: child.stderr_tail(2000),
            });
        }
        if ready(addr).await {
            return Ok(PrometheusServer { child, addr });
        }
        if Instant::now() >= deadline {
            return Err(RigError::ChildFailed {
                name: "prometheus".into(),
                status: format!("not ready within {} s", ready_timeout.as_secs()),
                stderr: child.stderr_tail(2000),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

/// Whether `/-/ready` answers 200.
async fn ready(addr: SocketAddr) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /-/ready HTTP/1.1\r\nHost: prometheus\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head[9..12] == b"200")
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_is_scraped_each_second() {
        let text = config(&[
            ("control", "127.0.0.1:9001".parse().unwrap()),
            ("canary", "127.0.0.1:9002".parse().unwrap()),
        ]);
        assert!(text.contains("scrape_interval: 1s"));
        assert!(text.contains(
            "job_name: control\n    static_configs:\n      - targets: [\"127.0.0.1:9001\"]"
        ));
        assert!(text.contains("job_name: canary"));
    }
}
