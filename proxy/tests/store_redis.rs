//! The Redis-backed store against a real `redis-server` started per test on an ephemeral
//! loopback port (no persistence): lookups, cache hits, single flight, Redis killed and
//! restarted under traffic (fail open / fail closed, recovery), and a paused Redis.

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use filter_proxy::filter::CategoryDb;
use filter_proxy::identity::{parse_users, IdentityConfig, IdentityResolver, IdentitySource};
use filter_proxy::policy::{Decision, PolicySet, PolicySpec};
use filter_proxy::store::seed::{seed_files, seed_redis, SeedData, SeedReport};
use filter_proxy::store::{
    FailMode, LookupResult, PolicyStore, RedisConfig, StoreSettings, Verdict,
};
use http::{HeaderMap, HeaderValue};

/// A `redis-server` child on an ephemeral port, killed by pid on drop (also on panic).
struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("an ephemeral port is free")
            .port();
        let mut server = RedisServer { port, child: None };
        server.spawn();
        server
    }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let port = self.port;
        eventually_sync(Duration::from_secs(10), "redis-server accepts", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// A plain connection for test commands (INFO, CLIENT PAUSE).
    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("valid url")
            .get_multiplexed_async_connection()
            .await
            .expect("admin connection")
    }

    /// Number of `GET` commands the server has executed (`INFO commandstats`).
    async fn get_calls(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut self.admin().await)
            .await
            .expect("INFO answers");
        info.lines()
            .find_map(|line| line.strip_prefix("cmdstat_get:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().expect("calls is a number"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it holds or `deadline` passes (then panics with `what`).
fn eventually_sync(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + deadline;
    while !check() {
        assert!(std::time::Instant::now() < end, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const CATEGORIES: &str = "news.example news\nadult.example adult\ngames.example games\n";
const POLICIES: &str = r#"
[groups.default]
blocked_categories = ["adult"]
[groups.students]
blocked_categories = ["adult", "games"]
"#;
const USERS: &str = "user,group,password\nalice,students,pw-alice\nbob,students,pw-bob\n";

/// Everything a test resolves with.
struct Fixture {
    redis: RedisServer,
    db: CategoryDb,
    local: PolicySet,
    resolver: IdentityResolver,
    store: PolicyStore,
}

impl Fixture {
    /// Starts Redis, seeds it, and builds a store with short timeouts.
    async fn new(fail_mode: FailMode) -> Self {
        let redis = RedisServer::start();
        let db = CategoryDb::parse(CATEGORIES, "cats").expect("categories");
        let local = PolicySet::parse(POLICIES, "policy", &db).expect("policies");
        let users = parse_users(USERS, "users").expect("users");
        let resolver =
            IdentityResolver::build(&IdentityConfig::default(), Some(&users)).expect("resolver");

        // Redis moves bob to the teachers group and defines a policy for it.
        let data = SeedData {
            ip_users: vec![(ip(1), "alice".into()), (ip(2), "carol".into())],
            users: parse_users(
                "user,group,password\nbob,teachers,x\ncarol,teachers,x\n",
                "u",
            )
            .expect("seed users"),
            groups: [(
                "teachers".to_string(),
                PolicySpec {
                    blocked_categories: vec!["news".into()],
                    ..PolicySpec::default()
                },
            )]
            .into(),
        };
        seed_redis(&redis.url(), "fp:", &data)
            .await
            .expect("seeded");

        let mut cfg = RedisConfig::with_url(redis.url());
        cfg.timeout = "150ms".into();
        cfg.breaker_failures = 3;
        cfg.breaker_open = "200ms".into();
        cfg.fail_mode = fail_mode;
        let settings = StoreSettings::Redis(cfg.validate().expect("valid settings"));
        let store = PolicyStore::from_settings(&settings).expect("store");
        Fixture {
            redis,
            db,
            local,
            resolver,
            store,
        }
    }

    /// Resolves, failing the test if it takes longer than a generous hang bound (the
    /// store's timeout is 150 ms per lookup, at most three lookups).
    async fn resolve(&self, headers: &HeaderMap, from: IpAddr) -> filter_proxy::store::Resolution {
        tokio::time::timeout(
            Duration::from_secs(3),
            self.store
                .resolve(&self.resolver, headers, from, &self.local, &self.db),
        )
        .await
        .expect("resolve never hangs past the store timeout")
    }

    fn blocks(&self, verdict: &Verdict, host: &str) -> bool {
        let policy = verdict.policy().expect("a policy to decide with");
        matches!(policy.decide(&self.db, host, "/"), Decision::Block(_))
    }
}

/// `127.20.0.n`: distinct loopback client addresses.
fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 20, 0, 0)) + n))
}

fn basic(user: &str, password: &str) -> HeaderMap {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::PROXY_AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).expect("valid header"),
    );
    headers
}

