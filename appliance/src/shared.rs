//! The state every task of one appliance shares: its config, the RADIUS session table,
//! the metrics and the connection cap.

use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::config::ApplianceConfig;
use super::metrics::ApplianceMetrics;
use super::radius::table::{SessionTable, UserGroup};

/// State shared by every task of one appliance.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) cfg: ApplianceConfig,
    pub(super) table: Arc<SessionTable>,
    pub(super) metrics: Arc<ApplianceMetrics>,
    pub(super) limit: Arc<Semaphore>,
    pub(super) radius_running: AtomicBool,
}

impl Shared {
    /// RADIUS first (live sessions), then the static map; counts the result.
    pub(super) fn resolve(&self, ip: IpAddr) -> Option<UserGroup> {
        if let Some(hit) = self.table.lookup(ip, Instant::now()) {
            self.metrics.identity("radius");
            return Some(hit);
        }
        if let Some(hit) = self.cfg.static_map.lookup(ip) {
            self.metrics.identity("static");
            return Some(hit);
        }
        self.metrics.identity("miss");
        None
    }
}
