//! A bounded local cache with TTL, negative caching and single-flight fetches, in front of
//! the Redis store.
//!
//! Why: a hot user must cost no Redis round trip, and a burst of requests for a key that is
//! not cached (a thousand students behind one new group) must make one Redis call, not a
//! thousand. Found values live `ttl`, "not found" answers live `negative_ttl`; errors are
//! never cached, so recovery is seen at once. Concurrent misses for one key share one
//! in-flight fetch (a `Shared` future held by the cache, so a cancelled first caller does
//! not strand the others). When full, expired entries are dropped first, then arbitrary
//! ones (hash order): cheap, and good enough for a working set that fits.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::time::Instant;

use super::error::StoreError;

/// A fetch result: `Ok(None)` is "not found" (negatively cached).
pub type Fetched<V> = Result<Option<V>, StoreError>;

type Flight<V> = Shared<BoxFuture<'static, Fetched<V>>>;

/// How a lookup was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the cache, without waiting.
    Cache,
    /// From a fetch (this caller's or a shared in-flight one).
    Fetch,
}

#[derive(Debug)]
struct Inner<K, V> {
    ready: HashMap<K, (Option<V>, Instant)>,
    inflight: HashMap<K, Flight<V>>,
}

/// The cache. Its lock is held only for map operations, never across an `.await`; hits
/// take it shared.
#[derive(Debug)]
pub struct TtlCache<K, V: Clone> {
    inner: RwLock<Inner<K, V>>,
    capacity: usize,
    ttl: Duration,
    negative_ttl: Duration,
}

