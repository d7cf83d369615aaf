//! The proxy with its policy store: Redis in the request path (a real `redis-server`
//! seeded through the binary's `seed-redis`), and both fail modes when Redis is down.

mod util;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use util::{Origin, TestProxy, ALLOWED, BLOCKED};

/// A `redis-server` child on a free loopback port, killed by pid on drop (also on panic).
struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let server = RedisServer { port, child };
        util::eventually(Duration::from_secs(10), "redis-server accepts", || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn store_overlay(url: &str, fail_mode: &str) -> String {
    format!(
        "[store]\nbackend = \"redis\"\n[store.redis]\nurl = \"{url}\"\ntimeout = \"100ms\"\n\
         cache_ttl = \"0s\"\nnegative_ttl = \"0s\"\nbreaker_failures = 1\nbreaker_open = \"30s\"\n\
         fail_mode = \"{fail_mode}\"\n"
    )
}

fn basic_client(proxy: &TestProxy) -> reqwest::Client {
    reqwest::Client::builder()
        .proxy(
            reqwest::Proxy::http(format!("http://{}", proxy.addr))
                .unwrap()
                .basic_auth("student0001", "pw-student0001"),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn redis_answers_user_groups_in_the_request_path() {
    let redis = RedisServer::start().await;
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, &store_overlay(&redis.url(), "closed")).await;
    let out = Command::new(env!("CARGO_BIN_EXE_filter-proxy"))
        .args(["seed-redis", "--config"])
        .arg(proxy.dir.path().join("proxy.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("user"));

    let client = basic_client(&proxy);
    let echo: serde_json::Value = client
        .get(format!("http://{ALLOWED}/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        echo["headers"]["x-filter-group"][0], "students",
        "seeded group"
    );

    // Move the user in Redis only: the next request follows Redis, not the users file.
    let conn = redis::Client::open(redis.url()).unwrap();
    let mut conn = conn.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SET")
        .arg("fp:user:student0001")
        .arg("teachers")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let echo: serde_json::Value = client
        .get(format!("http://{ALLOWED}/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["headers"]["x-filter-group"][0], "teachers");
    assert_eq!(proxy.admin_get("/readyz").await.0, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn redis_down_fail_closed_refuses_and_turns_unready() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let origin = Origin::start().await;
    let url = format!("redis://{dead}/0");
    let proxy = TestProxy::start(&origin, &store_overlay(&url, "closed")).await;
    let resp = basic_client(&proxy)
        .get(format!("http://{ALLOWED}/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("filtering is temporarily unavailable"));
    assert_eq!(origin.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    util::eventually(
        Duration::from_secs(5),
        "readyz reports the closed store",
        || async { proxy.admin_get("/readyz").await.0 == 503 },
    )
    .await;
    proxy.stop().await;
}

#[tokio::test]
async fn redis_down_fail_open_keeps_filtering_with_the_default_policy() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let origin = Origin::start().await;
    let url = format!("redis://{dead}/0");
    let proxy = TestProxy::start(&origin, &store_overlay(&url, "open")).await;
    let client = basic_client(&proxy);
    let echo: serde_json::Value = client
        .get(format!("http://{ALLOWED}/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        echo["headers"]["x-filter-group"][0], "default",
        "identity lost, not filtering"
    );
    let blocked = client
        .get(format!("http://{BLOCKED}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(blocked.status(), 403);
    let (status, body) = proxy.admin_get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("degraded"), "{body}");
    proxy.stop().await;
}
