//! The test origin of a run (in the harness's own process, so it shares the load
//! generator's CPUs and not the proxy's), and how `loadgen attack` is told where it is.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::origin::RunningOrigin;

use super::HarnessError;

/// A running test origin; stops when dropped.
#[derive(Debug)]
pub struct Origin {
    running: RunningOrigin,
    ca_path: PathBuf,
}

impl Origin {
    /// Starts the origin on ephemeral loopback ports and writes its CA certificate into
    /// `run_dir` for the load generator to trust.
    pub async fn start(run_dir: &Path) -> Result<Self, HarnessError> {
        let err = |e: crate::origin::OriginError| HarnessError::Config {
            detail: format!("test origin: {e}"),
        };
        let running = RunningOrigin::start().await.map_err(err)?;
        let ca_path = running.write_ca(run_dir).map_err(err)?;
        Ok(Self { running, ca_path })
    }

    /// The plain-HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Arguments telling `loadgen attack` where the origin is.
    pub fn attack_args(&self) -> Vec<String> {
        vec![
            "--origin".into(),
            self.running.addr.to_string(),
            "--origin-tls".into(),
            self.running.tls_addr.to_string(),
            "--origin-ca".into(),
            self.ca_path.display().to_string(),
        ]
    }
}
