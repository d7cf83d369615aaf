//! The injectors: what starts and ends each kind of fault.
//!
//! Each acts on a real part the way the failure happens in production: Redis stops
//! answering (`CLIENT PAUSE`) or dies (SIGKILL by pid, then a restart on the same
//! port); the origin slows down or drops connections (its admin route, no restart);
//! clients hold connections open with unfinished heads.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::slowloris::{self, SlowOutcome};
use super::spec::{Fault, FaultKind};
use crate::origin::faults::FaultSettings;
use crate::rig::Rig;

/// Why a fault could not be injected or ended.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// Redis refused or did not answer the command.
    #[error("redis {command}: {detail}")]
    Redis {
        /// The command.
        command: String,
        /// What happened.
        detail: String,
    },
    /// The origin's admin route failed.
    #[error("origin fault route: {0}")]
    Origin(String),
    /// Restarting a part failed.
    #[error(transparent)]
    Harness(#[from] crate::rig::RigError),
}

/// A fault in progress.
#[derive(Debug)]
pub enum Active {
    /// Nothing to collect at the end.
    Plain,
    /// Slow clients running until the fault's end.
    Slow(tokio::task::JoinHandle<Vec<SlowOutcome>>),
}

/// Sends one command to Redis and returns its one-line reply.
pub async fn redis_command(addr: SocketAddr, args: &[&str]) -> Result<String, InjectError> {
    let err = |detail: String| InjectError::Redis {
        command: args.join(" "),
        detail,
    };
    let mut wire = format!("*{}\r\n", args.len());
    for a in args {
        wire.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    let io = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(wire.as_bytes()).await?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
    };
    let reply = tokio::time::timeout(Duration::from_secs(2), io)
        .await
        .map_err(|_| err("no reply within 2 s".into()))?
        .map_err(|e| err(e.to_string()))?;
    if reply.starts_with('-') {
        return Err(err(reply));
    }
    Ok(reply)
}

/// Client for the origin's fault route.
#[derive(Debug, Clone)]
pub struct OriginControl {
    http: reqwest::Client,
    url: String,
}

impl OriginControl {
    /// A client for the origin at `addr` (reached directly, never through a proxy).
    pub fn new(addr: SocketAddr) -> Result<OriginControl, InjectError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| InjectError::Origin(e.to_string()))?;
        Ok(OriginControl {
            http,
            url: format!("http://{addr}{}faults", crate::origin::routes::ADMIN_PREFIX),
        })
    }

    /// Replaces the origin's fault settings.
    pub async fn set(&self, settings: &FaultSettings) -> Result<(), InjectError> {
        let resp = self
            .http
            .put(&self.url)
            .json(settings)
            .send()
            .await
            .map_err(|e| InjectError::Origin(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(InjectError::Origin(format!(
                "PUT answered {}",
                resp.status()
            )));
        }
        Ok(())
    }

    /// Clears fault injection.
    pub async fn clear(&self) -> Result<(), InjectError> {
        let resp = self
            .http
            .delete(&self.url)
            .send()
            .await
            .map_err(|e| InjectError::Origin(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(InjectError::Origin(format!(
                "DELETE answered {}",
                resp.status()
            )));
        }
        Ok(())
    }
}

/// Starts `fault`; `ends` is when it is due to end.
pub async fn begin(
    fault: &Fault,
    rig: &mut Rig,
    origin: &OriginControl,
    ends: Instant,
) -> Result<Active, InjectError> {
    match fault.kind {
        FaultKind::RedisSlow => {
            let addr = rig
                .redis
                .as_ref()
                .map(|r| r.addr)
                .ok_or(InjectError::Redis {
                    command: "CLIENT PAUSE".into(),
                    detail: "no Redis in this run".into(),
                })?;
            let ms = fault.length.as_millis().max(1).to_string();
            redis_command(addr, &["CLIENT", "PAUSE", &ms, "ALL"]).await?;
        }
        FaultKind::RedisDown => {
            rig.kill_redis();
        }
        FaultKind::OriginSlow { delay_ms } => {
            origin
                .set(&FaultSettings {
                    delay_ms,
                    ..FaultSettings::default()
                })
                .await?;
        }
        FaultKind::OriginReset { reset_rate } => {
            origin
                .set(&FaultSettings {
                    reset_rate,
                    ..FaultSettings::default()
                })
                .await?;
        }
        FaultKind::SlowClients { clients } => {
            let proxy = rig.listen;
            return Ok(Active::Slow(tokio::spawn(slowloris::run(
                proxy, clients, ends,
            ))));
        }
    }
    Ok(Active::Plain)
}

/// Ends `fault` and collects what it observed (slow clients' outcomes).
pub async fn end(
    fault: &Fault,
    active: Active,
    rig: &mut Rig,
    origin: &OriginControl,
) -> Result<Vec<SlowOutcome>, InjectError> {
    match fault.kind {
        // The pause expires by itself at the fault's end.
        FaultKind::RedisSlow => {}
        FaultKind::RedisDown => rig.restart_redis().await?,
        FaultKind::OriginSlow { .. } | FaultKind::OriginReset { .. } => origin.clear().await?,
        FaultKind::SlowClients { .. } => {}
    }
    match active {
        Active::Plain => Ok(Vec::new()),
        Active::Slow(task) => Ok(task.await.unwrap_or_default()),
    }
}
