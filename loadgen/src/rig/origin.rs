//! The test origin of a run, and how `loadgen attack` is told where it is.
//!
//! The origin runs in the harness's process (so it shares the load generator's CPUs,
//! not the proxy's) but on a runtime of its own, on its own threads: under load it is
//! busy, and the harness's sampling and profiling requests must not queue behind its
//! connections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::origin::RunningOrigin;

use super::error::RigError;

/// A running test origin; stops when dropped.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    tls_addr: SocketAddr,
    ca_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Started = Result<(SocketAddr, SocketAddr, PathBuf), String>;

impl Origin {
    /// Starts the origin on ephemeral loopback ports, on `threads` worker threads of
    /// its own, and writes its CA certificate into `run_dir` for the load generator.
    pub fn start(run_dir: &Path, threads: usize) -> Result<Self, RigError> {
        let (started_tx, started_rx) = mpsc::channel::<Started>();
        let (stop, stopped) = oneshot::channel::<()>();
        let dir = run_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("origin".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .thread_name("origin-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = started_tx.send(Err(format!("origin runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let running = match RunningOrigin::start().await {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = started_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let started = running
                        .write_ca(&dir)
                        .map(|ca| (running.addr, running.tls_addr, ca))
                        .map_err(|e| e.to_string());
                    let ok = started.is_ok();
                    let _ = started_tx.send(started);
                    if ok {
                        // Serve until the harness drops its handle (or goes away).
                        let _ = stopped.await;
                    }
                    let _ = running.stop().await;
                });
            })
            .map_err(|source| RigError::Io {
                what: "start the origin thread".into(),
                cause: source,
            })?;
        let started = started_rx
            .recv()
            .map_err(|_| "the origin thread ended before starting".to_owned())
            .and_then(|r| r);
        match started {
            Ok((addr, tls_addr, ca_path)) => Ok(Self {
                addr,
                tls_addr,
                ca_path,
                stop: Some(stop),
                thread: Some(thread),
            }),
            Err(detail) => {
                let _ = thread.join();
                Err(RigError::Config {
                    detail: format!("test origin: {detail}"),
                })
            }
        }
    }

    /// The plain-HTTP address (it answers TLS too).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin's CA certificate (PEM), written into the run directory.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Arguments telling `loadgen attack` where the origin is.
    pub fn attack_args(&self) -> Vec<String> {
        vec![
            "--origin".into(),
            self.addr.to_string(),
            "--origin-tls".into(),
            self.tls_addr.to_string(),
            "--origin-ca".into(),
            self.ca_path.display().to_string(),
        ]
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
/// Where the origin is, when not started in-process.
#[derive(Debug, Clone)]
pub struct OriginAddrs {
    /// Plain HTTP (also answers TLS).
    pub http: SocketAddr,
    /// HTTPS listener (defaults to `http`, which sniffs TLS).
    pub https: Option<SocketAddr>,
    /// The origin's CA certificate (PEM file).
    pub ca: PathBuf,
}

/// TLS client settings that trust the test origin's CA (PEM at `origin_ca`): for
/// handshakes through the proxy's tunnels (the instruction pass, the connection storm).
pub fn client_tls(origin_ca: &Path) -> Result<tokio_rustls::TlsConnector, RigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(origin_ca)
        .map_err(|e| tls_err(format!("read the origin CA {}: {e}", origin_ca.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| tls_err(format!("the origin CA {}: {e}", origin_ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| tls_err(format!("the origin CA {}: {e}", origin_ca.display())))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(format!("TLS client settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(
        config,
    )))
}

fn tls_err(detail: String) -> RigError {
    RigError::Config { detail }
}
