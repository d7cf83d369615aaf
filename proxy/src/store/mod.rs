//! The policy and identity store: where IP -> user, user -> group and group -> policy come
//! from. Two implementations behind one async API ([`PolicyStore`]):
//!
//! - `memory` (default): the embedded files, exactly as loaded by the proxy (no network).
//! - `redis`: a Redis server (key layout in [`keys`]), behind a bounded TTL cache with
//!   negative caching and single-flight ([`cache`]), a per-call timeout and a circuit
//!   breaker ([`breaker`]). Keys absent from Redis fall back to the embedded files.
//!
//! When Redis cannot answer (error, timeout, breaker open) the configured fail mode
//! decides: `open` allows with the `default` group's policy, `closed` blocks with the
//! "filtering unavailable" page; both are counted. Why a separate store rather than
//! reloading files: large sites manage users and groups centrally and change them during
//! the day; the cache keeps the hot path at memory speed.
//!
//! On the request path the server calls [`PolicyStore::resolve`] once per request and
//! decides with the returned policy (or blocks on [`Verdict::FailClosed`]).

pub mod breaker;
pub mod cache;
pub mod config;
mod error;
pub mod keys;
pub mod memory;
pub mod metrics;
pub mod redis;
pub mod seed;
mod verdict;

use std::net::IpAddr;

use http::HeaderMap;
use prometheus_client::registry::Registry;

use self::redis::RedisStore;
use crate::filter::CategoryDb;
use crate::identity::{Identity, IdentityResolver, IdentitySource};
use crate::policy::PolicySet;
use breaker::BreakerState;
pub use config::{Backend, FailMode, RedisConfig, RedisSettings, StoreConfig, StoreSettings};
pub use error::StoreError;
use memory::MemoryStore;
pub use metrics::{LookupResult, StoreMetrics};
pub use verdict::{Resolution, Verdict};

#[derive(Debug)]
enum Inner {
    Memory(MemoryStore),
    Redis(Box<RedisStore>),
}

/// The store, built once at start from [`StoreSettings`]; share it in an `Arc`.
#[derive(Debug)]
pub struct PolicyStore {
    inner: Inner,
    metrics: StoreMetrics,
}

impl PolicyStore {
    /// The embedded (memory) store.
    pub fn memory() -> Self {
        PolicyStore {
            inner: Inner::Memory(MemoryStore),
            metrics: StoreMetrics::new(),
        }
    }

    /// Builds the configured store. The Redis store connects lazily (so the proxy starts
    /// even when Redis is down); call inside a Tokio runtime.
    pub fn from_settings(settings: &StoreSettings) -> Result<Self, StoreError> {
        let metrics = StoreMetrics::new();
        let inner = match settings {
            StoreSettings::Memory => Inner::Memory(MemoryStore),
            StoreSettings::Redis(redis) => {
                Inner::Redis(Box::new(RedisStore::new(redis, metrics.clone())?))
            }
        };
        Ok(PolicyStore { inner, metrics })
    }

    /// The store's metrics.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// Registers the store's metrics into the proxy's registry.
    pub fn register(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    /// The configured fail mode (`open` for the memory store, which cannot fail).
    pub fn fail_mode(&self) -> FailMode {
        match &self.inner {
            Inner::Memory(_) => FailMode::Open,
            Inner::Redis(redis) => redis.settings().fail_mode,
        }
    }

    /// Readiness: `None` when healthy, else why the store is degraded (the Redis breaker
    /// is open or probing). With fail mode `closed` a degraded store blocks traffic, so
    /// `/readyz` should then answer 503; with `open` it should stay 200 and report it.
    pub fn degraded(&self) -> Option<&'static str> {
        match &self.inner {
            Inner::Memory(_) => None,
            Inner::Redis(redis) => match redis.breaker_state() {
                BreakerState::Closed => None,
                BreakerState::Open => Some("store: redis unavailable (circuit open)"),
                BreakerState::HalfOpen => Some("store: redis unavailable (probing)"),
            },
        }
    }

    /// The request path: resolves who sent the request and which policy applies.
    /// `local` and `db` are the current snapshot's policy file and category database:
    /// `local` is the memory store's data, the Redis store's fallback and the fail-open
    /// `default` policy; `db` resolves group policies read from Redis (cached per database
    /// generation, so a reload needs no extra call). Never waits longer than the store's
    /// per-call timeout per Redis lookup (at most three, usually none: cached).
    pub async fn resolve(
        &self,
        resolver: &IdentityResolver,
        headers: &HeaderMap,
        client_ip: IpAddr,
        local: &PolicySet,
        db: &CategoryDb,
    ) -> Resolution {
        let redis = match &self.inner {
            Inner::Memory(memory) => {
                return memory.resolve(resolver, headers, client_ip, local).await
            }
            Inner::Redis(redis) => redis,
        };
        let looked_up = async {
            let identity = identity_via_redis(redis, resolver, headers, client_ip).await?;
            let policy = match redis.policy_for_group(&identity.group, db).await? {
                Some(policy) => policy,
                None => local.for_group(&identity.group).clone(),
            };
            Ok::<_, StoreError>((identity, policy))
        };
        match looked_up.await {
            Ok((identity, policy)) => Resolution {
                identity,
                verdict: Verdict::Decide(policy),
            },
            Err(_) => {
                let mode = redis.settings().fail_mode;
                self.metrics.unavailable(mode);
                let verdict = match mode {
                    FailMode::Open => Verdict::FailOpen(local.default_policy().clone()),
                    FailMode::Closed => Verdict::FailClosed,
                };
                Resolution {
                    identity: resolver.unknown(),
                    verdict,
                }
            }
        }
    }
}

/// The identity sources in the resolver's order, with Redis answering IP -> user and
/// user -> group (the resolver's tables as fallback). Passwords and trusted networks stay
/// local: they are checked before Redis is asked anything.
async fn identity_via_redis(
    redis: &RedisStore,
    resolver: &IdentityResolver,
    headers: &HeaderMap,
    client_ip: IpAddr,
) -> Result<Identity, StoreError> {
    for source in resolver.order() {
        let found = match source {
            IdentitySource::Basic => resolver.basic_identity(headers),
            IdentitySource::TrustedHeader => match resolver.trusted_identity(headers, client_ip) {
                Some((identity, true)) => return Ok(identity),
                Some((identity, false)) => Some(identity),
                None => None,
            },
            IdentitySource::ClientIp => match redis.user_for_ip(client_ip).await? {
                Some(user) => Some(Identity {
                    group: resolver
                        .user_group(&user)
                        .cloned()
                        .unwrap_or_else(|| resolver.unknown().group),
                    user: Some(user),
                    source: IdentitySource::ClientIp,
                }),
                None => resolver.ip_identity(client_ip),
            },
            IdentitySource::Unknown => None,
        };
        if let Some(mut identity) = found {
            if let Some(user) = &identity.user {
                if let Some(group) = redis.group_for_user(user).await? {
                    identity.group = group;
                }
            }
            return Ok(identity);
        }
    }
    Ok(resolver.unknown())
}

#[cfg(test)]
mod tests;
