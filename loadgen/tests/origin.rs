//! The test origin over real loopback sockets, with a real HTTP client.

use std::time::Duration;

use loadgen::origin::body::payload_byte;
use loadgen::origin::RunningOrigin;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn bytes_stream_status_and_delay_answer_as_named() {
    let origin = RunningOrigin::start().await.unwrap();
    let base = format!("http://{}", origin.addr);
    let c = client();

    let r = c.get(format!("{base}/bytes/100000")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(100_000));
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len(), 100_000);
    assert!(body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == payload_byte(i as u64)));

    // Larger than the pre-built payload: still exact, still with a length.
    let r = c.get(format!("{base}/bytes/3000000")).send().await.unwrap();
    assert_eq!(r.content_length(), Some(3_000_000));
    assert_eq!(r.bytes().await.unwrap().len(), 3_000_000);

    let r = c
        .get(format!("{base}/any/prefix/stream/200000"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert_eq!(r.bytes().await.unwrap().len(), 200_000);

    let r = c.get(format!("{base}/status/418")).send().await.unwrap();
    assert_eq!(r.status(), 418);

    let started = std::time::Instant::now();
    let r = c.get(format!("{base}/delay/50")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(50));

    let r = c.get(format!("{base}/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    origin.stop().await.unwrap();
}

#[tokio::test]
async fn echo_headers_reports_what_was_received_for_any_host() {
    let origin = RunningOrigin::start().await.unwrap();
    let r = client()
        .get(format!("http://{}/echo/headers", origin.addr))
        .header("x-filter-user", "student0001")
        .header("host", "www.example.edu")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["headers"]["x-filter-user"], "student0001");
    assert_eq!(v["headers"]["host"], "www.example.edu");
    assert_eq!(v["method"], "GET");
}

#[tokio::test]
async fn cors_preflight_and_request_carry_the_allow_headers() {
    let origin = RunningOrigin::start().await.unwrap();
    let url = format!("http://{}/cors", origin.addr);
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.school.test")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-requested-with",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.school.test"
    );
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "content-type, x-requested-with"
    );
    let r = c
        .post(&url)
        .header("origin", "https://app.school.test")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.school.test"
    );
}

#[tokio::test]
async fn reset_closes_the_connection_without_an_answer() {
    let origin = RunningOrigin::start().await.unwrap();
    let err = client()
        .get(format!("http://{}/reset", origin.addr))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
}

#[tokio::test]
async fn https_with_a_leaf_for_the_requested_name_is_trusted_through_the_ca() {
    let origin = RunningOrigin::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = origin.write_ca(dir.path()).unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_path).unwrap()).unwrap();
    let c = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .resolve("secure.school.test", origin.tls_addr)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!(
        "https://secure.school.test:{}/bytes/2048",
        origin.tls_addr.port()
    );
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 2048);

    // The plain port answers HTTPS too (CONNECT targets all land there).
    let plain = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(origin.ca.ca_pem().as_bytes()).unwrap()])
        .resolve("other.school.test", origin.addr)
        .build()
        .unwrap();
    let r = plain
        .get(format!(
            "https://other.school.test:{}/bytes/10",
            origin.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap().len(), 10);

    // Without the CA the same request is refused.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .resolve("secure.school.test", origin.tls_addr)
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());
}

#[tokio::test]
async fn faults_are_changed_at_run_time_through_the_admin_route() {
    let origin = RunningOrigin::start().await.unwrap();
    let base = format!("http://{}", origin.addr);
    let c = client();
    let r = c
        .put(format!("{base}/__origin/faults"))
        .body(r#"{"error_rate": 1.0, "error_status": 502}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        c.get(format!("{base}/bytes/10"))
            .send()
            .await
            .unwrap()
            .status(),
        502
    );

    let bad = c
        .put(format!("{base}/__origin/faults"))
        .body(r#"{"error_rate": 2.0, "error_status": 200}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let text = bad.text().await.unwrap();
    assert!(
        text.contains("error_rate") && text.contains("error_status"),
        "{text}"
    );

    c.delete(format!("{base}/__origin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        c.get(format!("{base}/bytes/10"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    c.put(format!("{base}/__origin/faults"))
        .body(r#"{"delay_ms": 80}"#)
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    c.get(format!("{base}/bytes/10")).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(80));
}
