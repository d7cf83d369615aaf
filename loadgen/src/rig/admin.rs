//! A client for the proxy's admin port: readiness, metrics, CPU profiles and
//! allocator statistics.
//!
//! The client ignores proxy settings from the environment: the admin port is on
//! loopback and must be reached directly, whatever `HTTP_PROXY` says.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::children::ChildGuard;
use super::error::RigError;

/// Client for one proxy's admin listener.
#[derive(Debug, Clone)]
pub struct AdminClient {
    base: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the admin listener at `addr`.
    pub fn new(addr: SocketAddr) -> Result<Self, RigError> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| RigError::Admin {
                what: "build the admin client".into(),
                detail: e.to_string(),
            })?;
        Ok(Self {
            base: format!("http://{addr}"),
            http,
        })
    }

    async fn get(&self, path: &str, timeout: Duration) -> Result<String, RigError> {
        let err = |detail: String| RigError::Admin {
            what: format!("GET {path}"),
            detail,
        };
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| err(e.to_string()))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| err(e.to_string()))?;
        if !status.is_success() {
            return Err(err(format!("status {status}: {}", body.trim())));
        }
        Ok(body)
    }

    /// Whether `/readyz` answers 2xx now.
    pub async fn ready(&self) -> bool {
        self.get("/readyz", Duration::from_secs(1)).await.is_ok()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> Result<String, RigError> {
        self.get("/metrics", Duration::from_secs(2)).await
    }

    /// The JSON of `/debug/jemalloc`.
    pub async fn jemalloc(&self) -> Result<Value, RigError> {
        let text = self.get("/debug/jemalloc", Duration::from_secs(2)).await?;
        serde_json::from_str(&text).map_err(|e| RigError::Admin {
            what: "GET /debug/jemalloc".into(),
            detail: format!("not JSON: {e}"),
        })
    }

    /// A CPU profile of `seconds` in `format` (`folded` or `svg`).
    pub async fn cpu_profile(&self, seconds: u64, format: &str) -> Result<String, RigError> {
        self.get(
            &format!("/debug/pprof/profile?seconds={seconds}&format={format}"),
            Duration::from_secs(seconds + 15),
        )
        .await
    }
}

/// Key of the cumulative allocation count in `/debug/jemalloc` (every allocation
/// request, thread-cache hits included).
const NMALLOC_KEYS: &[&str] = &["allocations"];
/// Key of the cumulative bytes allocated (rounded up to size classes).
const BYTES_KEYS: &[&str] = &["bytes_allocated_total"];

/// Reads the cumulative allocation counters from a `/debug/jemalloc` document: a
/// top-level key, or one inside a top-level object (e.g. `{"counters": {...}}`).
pub fn alloc_counters(doc: &Value) -> AllocCounters {
    let find = |keys: &[&str]| -> Option<f64> {
        let direct = keys
            .iter()
            .find_map(|k| doc.get(*k).and_then(Value::as_f64));
        direct.or_else(|| {
            doc.as_object()?.values().find_map(|inner| {
                keys.iter()
                    .find_map(|k| inner.get(*k).and_then(Value::as_f64))
            })
        })
    };
    AllocCounters {
        nmalloc: find(NMALLOC_KEYS),
        bytes_allocated: find(BYTES_KEYS),
        requests: None,
    }
}

/// Reads the allocator's resident and retained bytes from a `/debug/jemalloc` document;
/// `None` when either is absent (an allocator without statistics).
pub fn alloc_gauges(doc: &Value) -> Option<AllocGauges> {
    Some(AllocGauges {
        resident: doc.get("resident")?.as_u64()?,
        retained: doc.get("retained")?.as_u64()?,
    })
}

/// Waits for the proxy's `/readyz`, failing early (with its stderr) if the proxy exits.
/// Shared by every command that starts a proxy (run, faults, capacity).
pub async fn wait_ready(
    admin: &AdminClient,
    proxy: &mut ChildGuard,
    timeout: Duration,
) -> Result<(), RigError> {
    let deadline = Instant::now() + timeout;
    loop {
        if admin.ready().await {
            return Ok(());
        }
        if let Some(status) = proxy.try_exit_status() {
            return Err(RigError::ChildFailed {
                name: "filter-proxy".into(),
                status: status.to_string(),
                stderr: proxy.stderr_tail(4000),
            });
        }
        if Instant::now() >= deadline {
            return Err(RigError::NotReady {
                name: "filter-proxy".into(),
                waited_s: timeout.as_secs(),
                stderr: proxy.stderr_tail(4000),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The allocator's memory gauges, read once a second: a soak run plots them beside RSS
/// because RSS alone cannot tell a heap leak (resident grows) from memory the allocator
/// keeps for reuse (retained grows, RSS follows only when it is touched again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocGauges {
    /// Bytes in physically resident pages the allocator maps (`stats.resident`).
    pub resident: u64,
    /// Bytes of virtual memory kept for reuse, not returned to the OS (`stats.retained`).
    pub retained: u64,
}

/// Cumulative allocator counters read from the proxy's `/debug/jemalloc`, with the
/// proxy's request counter read at the same moment (so the per-request ratio divides
/// two deltas over exactly the same interval).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AllocCounters {
    /// Allocations so far.
    pub nmalloc: Option<f64>,
    /// Bytes allocated so far.
    pub bytes_allocated: Option<f64>,
    /// Requests the proxy had completed when the counters were read.
    pub requests: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_at_top_level_or_nested() {
        let top = serde_json::json!({
            "allocated": 10,
            "small_nmalloc": 3,
            "allocations": 500,
            "bytes_allocated_total": 9000
        });
        assert_eq!(
            alloc_counters(&top),
            AllocCounters {
                nmalloc: Some(500.0),
                bytes_allocated: Some(9000.0),
                requests: None
            }
        );
        assert_eq!(
            alloc_gauges(&serde_json::json!({"resident": 5, "retained": 6, "allocated": 1})),
            Some(AllocGauges {
                resident: 5,
                retained: 6
            })
        );
        assert_eq!(alloc_gauges(&top), None);
        let nested = serde_json::json!({"allocated": 10, "counters": {"allocations": 7}});
        assert_eq!(alloc_counters(&nested).nmalloc, Some(7.0));
        assert_eq!(
            alloc_counters(&serde_json::json!({})),
            AllocCounters::default()
        );
    }
}