#[tokio::test]
async fn lookups_go_through_redis_with_local_fallback() {
    let f = Fixture::new(FailMode::Open).await;
    let none = HeaderMap::new();

    // IP -> user from Redis, user -> group from the local table (alice has no Redis key).
    let r = f.resolve(&none, ip(1)).await;
    assert_eq!(r.identity.user.as_deref(), Some("alice"));
    assert_eq!(&*r.identity.group, "students");
    assert_eq!(r.identity.source, IdentitySource::ClientIp);
    // students has no Redis policy: the local file's applies.
    assert!(f.blocks(&r.verdict, "games.example"));
    assert!(!f.blocks(&r.verdict, "news.example"));

    // IP -> user and user -> group from Redis, group policy from Redis.
    let r = f.resolve(&none, ip(2)).await;
    assert_eq!(r.identity.user.as_deref(), Some("carol"));
    assert_eq!(&*r.identity.group, "teachers");
    assert!(matches!(r.verdict, Verdict::Decide(_)));
    assert!(f.blocks(&r.verdict, "news.example"));
    assert!(!f.blocks(&r.verdict, "games.example"));

    // Basic auth checks the password locally; Redis regroups the user.
    let r = f.resolve(&basic("bob", "pw-bob"), ip(99)).await;
    assert_eq!(r.identity.source, IdentitySource::Basic);
    assert_eq!(&*r.identity.group, "teachers");
    let r = f.resolve(&basic("bob", "x"), ip(99)).await;
    assert_eq!(r.identity.source, IdentitySource::Unknown);
    assert_eq!(&*r.identity.group, "default");
    assert!(f.blocks(&r.verdict, "adult.example"));
    assert!(!f.blocks(&r.verdict, "games.example"));
    assert!(f.store.degraded().is_none());
}

#[tokio::test]
async fn cache_hits_avoid_redis_and_misses_fly_once() {
    let f = Fixture::new(FailMode::Open).await;
    let none = HeaderMap::new();
    let before = f.redis.get_calls().await;
    for _ in 0..50 {
        let r = f.resolve(&none, ip(2)).await;
        assert_eq!(&*r.identity.group, "teachers");
    }
    // ip -> user, user -> group, group -> policy: one GET each, then cache hits.
    assert_eq!(f.redis.get_calls().await - before, 3);
    let metrics = f.store.metrics();
    assert_eq!(metrics.lookups(LookupResult::Miss), 3);
    assert_eq!(metrics.lookups(LookupResult::Hit), 49 * 3);

    // A thousand concurrent misses for one (unknown) address make one GET.
    let before = f.redis.get_calls().await;
    let f = Arc::new(f);
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move {
                let r = f.resolve(&HeaderMap::new(), ip(77)).await;
                assert_eq!(r.identity.source, IdentitySource::Unknown);
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("resolve task");
    }
    // The unknown identity then looks up the `default` group's policy once too.
    assert_eq!(f.redis.get_calls().await - before, 2);
}

