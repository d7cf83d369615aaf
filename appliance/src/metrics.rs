//! The appliance's Prometheus metrics: connections, bytes, identity hits and misses,
//! RADIUS packets by type and result.
//!
//! Counters used per connection or per chunk are resolved once here, so the hot path only
//! does an atomic add.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels1 = [(&'static str, &'static str); 1];
type Labels2 = [(&'static str, &'static str); 2];

/// All appliance metrics and the registry that exports them.
#[derive(Debug)]
pub struct ApplianceMetrics {
    registry: Registry,
    connections: Family<Labels1, Counter>,
    rejected: Family<Labels1, Counter>,
    identity: Family<Labels1, Counter>,
    radius: Family<Labels2, Counter>,
    /// Connections being forwarded now.
    pub active: Gauge,
    /// Bytes client -> cloud proxy.
    pub bytes_up: Counter,
    /// Bytes cloud proxy -> client.
    pub bytes_down: Counter,
    /// Connections closed for inactivity.
    pub idle_timeouts: Counter,
    /// Sessions in the RADIUS table.
    pub radius_sessions: Gauge,
}

impl Default for ApplianceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ApplianceMetrics {
    /// Registers every metric under the `appliance_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("appliance");
        let connections = Family::<Labels1, Counter>::default();
        let rejected = Family::<Labels1, Counter>::default();
        let identity = Family::<Labels1, Counter>::default();
        let radius = Family::<Labels2, Counter>::default();
        let bytes = Family::<Labels1, Counter>::default();
        let active = Gauge::default();
        let idle_timeouts = Counter::default();
        let radius_sessions = Gauge::default();
        registry.register(
            "connections",
            "Intercepted connections accepted, by listener mode",
            connections.clone(),
        );
        registry.register(
            "connections_rejected",
            "Connections refused or failed before forwarding, by reason",
            rejected.clone(),
        );
        registry.register(
            "connections_active",
            "Connections being forwarded",
            active.clone(),
        );
        registry.register("bytes", "Bytes forwarded, by direction", bytes.clone());
        registry.register(
            "identity_lookups",
            "Identity lookups for new connections, by result (radius, static, miss)",
            identity.clone(),
        );
        registry.register(
            "idle_timeouts",
            "Connections closed after the idle timeout",
            idle_timeouts.clone(),
        );
        registry.register(
            "radius_packets",
            "RADIUS packets received, by accounting type and result",
            radius.clone(),
        );
        registry.register(
            "radius_sessions",
            "Sessions in the IP to user table",
            radius_sessions.clone(),
        );
        let bytes_up = bytes.get_or_create(&[("direction", "upstream")]).clone();
        let bytes_down = bytes.get_or_create(&[("direction", "downstream")]).clone();
        Self {
            registry,
            connections,
            rejected,
            identity,
            radius,
            active,
            bytes_up,
            bytes_down,
            idle_timeouts,
            radius_sessions,
        }
    }

    /// Counts an accepted connection of a listener mode (`explicit`, `transparent`).
    pub fn connection(&self, mode: &'static str) {
        self.connections.get_or_create(&[("mode", mode)]).inc();
    }

    /// Counts a refused or failed connection.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&[("reason", reason)]).inc();
    }

    /// Counts an identity lookup result.
    pub fn identity(&self, result: &'static str) {
        self.identity.get_or_create(&[("result", result)]).inc();
    }

    /// Counts a RADIUS packet.
    pub fn radius(&self, kind: &'static str, result: &'static str) {
        self.radius
            .get_or_create(&[("type", kind), ("result", result)])
            .inc();
    }

    /// Current value of a RADIUS packet counter (for readiness checks and tests).
    pub fn radius_count(&self, kind: &'static str, result: &'static str) -> u64 {
        self.radius
            .get_or_create(&[("type", kind), ("result", result)])
            .get()
    }

    /// Current value of a rejection counter.
    pub fn rejected_count(&self, reason: &'static str) -> u64 {
        self.rejected.get_or_create(&[("reason", reason)]).get()
    }

    /// Current value of an identity counter.
    pub fn identity_count(&self, result: &'static str) -> u64 {
        self.identity.get_or_create(&[("result", result)]).get()
    }

    /// OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
