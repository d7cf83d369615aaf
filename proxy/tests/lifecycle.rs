//! Reload, graceful shutdown, pool exhaustion and `check-config`.

mod util;

use std::time::Duration;

use util::{Origin, TestProxy, ALLOWED};

async fn post_reload(proxy: &TestProxy) -> (u16, String) {
    let resp = reqwest::Client::new()
        .post(format!("http://{}/reload", proxy.admin))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn reload_swaps_policy_without_dropping_a_request_and_refuses_a_broken_file() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        200
    );
    assert_eq!(proxy.metric("filter_proxy_policy_version").await, Some(1.0));

    // A request in flight across the reload.
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get(format!("http://{ALLOWED}/delay/400"))
                .send()
                .await
        })
    };
    util::eventually(
        Duration::from_secs(5),
        "slow request reached the origin",
        || async { origin.requests.load(std::sync::atomic::Ordering::SeqCst) >= 2 },
    )
    .await;
    let policy = proxy.dir.path().join("policy.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let denied = text.replacen(
        "always_deny = [\"homework-answers.test\"",
        &format!("always_deny = [\"{ALLOWED}\", \"homework-answers.test\""),
        1,
    );
    assert_ne!(
        denied, text,
        "the demo policy has the expected default deny list"
    );
    std::fs::write(&policy, denied).unwrap();
    let (status, body) = post_reload(&proxy).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        slow.await.unwrap().unwrap().status(),
        200,
        "in-flight request finished"
    );
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        403
    );
    assert_eq!(proxy.metric("filter_proxy_policy_version").await, Some(2.0));

    // A broken file is refused and the last good policy stays.
    std::fs::write(
        &policy,
        "[groups.default]\nblocked_categories = [\"no-such-category\"]\n",
    )
    .unwrap();
    let (status, body) = post_reload(&proxy).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("kept policy version 2"), "{body}");
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        403
    );
    assert_eq!(proxy.metric("filter_proxy_policy_version").await, Some(2.0));
    assert_eq!(
        proxy
            .metric("filter_proxy_reloads_total{result=\"failed\"}")
            .await,
        Some(1.0)
    );

    // The config's reload trigger (SIGHUP in the binary) does the same.
    std::fs::write(&policy, text).unwrap();
    let (status, _) = post_reload(&proxy).await;
    assert_eq!(status, 200);
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        200
    );
    proxy.stop().await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_request() {
    let origin = Origin::start().await;
    let mut proxy = TestProxy::start(&origin, "").await;
    assert_eq!(proxy.admin_get("/readyz").await.0, 200);
    assert_eq!(proxy.admin_get("/healthz").await.0, 200);
    let client = proxy.client();
    let slow = tokio::spawn(async move {
        client
            .get(format!("http://{ALLOWED}/delay/500"))
            .send()
            .await
    });
    util::eventually(
        Duration::from_secs(5),
        "slow request reached the origin",
        || async { origin.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1 },
    )
    .await;
    let task = proxy.take_task();
    proxy.begin_shutdown();
    util::eventually(
        Duration::from_secs(5),
        "readyz turns 503 while draining",
        || async { proxy.admin_get("/readyz").await.0 == 503 },
    )
    .await;
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "slept 500ms\n");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns after the drain")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(proxy.addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn exhausted_pool_answers_503_with_retry_after_instead_of_hanging() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(
        &origin,
        "[upstream]\nmax_per_host = 1\nmax_total = 1\nacquire_timeout = \"200ms\"\n",
    )
    .await;
    let client = proxy.client();
    let slow = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .get(format!("http://{ALLOWED}/delay/3000"))
                .send()
                .await
        })
    };
    util::eventually(
        Duration::from_secs(5),
        "slow request holds the only connection",
        || async { origin.requests.load(std::sync::atomic::Ordering::SeqCst) >= 1 },
    )
    .await;
    let resp = client
        .get(format!("http://{ALLOWED}/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert!(
        !slow.is_finished(),
        "the 503 came while the pool was still busy"
    );
    assert_eq!(
        proxy.metric("filter_proxy_pool_exhausted_total").await,
        Some(1.0)
    );
    assert_eq!(slow.await.unwrap().unwrap().status(), 200);
    // The connection went back to the pool and is reused.
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        200
    );
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    proxy.stop().await;
}

#[tokio::test]
async fn keep_alive_connections_are_pooled_and_idle_ones_expire() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[upstream]\nidle_timeout = \"200ms\"\n").await;
    let client = proxy.client();
    for _ in 0..5 {
        assert_eq!(
            util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
            200
        );
    }
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one pooled connection"
    );
    util::eventually(Duration::from_secs(5), "idle connection reaped", || async {
        proxy.metric("filter_proxy_pool_open").await == Some(0.0)
    })
    .await;
    assert_eq!(
        util::get_status(&client, &format!("http://{ALLOWED}/echo")).await,
        200
    );
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    proxy.stop().await;
}

#[tokio::test]
async fn connection_closed_by_the_origin_while_idle_is_replaced() {
    let origin = Origin::start_with_idle_close(Some(Duration::from_millis(150))).await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    let url = format!("http://{ALLOWED}/echo");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    util::eventually(
        Duration::from_secs(5),
        "origin closed the idle connection",
        || async { origin.closed.load(std::sync::atomic::Ordering::SeqCst) == 1 },
    )
    .await;
    // The pooled connection is dead; the next request must not fail because of it.
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    proxy.stop().await;
}

#[test]
fn check_config_names_the_bad_key_and_accepts_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:3128\"\n\n[upstream]\nconnect_timeout = \"soon\"\nmax_per_host = 0\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_filter-proxy"))
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("line 5: upstream.connect_timeout"),
        "{stdout}"
    );
    assert!(stdout.contains("line 6: upstream.max_per_host"), "{stdout}");
    assert!(
        stdout.contains("filter.categories"),
        "missing data file named: {stdout}"
    );

    let demo = util::demo_dir().join("proxy.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_filter-proxy"))
        .args(["check-config"])
        .arg(&demo)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("ok"), "{stdout}");
}
