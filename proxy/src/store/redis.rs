//! The Redis-backed store: three cached lookups (IP -> user, user -> group,
//! group -> policy) over one multiplexed, self-reconnecting connection.
//!
//! Every Redis call goes through the circuit breaker and a per-call timeout, so a dead or
//! paused Redis costs a request at most `timeout` (and nothing at all while the breaker is
//! open). The connection is lazy: the proxy starts, and serves in its fail mode, even when
//! Redis is down at start; `ConnectionManager` reconnects on its own when Redis returns.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use super::breaker::{Breaker, BreakerState};
use super::cache::{Fetched, Source, TtlCache};
use super::config::RedisSettings;
use super::error::StoreError;
use super::keys;
use super::metrics::{LookupResult, StoreMetrics};
use crate::filter::CategoryDb;
use crate::policy::{Policy, PolicySpec};

/// What one Redis call needs, shared with in-flight fetches (which outlive the caller).
struct Client {
    conn: ConnectionManager,
    breaker: Breaker,
    settings: RedisSettings,
    metrics: StoreMetrics,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("breaker", &self.breaker)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// `GET key` through the breaker, with the per-call timeout.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let Some(permit) = self.breaker.try_acquire() else {
            return Err(StoreError::BreakerOpen);
        };
        let mut conn = self.conn.clone();
        let started = Instant::now();
        let mut get = redis::cmd("GET");
        get.arg(key);
        let call = get.query_async::<Option<String>>(&mut conn);
        let result = tokio::time::timeout(self.settings.timeout, call).await;
        self.metrics.redis_call(started.elapsed());
        match result {
            Ok(Ok(value)) => {
                permit.success();
                Ok(value)
            }
            // The connection's own response timeout (same setting) is a timeout too.
            Ok(Err(e)) if e.is_timeout() => {
                permit.failure();
                tracing::debug!(key, "redis call timed out");
                Err(StoreError::Timeout)
            }
            Ok(Err(e)) => {
                permit.failure();
                tracing::debug!(key, error = %e, "redis call failed");
                Err(StoreError::Redis(e.to_string()))
            }
            Err(_) => {
                permit.failure();
                tracing::debug!(key, "redis call timed out");
                Err(StoreError::Timeout)
            }
        }
    }
}

/// A group's policy as read from Redis, resolved against the database on first use.
#[derive(Debug)]
struct GroupEntry {
    spec: PolicySpec,
    policy: OnceLock<Result<Arc<Policy>, String>>,
}

/// The group cache of one category database generation: a reload starts a new one, so a
/// policy resolved against one database is never used with another.
#[derive(Debug)]
struct GroupCache {
    generation: u64,
    cache: TtlCache<String, Arc<GroupEntry>>,
}

/// The Redis store.
#[derive(Debug)]
pub struct RedisStore {
    client: Arc<Client>,
    ips: TtlCache<IpAddr, Arc<str>>,
    users: TtlCache<String, Arc<str>>,
    groups: ArcSwap<GroupCache>,
}

