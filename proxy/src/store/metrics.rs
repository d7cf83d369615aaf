//! The store's own metrics, registered into the proxy's registry by
//! [`StoreMetrics::register`]. Label sets are resolved once into handles held in arrays
//! indexed by small enums, so recording is an atomic add with no label hashing.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::breaker::BreakerState;
use super::config::FailMode;

/// How a store lookup was answered, for `store_lookups_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    /// From the local cache (found or cached "not found").
    Hit = 0,
    /// Not cached: answered by Redis (found or not found).
    Miss = 1,
    /// Redis answered with an error, refused the connection, or held bad data.
    Error = 2,
    /// Redis did not answer within the per-call timeout.
    Timeout = 3,
    /// The circuit breaker is open: Redis was not asked.
    Rejected = 4,
}

const RESULTS: [&str; 5] = ["hit", "miss", "error", "timeout", "rejected"];
const FAIL_MODES: [&str; 2] = ["open", "closed"];

/// Counters, gauges and the latency histogram of the policy/identity store.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    lookups: Family<Vec<(String, String)>, Counter>,
    lookup_handles: [Counter; 5],
    failed: Family<Vec<(String, String)>, Counter>,
    failed_handles: [Counter; 2],
    redis_seconds: Histogram,
    breaker_state: Gauge,
    cache_entries: Gauge,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreMetrics {
    /// Fresh metrics (all zero, breaker closed).
    pub fn new() -> Self {
        let lookups = Family::<Vec<(String, String)>, Counter>::default();
        let lookup_handles =
            RESULTS.map(|r| lookups.get_or_create_owned(&vec![("result".into(), r.into())]));
        let failed = Family::<Vec<(String, String)>, Counter>::default();
        let failed_handles =
            FAIL_MODES.map(|m| failed.get_or_create_owned(&vec![("mode".into(), m.into())]));
        StoreMetrics {
            lookups,
            lookup_handles,
            failed,
            failed_handles,
            // 50 µs .. ~1.6 s
            redis_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            breaker_state: Gauge::default(),
            cache_entries: Gauge::default(),
        }
    }

    /// Registers every store metric into `registry` (names start with `store_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_lookups",
            "Policy/identity store lookups by result (hit, miss, error, timeout, rejected)",
            self.lookups.clone(),
        );
        registry.register(
            "store_unavailable",
            "Requests decided by the store's fail mode because the store was unavailable",
            self.failed.clone(),
        );
        registry.register(
            "store_redis_call_seconds",
            "Latency of Redis calls made by the store",
            self.redis_seconds.clone(),
        );
        registry.register(
            "store_breaker_state",
            "Redis circuit breaker state: 0 closed, 1 open, 2 half-open",
            self.breaker_state.clone(),
        );
        registry.register(
            "store_cache_entries",
            "Entries in the store's local cache (found and not-found answers)",
            self.cache_entries.clone(),
        );
    }

    /// Counts one lookup.
    pub fn lookup(&self, result: LookupResult) {
        self.lookup_handles[result as usize].inc();
    }

    /// Current count of lookups with `result`.
    pub fn lookups(&self, result: LookupResult) -> u64 {
        self.lookup_handles[result as usize].get()
    }

    /// Counts a request decided by the fail mode.
    pub fn unavailable(&self, mode: FailMode) {
        self.failed_handles[mode as usize].inc();
    }

    /// Current count of requests decided by `mode`.
    pub fn unavailable_count(&self, mode: FailMode) -> u64 {
        self.failed_handles[mode as usize].get()
    }

    /// Records one Redis call's latency.
    pub fn redis_call(&self, elapsed: Duration) {
        self.redis_seconds.observe(elapsed.as_secs_f64());
    }

    /// Sets the breaker state gauge.
    pub fn breaker(&self, state: BreakerState) {
        self.breaker_state.set(state as i64);
    }

    /// Current breaker state gauge value.
    pub fn breaker_gauge(&self) -> i64 {
        self.breaker_state.get()
    }

    /// Sets the cache size gauge.
    pub fn cache_entries(&self, entries: usize) {
        self.cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }
}
