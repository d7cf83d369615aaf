//! Unit tests of the store facade that need no Redis: the memory store, settings and
//! metrics registration. The Redis store is tested against a real server in
//! `tests/store_redis.rs`.

use std::sync::Arc;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};
use prometheus_client::encoding::text::encode;

use super::*;
use crate::identity::{parse_users, IdentityConfig};

fn fixture() -> (Arc<CategoryDb>, PolicySet, IdentityResolver) {
    let db = Arc::new(CategoryDb::parse("games.example games\n", "cats").expect("categories"));
    let local = PolicySet::parse(
        "[groups.default]\n[groups.students]\nblocked_categories = [\"games\"]\n",
        "policy",
        &db,
    )
    .expect("policies");
    let users = parse_users("user,group,password\nalice,students,pw\n", "users").expect("users");
    let resolver =
        IdentityResolver::build(&IdentityConfig::default(), Some(&users)).expect("resolver");
    (db, local, resolver)
}

#[tokio::test]
async fn memory_store_answers_from_the_loaded_files() {
    let (db, local, resolver) = fixture();
    let store = PolicyStore::from_settings(&StoreSettings::Memory).expect("memory store");
    let mut headers = HeaderMap::new();
    let token = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    headers.insert(
        http::header::PROXY_AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
    );
    let r = store
        .resolve(
            &resolver,
            &headers,
            "127.0.0.1".parse().expect("ip"),
            &local,
            &db,
        )
        .await;
    assert_eq!(&*r.identity.group, "students");
    let Verdict::Decide(policy) = &r.verdict else {
        panic!("memory store always decides: {:?}", r.verdict);
    };
    assert!(Arc::ptr_eq(policy, local.for_group("students")));

    let r = store
        .resolve(
            &resolver,
            &HeaderMap::new(),
            "127.0.0.1".parse().expect("ip"),
            &local,
            &db,
        )
        .await;
    assert_eq!(r.identity.source, IdentitySource::Unknown);
    assert!(Arc::ptr_eq(
        r.verdict.policy().expect("a policy"),
        local.default_policy()
    ));
    assert!(store.degraded().is_none());
    assert_eq!(store.fail_mode(), FailMode::Open);
}

#[tokio::test]
async fn metrics_register_under_store_names() {
    let mut cfg = RedisConfig::with_url("redis://127.0.0.1:1/0");
    cfg.fail_mode = FailMode::Closed;
    let settings = StoreSettings::Redis(cfg.validate().expect("valid"));
    // Building does not connect: a Redis store starts even when Redis is down.
    let store = PolicyStore::from_settings(&settings).expect("lazy redis store");
    assert_eq!(store.fail_mode(), FailMode::Closed);
    store.metrics().lookup(LookupResult::Hit);
    store.metrics().unavailable(FailMode::Closed);
    let mut registry = Registry::default();
    store.register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).expect("encodes");
    for needle in [
        "store_lookups_total{result=\"hit\"} 1",
        "store_lookups_total{result=\"timeout\"} 0",
        "store_unavailable_total{mode=\"closed\"} 1",
        "store_redis_call_seconds_bucket",
        "store_breaker_state 0",
        "store_cache_entries 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}