impl RedisStore {
    /// Builds the store without connecting (the first lookup connects). Must be called
    /// inside a Tokio runtime.
    pub fn new(settings: &RedisSettings, metrics: StoreMetrics) -> Result<Self, StoreError> {
        let client = redis::Client::open(settings.url.as_str())
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout))
            .set_response_timeout(Some(settings.timeout))
            .set_number_of_retries(1)
            .set_max_delay(settings.breaker_open);
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        let gauge = metrics.clone();
        let breaker = Breaker::new(
            settings.breaker_failures,
            settings.breaker_open,
            Arc::new(move |state| gauge.breaker(state)),
        );
        metrics.breaker(BreakerState::Closed);
        Ok(RedisStore {
            ips: new_cache(settings),
            users: new_cache(settings),
            groups: ArcSwap::from_pointee(GroupCache {
                generation: 0,
                cache: new_cache(settings),
            }),
            client: Arc::new(Client {
                conn,
                breaker,
                settings: settings.clone(),
                metrics,
            }),
        })
    }

    /// The settings the store was built with.
    pub fn settings(&self) -> &RedisSettings {
        &self.client.settings
    }

    /// The breaker's state (for readiness).
    pub fn breaker_state(&self) -> BreakerState {
        self.client.breaker.state()
    }

    /// The user of a client address (`<prefix>ip:<addr>`). A cache hit allocates nothing:
    /// keys and clones are made only when Redis must be asked.
    pub async fn user_for_ip(&self, ip: IpAddr) -> Fetched<Arc<str>> {
        let ip = ip.to_canonical();
        let (result, source) = self
            .ips
            .get_or_fetch(&ip, || {
                let client = Arc::clone(&self.client);
                let key = keys::ip(&client.settings.key_prefix, ip);
                async move { Ok(client.get(&key).await?.map(Arc::from)) }
            })
            .await;
        self.count(result, source)
    }

    /// The group of a user (`<prefix>user:<name>`).
    pub async fn group_for_user(&self, user: &str) -> Fetched<Arc<str>> {
        let (result, source) = self
            .users
            .get_or_fetch(user, || {
                let client = Arc::clone(&self.client);
                let key = keys::user(&client.settings.key_prefix, user);
                async move { Ok(client.get(&key).await?.map(Arc::from)) }
            })
            .await;
        self.count(result, source)
    }

    /// The policy of a group (`<prefix>group:<name>`, a [`PolicySpec`] as JSON), resolved
    /// against `db` once per database generation. Malformed JSON or unknown categories
    /// are [`StoreError::BadData`] (counted as errors).
    pub async fn policy_for_group(&self, group: &str, db: &CategoryDb) -> Fetched<Arc<Policy>> {
        let groups = self.groups_for(db);
        let (result, source) = groups
            .cache
            .get_or_fetch(group, || {
                let client = Arc::clone(&self.client);
                let key = keys::group(&client.settings.key_prefix, group);
                async move {
                    let Some(json) = client.get(&key).await? else {
                        return Ok(None);
                    };
                    let spec = serde_json::from_str(&json)
                        .map_err(|e| StoreError::BadData(format!("{key}: {e}")))?;
                    Ok(Some(Arc::new(GroupEntry {
                        spec,
                        policy: OnceLock::new(),
                    })))
                }
            })
            .await;
        let resolved = result.and_then(|entry| {
            entry
                .map(|entry| {
                    entry
                        .policy
                        .get_or_init(|| {
                            Policy::from_spec(&entry.spec, db, &format!("groups.{group}"))
                                .map(Arc::new)
                                .map_err(|errors| errors.join("; "))
                        })
                        .clone()
                        .map_err(StoreError::BadData)
                })
                .transpose()
        });
        self.count(resolved, source)
    }

    /// The group cache of `db`'s generation (a new, empty one after a reload).
    fn groups_for(&self, db: &CategoryDb) -> Arc<GroupCache> {
        let current = self.groups.load_full();
        if current.generation == db.generation() {
            return current;
        }
        let fresh = Arc::new(GroupCache {
            generation: db.generation(),
            cache: new_cache(&self.client.settings),
        });
        self.groups.store(Arc::clone(&fresh));
        fresh
    }

    /// Counts a lookup and passes its result on.
    fn count<V>(&self, result: Fetched<V>, source: Source) -> Fetched<V> {
        let metrics = &self.client.metrics;
        metrics.lookup(match (&result, source) {
            (Ok(_), Source::Cache) => LookupResult::Hit,
            (Ok(_), Source::Fetch) => LookupResult::Miss,
            (Err(StoreError::Timeout), _) => LookupResult::Timeout,
            (Err(StoreError::BreakerOpen), _) => LookupResult::Rejected,
            (Err(_), _) => LookupResult::Error,
        });
        if source == Source::Fetch {
            self.update_cache_gauge();
        }
        result
    }

    fn update_cache_gauge(&self) {
        self.client
            .metrics
            .cache_entries(self.ips.len() + self.users.len() + self.groups.load().cache.len());
    }
}

/// An empty cache with the configured capacity and lifetimes.
fn new_cache<K, V>(settings: &RedisSettings) -> TtlCache<K, V>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    TtlCache::new(
        settings.cache_capacity,
        settings.cache_ttl,
        settings.negative_ttl,
    )
}