impl<K, V> TtlCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache of at most `capacity` entries (at least 1).
    pub fn new(capacity: usize, ttl: Duration, negative_ttl: Duration) -> Self {
        TtlCache {
            inner: RwLock::new(Inner {
                ready: HashMap::new(),
                inflight: HashMap::new(),
            }),
            capacity: capacity.max(1),
            ttl,
            negative_ttl,
        }
    }

    // Every update is a single map operation: a poisoned lock holds consistent maps.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner<K, V>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner<K, V>> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number of cached answers (found and not found).
    pub fn len(&self) -> usize {
        self.read().ready.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached answer (e.g. when what the values were built from changes).
    pub fn clear(&self) {
        self.write().ready.clear();
    }

    /// The cached answer for `key`, or the result of `fetch` (shared with concurrent
    /// callers of the same key). `fetch` is only called when no fetch is in flight.
    pub async fn get_or_fetch<Q, F, Fut>(&self, key: &Q, fetch: F) -> (Fetched<V>, Source)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Fetched<V>> + Send + 'static,
    {
        if let Some(value) = self.fresh(key) {
            return (Ok(value), Source::Cache);
        }
        let flight = {
            let mut inner = self.write();
            // Filled while this caller waited for the write lock?
            if let Some((value, expires)) = inner.ready.get(key) {
                if *expires > Instant::now() {
                    return (Ok(value.clone()), Source::Cache);
                }
            }
            match inner.inflight.get(key) {
                Some(flight) => flight.clone(),
                None => {
                    let flight = fetch().boxed().shared();
                    inner.inflight.insert(key.to_owned(), flight.clone());
                    flight
                }
            }
        };
        let result = flight.clone().await;
        self.complete(key, &flight, &result);
        (result, Source::Fetch)
    }

    /// The unexpired cached answer for `key` (under the shared lock).
    fn fresh<Q>(&self, key: &Q) -> Option<Option<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.read();
        let (value, expires) = inner.ready.get(key)?;
        (*expires > Instant::now()).then(|| value.clone())
    }

    /// Stores a finished fetch (once, by whichever waiter gets here first).
    fn complete<Q>(&self, key: &Q, flight: &Flight<V>, result: &Fetched<V>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut inner = self.write();
        let ours = inner
            .inflight
            .get(key)
            .is_some_and(|current| current.ptr_eq(flight));
        if !ours {
            return;
        }
        inner.inflight.remove(key);
        let Ok(value) = result else {
            return;
        };
        let now = Instant::now();
        let ttl = if value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        if inner.ready.len() >= self.capacity && !inner.ready.contains_key(key) {
            inner.ready.retain(|_, (_, expires)| *expires > now);
            while inner.ready.len() >= self.capacity {
                let victim = inner
                    .ready
                    .keys()
                    .next()
                    .cloned()
                    .expect("a full cache of capacity >= 1 has a key");
                inner.ready.remove::<K>(&victim);
            }
        }
        inner
            .ready
            .insert(key.to_owned(), (value.clone(), now + ttl));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    fn cache(capacity: usize) -> TtlCache<String, Arc<str>> {
        TtlCache::new(capacity, Duration::from_secs(30), Duration::from_secs(5))
    }

    /// A fetch that counts its calls and answers `value` after `delay`.
    fn fetcher(
        calls: &Arc<AtomicUsize>,
        value: Option<&'static str>,
        delay: Duration,
    ) -> impl FnOnce() -> BoxFuture<'static, Fetched<Arc<str>>> {
        let calls = Arc::clone(calls);
        move || {
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                Ok(value.map(Arc::from))
            }
            .boxed()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn hits_until_ttl_then_refetches() {
        let c = cache(10);
        let calls = Arc::new(AtomicUsize::new(0));
        let (v, src) = c
            .get_or_fetch("k", fetcher(&calls, Some("v"), Duration::ZERO))
            .await;
        assert_eq!((v.expect("ok").as_deref(), src), (Some("v"), Source::Fetch));
        let (v, src) = c
            .get_or_fetch("k", fetcher(&calls, Some("x"), Duration::ZERO))
            .await;
        assert_eq!((v.expect("ok").as_deref(), src), (Some("v"), Source::Cache));
        tokio::time::advance(Duration::from_secs(31)).await;
        let (v, src) = c
            .get_or_fetch("k", fetcher(&calls, Some("x"), Duration::ZERO))
            .await;
        assert_eq!((v.expect("ok").as_deref(), src), (Some("x"), Source::Fetch));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_cached_for_the_negative_ttl() {
        let c = cache(10);
        let calls = Arc::new(AtomicUsize::new(0));
        let (v, _) = c
            .get_or_fetch("k", fetcher(&calls, None, Duration::ZERO))
            .await;
        assert_eq!(v.expect("ok"), None);
        let (v, src) = c
            .get_or_fetch("k", fetcher(&calls, Some("v"), Duration::ZERO))
            .await;
        assert_eq!((v.expect("ok"), src), (None, Source::Cache));
        tokio::time::advance(Duration::from_secs(6)).await;
        let (v, _) = c
            .get_or_fetch("k", fetcher(&calls, Some("v"), Duration::ZERO))
            .await;
        assert_eq!(v.expect("ok").as_deref(), Some("v"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_not_cached() {
        let c = cache(10);
        let (v, _) = c
            .get_or_fetch("k", || async { Err(StoreError::Timeout) })
            .await;
        assert!(matches!(v, Err(StoreError::Timeout)));
        assert!(c.is_empty());
        let calls = Arc::new(AtomicUsize::new(0));
        let (v, src) = c
            .get_or_fetch("k", fetcher(&calls, Some("v"), Duration::ZERO))
            .await;
        assert_eq!((v.expect("ok").as_deref(), src), (Some("v"), Source::Fetch));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_share_one_fetch() {
        let c = Arc::new(cache(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = Arc::clone(&c);
                let f = fetcher(&calls, Some("v"), Duration::from_millis(50));
                tokio::spawn(async move { c.get_or_fetch("k", f).await.0 })
            })
            .collect();
        for task in tasks {
            let value = task.await.expect("task ran").expect("fetched");
            assert_eq!(value.as_deref(), Some("v"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(c.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_first_caller_does_not_strand_the_key() {
        let c = Arc::new(cache(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let first = {
            let c = Arc::clone(&c);
            let f = fetcher(&calls, Some("v"), Duration::from_millis(50));
            tokio::spawn(async move { c.get_or_fetch("k", f).await.0 })
        };
        tokio::time::advance(Duration::from_millis(10)).await;
        first.abort();
        let (v, _) = c
            .get_or_fetch("k", fetcher(&calls, Some("x"), Duration::ZERO))
            .await;
        assert_eq!(
            v.expect("ok").as_deref(),
            Some("v"),
            "joined the in-flight fetch"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_is_bounded() {
        let c = cache(3);
        let calls = Arc::new(AtomicUsize::new(0));
        for key in ["a", "b", "c", "d", "e"] {
            let (v, _) = c
                .get_or_fetch(key, fetcher(&calls, Some("v"), Duration::ZERO))
                .await;
            assert!(v.is_ok());
            assert!(c.len() <= 3);
        }
        assert_eq!(c.len(), 3);
        c.clear();
        assert!(c.is_empty());
    }
}
