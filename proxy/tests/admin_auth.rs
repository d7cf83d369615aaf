//! The admin token over real sockets: `POST /reload` and the `/debug/` routes refuse
//! requests without the configured bearer token (and count each refusal), while
//! `/healthz`, `/readyz` and `/metrics` stay open to probes and scrapers.

mod util;

use reqwest::{Method, StatusCode};
use util::{Origin, TestProxy};

const TOKEN: &str = "f1lter-admin-token-for-tests-0123";

async fn call(
    proxy: &TestProxy,
    method: Method,
    path: &str,
    auth: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap) {
    let mut req = reqwest::Client::new().request(method, format!("http://{}{path}", proxy.admin));
    if let Some(value) = auth {
        req = req.header(reqwest::header::AUTHORIZATION, value);
    }
    let resp = req.send().await.expect("admin answers");
    (resp.status(), resp.headers().clone())
}

#[tokio::test]
async fn guarded_routes_need_the_token_and_probes_stay_open() {
    let secrets = tempfile::tempdir().expect("temp dir");
    let token_file = secrets.path().join("admin.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    let origin = Origin::start().await;
    let overlay = format!(
        "[admin]\ntoken_file = {:?}\n",
        token_file.display().to_string()
    );
    let proxy = TestProxy::start(&origin, &overlay).await;

    let bearer = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {TOKEN}x");
    for path in [
        "/debug/jemalloc",
        "/debug/pprof/profile?seconds=1&format=folded",
    ] {
        let (status, headers) = call(&proxy, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        assert!(
            headers.contains_key(reqwest::header::WWW_AUTHENTICATE),
            "{path}: 401 names the scheme"
        );
        let (status, _) = call(&proxy, Method::GET, path, Some(&wrong)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
        let (status, _) = call(&proxy, Method::GET, path, Some(&bearer)).await;
        assert_eq!(status, StatusCode::OK, "{path} with the token");
    }
    let (status, _) = call(&proxy, Method::POST, "/reload", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "reload without a token");
    let (status, _) = call(&proxy, Method::POST, "/reload", Some(&bearer)).await;
    assert_eq!(status, StatusCode::OK, "reload with the token");
    assert_eq!(proxy.metric("filter_proxy_policy_version").await, Some(2.0));

    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _) = call(&proxy, Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path} stays open");
    }
    assert_eq!(
        proxy
            .metric("filter_proxy_admin_refused_total{reason=\"missing\"}")
            .await,
        Some(3.0),
        "two debug routes and reload refused without a token"
    );
    assert_eq!(
        proxy
            .metric("filter_proxy_admin_refused_total{reason=\"invalid\"}")
            .await,
        Some(2.0),
        "two debug routes refused with a wrong token"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_loopback_admin_without_a_token_stays_open() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let (status, _) = call(&proxy, Method::GET, "/debug/jemalloc", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        proxy
            .metric("filter_proxy_admin_refused_total{reason=\"missing\"}")
            .await,
        Some(0.0)
    );
    proxy.stop().await;
}
