//! Resolving and connecting to origins: the static override map first (tests and the
//! load rig send every demo domain to a local origin), then system DNS via
//! `tokio::net::lookup_host`; every address is tried in turn within one connect deadline.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::ResolveOverrides;
use crate::error::ProxyError;

/// Resolves and connects to `host:port` (host lowercase) within `timeout`.
pub async fn connect(
    host: &str,
    port: u16,
    overrides: &ResolveOverrides,
    timeout: Duration,
) -> Result<TcpStream, ProxyError> {
    let attempt = async {
        if let Some(addr) = overrides.lookup(host) {
            return connect_addr(addr).await.map_err(ProxyError::Connect);
        }
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let addrs =
            tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| ProxyError::Resolve {
                    host: host.to_string(),
                    detail: e.to_string(),
                })?;
        let mut last = None;
        for addr in addrs {
            match connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => ProxyError::Connect(e),
            None => ProxyError::Resolve {
                host: host.to_string(),
                detail: "no addresses".to_string(),
            },
        })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(ProxyError::ConnectTimeout))
}

async fn connect_addr(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}
