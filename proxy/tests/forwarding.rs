//! Forwarding, blocking, identity headers and CORS, through real sockets and reqwest.

mod util;

use util::{Origin, TestProxy, ALLOWED, BLOCKED};

#[tokio::test]
async fn allowed_request_reaches_origin_with_identity_headers_and_body_intact() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = reqwest::Client::builder()
        .proxy(
            reqwest::Proxy::http(format!("http://{}", proxy.addr))
                .unwrap()
                .basic_auth("student0001", "pw-student0001"),
        )
        .build()
        .unwrap();
    let body = "x".repeat(100_000);
    let resp = client
        .post(format!("http://{ALLOWED}/echo?q=1"))
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must not pass")
        .header("x-forwarded-for", "10.1.2.3")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["via"]
        .to_str()
        .unwrap()
        .contains("filter-proxy"));
    let echo: serde_json::Value = resp.json().await.unwrap();
    let h = &echo["headers"];
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/echo?q=1", "origin-form target upstream");
    assert_eq!(echo["body_len"], 100_000);
    assert_eq!(echo["body"].as_str().unwrap(), body);
    assert_eq!(h["x-filter-user"][0], "student0001");
    assert_eq!(h["x-filter-group"][0], "students");
    assert_eq!(h["host"][0], ALLOWED);
    assert_eq!(
        h["x-forwarded-for"][0], "127.0.0.1",
        "a client-sent X-Forwarded-For is replaced (the client is no trusted forwarder)"
    );
    assert!(h["via"][0].as_str().unwrap().starts_with("1.1 "));
    for gone in [
        "proxy-authorization",
        "x-hop",
        "connection",
        "proxy-connection",
        "keep-alive",
    ] {
        assert!(
            h.get(gone).is_none(),
            "{gone} must not reach the origin: {h}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn spoofed_identity_headers_are_replaced() {
    let origin = Origin::start().await;
    // Loopback is not a trusted appliance here, so appliance headers must be dropped too.
    let proxy = TestProxy::start(&origin, "").await;
    let resp = proxy
        .client()
        .get(format!("http://{ALLOWED}/echo"))
        .header("x-filter-user", "headteacher")
        .header("x-filter-group", "staff")
        .header("x-appliance-user", "headteacher")
        .header("x-appliance-group", "staff")
        .send()
        .await
        .unwrap();
    let echo: serde_json::Value = resp.json().await.unwrap();
    let h = &echo["headers"];
    assert!(h.get("x-filter-user").is_none(), "{h}");
    assert_eq!(h["x-filter-group"], serde_json::json!(["default"]));
    assert!(h.get("x-appliance-user").is_none() && h.get("x-appliance-group").is_none());
    proxy.stop().await;
}

#[tokio::test]
async fn blocked_navigation_gets_html_page_and_never_reaches_origin() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let resp = proxy
        .client()
        .get(format!("http://{BLOCKED}/some/page"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("social"), "names the category: {page}");
    assert!(page.contains(BLOCKED), "names the rule: {page}");
    assert_eq!(origin.requests.load(std::sync::atomic::Ordering::SeqCst), 0);
    // Host is lowercased and the port stripped before categorising.
    let upper = format!("http://{}:80/", BLOCKED.to_uppercase());
    let resp = proxy.client().get(upper).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        proxy
            .metric("filter_proxy_requests_total{decision=\"blocked\",status=\"4xx\"}")
            .await,
        Some(2.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn blocked_xhr_gets_json_with_cors_and_preflights_behave() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    let app = "http://app.school.example";

    // Blocked fetch: JSON the script can read.
    let resp = client
        .get(format!("http://{BLOCKED}/api"))
        .header("origin", app)
        .header("sec-fetch-mode", "cors")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["access-control-allow-origin"], app);
    assert_eq!(resp.headers()["vary"], "Origin");
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["blocked"], true);
    assert_eq!(json["category"], "social");

    // Blocked preflight: granted (a 2xx, never a redirect or a 403, which a browser
    // reports to the script as an opaque network error), not cached, so the request
    // itself follows and gets the readable 403 above.
    let resp = client
        .request(reqwest::Method::OPTIONS, format!("http://{BLOCKED}/api"))
        .header("origin", app)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "x-custom")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["access-control-max-age"], "0");
    assert_eq!(resp.headers()["access-control-allow-credentials"], "true");
    assert_eq!(resp.headers()["access-control-allow-origin"], app);
    assert_eq!(resp.headers()["access-control-allow-methods"], "PUT");
    assert_eq!(resp.headers()["access-control-allow-headers"], "x-custom");

    // Allowed preflight: the origin's answer comes back unchanged.
    let resp = client
        .request(reqwest::Method::OPTIONS, format!("http://{ALLOWED}/api"))
        .header("origin", app)
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["x-origin-preflight"], "yes");
    assert_eq!(resp.headers()["access-control-allow-origin"], app);
    assert_eq!(
        resp.headers()["access-control-allow-methods"],
        "GET, PUT, DELETE"
    );
    assert_eq!(
        resp.headers()["access-control-allow-headers"],
        "x-custom, content-type"
    );
    assert_eq!(resp.headers()["access-control-max-age"], "600");
    proxy.stop().await;
}

