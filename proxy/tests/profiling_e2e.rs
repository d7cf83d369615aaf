//! Profiling through the real proxy's admin listener: allocation counters rise with
//! proxied requests, a CPU profile taken under proxied load names the proxy's request
//! path, a concurrent profile is refused with 409 and a bad format with 400.

mod util;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use filter_proxy::admin::pprof::is_profiling;
use tokio::time::Instant;
use util::{eventually, Origin, TestProxy, ALLOWED};

/// Requests the load loop may send at most (it normally stops much earlier).
const MAX_LOAD_REQUESTS: u64 = 200_000;
/// Longest the load loop may run.
const MAX_LOAD_TIME: Duration = Duration::from_secs(30);

async fn allocations(proxy: &TestProxy) -> u64 {
    let (status, body) = proxy.admin_get("/debug/jemalloc").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("jemalloc JSON");
    json["allocations"]
        .as_u64()
        .expect("allocations is a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_counters_rise_with_proxied_requests() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    let requests = 200u64;

    let before = allocations(&proxy).await;
    for _ in 0..requests {
        let resp = client
            .get(format!("http://{ALLOWED}/echo"))
            .send()
            .await
            .expect("proxied request");
        assert_eq!(resp.status(), 200);
        resp.bytes().await.expect("body");
    }
    let after = allocations(&proxy).await;
    assert!(
        after >= before + requests,
        "allocations {before} -> {after} over {requests} requests"
    );
}

/// Sends proxied requests on 4 concurrent loops until `stop`, bounded in count and time.
async fn drive_load(proxy: &TestProxy, stop: Arc<AtomicBool>) -> u64 {
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + MAX_LOAD_TIME;
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop, sent) = (proxy.client(), stop.clone(), sent.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed)
                    && Instant::now() < deadline
                    && sent.fetch_add(1, Ordering::Relaxed) < MAX_LOAD_REQUESTS
                {
                    if let Ok(resp) = client.get(format!("http://{ALLOWED}/echo")).send().await {
                        let _ = resp.bytes().await;
                    }
                }
            })
        })
        .collect();
    for l in loops {
        l.await.expect("load loop");
    }
    sent.load(Ordering::Relaxed)
}

async fn admin(proxy: &TestProxy, path: &str) -> (u16, String) {
    proxy.admin_get(path).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_under_proxied_load_names_the_request_path() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;

    let (status, body) = admin(&proxy, "/debug/pprof/profile?seconds=2&format=dot").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("format"), "{body}");

    let stop = Arc::new(AtomicBool::new(false));
    let (profile, sent) = tokio::join!(
        async {
            let first = admin(&proxy, "/debug/pprof/profile?seconds=2&format=folded");
            let second = async {
                eventually(Duration::from_secs(10), "profile started", || async {
                    is_profiling()
                })
                .await;
                admin(&proxy, "/debug/pprof/profile?seconds=1&format=folded").await
            };
            let (first, (busy, reason)) = tokio::join!(first, second);
            assert_eq!(busy, 409, "{reason}");
            stop.store(true, Ordering::Relaxed);
            first
        },
        drive_load(&proxy, stop.clone()),
    );
    let (status, folded) = profile;
    assert_eq!(status, 200, "{folded}");
    assert!(sent > 0, "load ran");
    let proxy_stacks = folded
        .lines()
        .filter(|l| l.contains("filter_proxy::forward") || l.contains("filter_proxy::server"))
        .count();
    assert!(
        proxy_stacks > 0,
        "no sampled stack runs through the proxy's request path:\n{folded}"
    );
}