/// Resolves fresh (uncached) addresses until `done` holds for a resolution, or panics.
async fn resolve_until(
    f: &Fixture,
    next_ip: &mut u32,
    what: &str,
    done: impl Fn(&filter_proxy::store::Resolution) -> bool,
) {
    let end = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        *next_ip += 1;
        let r = f.resolve(&HeaderMap::new(), ip(*next_ip)).await;
        if done(&r) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn redis_killed_fails_open_then_recovers() {
    let mut f = Fixture::new(FailMode::Open).await;
    let mut n = 1000;
    resolve_until(&f, &mut n, "healthy", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
    // Cached identities keep working through the outage.
    assert_eq!(
        &*f.resolve(&HeaderMap::new(), ip(2)).await.identity.group,
        "teachers"
    );

    f.redis.kill();
    resolve_until(&f, &mut n, "fail open", |r| {
        matches!(r.verdict, Verdict::FailOpen(_))
    })
    .await;
    let r = f.resolve(&HeaderMap::new(), ip(5000)).await;
    assert!(matches!(r.verdict, Verdict::FailOpen(_)), "{:?}", r.verdict);
    assert_eq!(&*r.identity.group, "default");
    assert!(
        f.blocks(&r.verdict, "adult.example"),
        "fail open keeps the default policy"
    );
    assert!(f.store.metrics().unavailable_count(FailMode::Open) >= 2);
    // Consecutive failures open the breaker: readiness reports the degraded store.
    resolve_until(&f, &mut n, "breaker open", |_| f.store.degraded().is_some()).await;
    let cached = f.resolve(&HeaderMap::new(), ip(2)).await;
    assert_eq!(
        &*cached.identity.group, "teachers",
        "hot user costs no Redis call"
    );

    f.redis.spawn();
    resolve_until(&f, &mut n, "recovery after restart", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
    assert!(f.store.degraded().is_none());
}

#[tokio::test]
async fn redis_killed_fails_closed() {
    let mut f = Fixture::new(FailMode::Closed).await;
    let mut n = 2000;
    resolve_until(&f, &mut n, "healthy", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
    f.redis.kill();
    resolve_until(&f, &mut n, "fail closed", |r| {
        matches!(r.verdict, Verdict::FailClosed)
    })
    .await;
    assert!(f.store.metrics().unavailable_count(FailMode::Closed) >= 1);
    assert_eq!(f.store.metrics().unavailable_count(FailMode::Open), 0);
    f.redis.spawn();
    resolve_until(&f, &mut n, "recovery after restart", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
}

#[tokio::test]
async fn paused_redis_trips_the_timeout_not_a_hang() {
    let f = Fixture::new(FailMode::Open).await;
    let mut n = 3000;
    resolve_until(&f, &mut n, "healthy", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
    // Connect before pausing: a new connection's handshake would be paused too.
    let mut admin = f.redis.admin().await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1500)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .expect("CLIENT PAUSE");
    let r = f.resolve(&HeaderMap::new(), ip(3500)).await;
    assert!(matches!(r.verdict, Verdict::FailOpen(_)), "{:?}", r.verdict);
    assert!(f.store.metrics().lookups(LookupResult::Timeout) >= 1);
    // The pause ends by itself; the store recovers without help.
    resolve_until(&f, &mut n, "recovery after unpause", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
}

#[tokio::test]
async fn bad_policy_data_in_redis_is_an_error_not_a_crash() {
    let f = Fixture::new(FailMode::Closed).await;
    let _: () = redis::cmd("SET")
        .arg("fp:group:teachers")
        .arg(r#"{"blocked_categories":["no-such-category"]}"#)
        .query_async(&mut f.redis.admin().await)
        .await
        .expect("SET");
    let r = f.resolve(&HeaderMap::new(), ip(2)).await;
    assert!(matches!(r.verdict, Verdict::FailClosed), "{:?}", r.verdict);
    assert!(f.store.metrics().lookups(LookupResult::Error) >= 1);
    // Bad data is not an outage: the breaker stays closed for other keys.
    let r = f.resolve(&HeaderMap::new(), ip(1)).await;
    assert!(matches!(r.verdict, Verdict::Decide(_)), "{:?}", r.verdict);
}

async fn get(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(key)
        .query_async(conn)
        .await
        .expect("GET answers")
}

#[tokio::test]
async fn demo_data_seeds_into_the_documented_layout() {
    let redis = RedisServer::start();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo");
    let report = seed_files(
        &redis.url(),
        "fp:",
        &dir.join("users.csv"),
        &dir.join("policy.toml"),
        true,
    )
    .await
    .expect("demo data seeds");
    assert_eq!(
        report,
        SeedReport {
            ips: 3250,
            users: 3250,
            groups: 4
        }
    );
    let mut conn = redis.admin().await;
    assert_eq!(
        get(&mut conn, "fp:user:teacher007").await.as_deref(),
        Some("teachers")
    );
    assert_eq!(
        get(&mut conn, "fp:ip:127.16.0.1").await.as_deref(),
        Some("student0001")
    );
    let json = get(&mut conn, "fp:group:students")
        .await
        .expect("students policy");
    let spec: PolicySpec = serde_json::from_str(&json).expect("policy JSON");
    assert!(spec.blocked_categories.iter().any(|c| c == "gambling"));
}

#[tokio::test]
async fn a_new_category_database_re_resolves_redis_policies() {
    let mut f = Fixture::new(FailMode::Open).await;
    let r = f.resolve(&HeaderMap::new(), ip(2)).await;
    assert!(f.blocks(&r.verdict, "news.example"));
    // A reload whose database numbers the categories differently: a policy resolved
    // against the old ids would block `adult` instead of `news`.
    f.db = CategoryDb::parse(
        "adult.example adult\ngames.example games\nnews.example news\n",
        "cats-2",
    )
    .expect("categories");
    f.local = PolicySet::parse(POLICIES, "policy", &f.db).expect("policies");
    let r = f.resolve(&HeaderMap::new(), ip(2)).await;
    assert_eq!(&*r.identity.group, "teachers");
    assert!(f.blocks(&r.verdict, "news.example"));
    assert!(!f.blocks(&r.verdict, "adult.example"));
}

#[tokio::test]
async fn redis_down_at_start_serves_in_fail_mode_then_connects() {
    let mut f = Fixture::new(FailMode::Open).await;
    // The store has not connected yet (lazy): Redis is down at its first use.
    f.redis.kill();
    let mut n = 4000;
    resolve_until(&f, &mut n, "fail open without ever connecting", |r| {
        matches!(r.verdict, Verdict::FailOpen(_))
    })
    .await;
    f.redis.spawn();
    // The restarted server is empty: seed the one user this test looks up.
    let _: () = redis::cmd("SET")
        .arg("fp:ip:127.20.0.2")
        .arg("carol")
        .query_async(&mut f.redis.admin().await)
        .await
        .expect("SET");
    resolve_until(&f, &mut n, "first connection after start", |r| {
        matches!(r.verdict, Verdict::Decide(_))
    })
    .await;
    let r = f.resolve(&HeaderMap::new(), ip(2)).await;
    assert_eq!(r.identity.user.as_deref(), Some("carol"));
}