#[tokio::test]
async fn origin_form_request_gets_400_with_explanation() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let raw = util::raw_exchange(
        proxy.addr,
        b"GET /index.html HTTP/1.1\r\nHost: allowed.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(util::status_of(&raw), 400, "{raw}");
    assert!(raw.contains("forward proxy"), "{raw}");
    proxy.stop().await;
}

#[tokio::test]
async fn unreachable_origin_gets_502_and_is_counted() {
    let origin = Origin::start().await;
    // A port nothing listens on: bind, note, close.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let overlay = format!("[upstream.resolve]\n\"dead.example\" = \"{dead}\"\n");
    let proxy = TestProxy::start(&origin, &overlay).await;
    let resp = proxy
        .client()
        .get("http://dead.example/")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert_eq!(
        proxy
            .metric("filter_proxy_upstream_errors_total{kind=\"connect\"}")
            .await,
        Some(1.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn slow_origin_response_head_gets_504() {
    let origin = Origin::start().await;
    let proxy =
        TestProxy::start(&origin, "[upstream]\nresponse_header_timeout = \"200ms\"\n").await;
    let resp = proxy
        .client()
        .get(format!("http://{ALLOWED}/delay/3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert!(resp.text().await.unwrap().contains("timed out"));
    assert_eq!(
        proxy
            .metric("filter_proxy_upstream_errors_total{kind=\"response_timeout\"}")
            .await,
        Some(1.0)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn admin_serves_metrics_profiling_routes_and_404s() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    assert_eq!(
        proxy
            .client()
            .get(format!("http://{ALLOWED}/echo"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (status, text) = proxy.admin_get("/metrics").await;
    assert_eq!(status, 200);
    for family in [
        "filter_proxy_requests_total{decision=\"allowed\",status=\"2xx\"} 1",
        "filter_proxy_request_duration_seconds_count 1",
        "filter_proxy_client_connections",
        "filter_proxy_pool_in_use",
        "filter_proxy_pool_idle 1",
        "filter_proxy_pool_waiters",
        "filter_proxy_pool_exhausted_total",
        "filter_proxy_identity_total{source=\"unknown\"} 1",
        "filter_proxy_tunnels_open",
        "filter_proxy_policy_version 1",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    let (status, body) = proxy.admin_get("/debug/jemalloc").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).is_ok(),
        "{body}"
    );
    assert_eq!(proxy.admin_get("/nope").await.0, 404);
    proxy.stop().await;
}

#[tokio::test]
async fn request_for_the_proxy_itself_is_a_loop_not_a_fork_bomb() {
    let origin = Origin::start().await;
    // One name resolves to the proxy's own listener.
    let proxy = TestProxy::start_with(&origin, |own| {
        format!("[upstream.resolve]\n\"self.example\" = \"{own}\"\n")
    })
    .await;
    let resp = proxy
        .client()
        .get("http://self.example/")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 508, "{text}");
    assert!(text.contains("loop"), "{text}");
    assert_eq!(
        proxy
            .metric("filter_proxy_requests_total{decision=\"error\",status=\"5xx\"}")
            .await,
        Some(1.0),
        "only the looped request failed; the outer one passed its 508 through"
    );
    proxy.stop().await;
}
