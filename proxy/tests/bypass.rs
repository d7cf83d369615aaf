//! The classes of filter bypass a hostile-input probe found, each as a class: every
//! spelling of a blocked path, every numeric spelling of an address, every way of naming a
//! second host, every header an origin may read as ours. Real sockets, raw requests, the
//! demo data.

mod util;

use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use util::{raw_exchange, read_until_close, status_of, Origin, TestProxy, ALLOWED};

/// A demo host in `video` (allowed for the default group) whose `/adult` section is in
/// `adult` (blocked for every group).
const SECTIONED: &str = "reel-net-7329.example";

fn get(target: &str, extra: &str) -> Vec<u8> {
    let host = target
        .strip_prefix("http://")
        .and_then(|t| t.split('/').next())
        .unwrap_or(ALLOWED);
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

async fn status(proxy: &TestProxy, request: &[u8]) -> (u16, String) {
    let raw = raw_exchange(proxy.addr, request).await;
    (status_of(&raw), raw)
}

#[tokio::test]
async fn every_spelling_of_a_blocked_path_is_blocked() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let spellings = [
        "/adult/x",
        "//adult/x",
        "///adult",
        "/./adult/x",
        "/x/../adult/x",
        "/%61dult/x",
        "/%2Fadult/x",
        "/%2fadult",
        "/adult%2Fx",
        "/adult;x=1",
        "/adult;x=1/y",
        "/ADULT/x",
        "/Adult",
        "/adult%5cx",
        "/x/%2e%2e/adult",
        "/x/..;/adult",
        "/adult?q=1",
    ];
    for path in spellings {
        let (code, raw) = status(&proxy, &get(&format!("http://{SECTIONED}{path}"), "")).await;
        assert_eq!(code, 403, "{path} must be blocked: {raw}");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    // Near misses stay allowed: the rule ends at a segment boundary.
    for path in ["/adultx", "/x/adult", "/learn/adult", "/adul", "/%2561dult"] {
        let (code, raw) = status(&proxy, &get(&format!("http://{SECTIONED}{path}"), "")).await;
        assert_ne!(code, 403, "{path} is not under /adult: {raw}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn the_path_is_forwarded_as_sent() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let (code, raw) = status(&proxy, &get(&format!("http://{ALLOWED}/echo?a=%2F"), "")).await;
    assert_eq!(code, 200, "{raw}");
    assert!(raw.contains(r#""uri":"/echo?a=%2F""#), "{raw}");
    proxy.stop().await;
}

#[tokio::test]
async fn a_second_host_credentials_and_bad_ports_are_refused() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let refused: Vec<Vec<u8>> = vec![
        // Two Host headers, with the blocked one second or first.
        format!(
            "GET http://{ALLOWED}/echo HTTP/1.1\r\nHost: {ALLOWED}\r\nHost: {SECTIONED}\r\n\r\n"
        )
        .into_bytes(),
        format!("GET http://{ALLOWED}/echo HTTP/1.1\r\nHost: x.test\r\nHost: {ALLOWED}\r\n\r\n")
            .into_bytes(),
        get(&format!("http://user:secret@{ALLOWED}/echo"), ""),
        get(&format!("http://user@{ALLOWED}/echo"), ""),
        get(&format!("http://{ALLOWED}:99999/echo"), ""),
        get(&format!("http://{ALLOWED}:0/echo"), ""),
        get(&format!("http://{ALLOWED}:65536/echo"), ""),
        get("http://allowed..example/echo", ""),
        get("http://1.2.3.4.5/echo", ""),
        b"CONNECT allowed.example:0 HTTP/1.1\r\nHost: allowed.example:0\r\n\r\n".to_vec(),
        b"CONNECT user@allowed.example:443 HTTP/1.1\r\nHost: allowed.example:443\r\n\r\n".to_vec(),
    ];
    for request in &refused {
        let (code, raw) = status(&proxy, request).await;
        assert_eq!(
            code,
            400,
            "{} -> {raw}",
            String::from_utf8_lossy(request).lines().next().unwrap()
        );
        assert!(!raw.contains("secret"), "{raw}");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    assert_eq!(
        proxy
            .metric("filter_proxy_client_errors_total{kind=\"bad_request\"}")
            .await,
        Some(refused.len() as f64)
    );
    proxy.stop().await;
}

/// Every spelling of an address, as browsers parse them.
const LOOPBACK_SPELLINGS: [&str; 8] = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
];

#[tokio::test]
async fn ip_literal_hosts_follow_the_group_policy() {
    let origin = Origin::start().await;
    // The demo policy with `ip_literals = "allow"` for staff (its last group).
    let policy_dir = tempfile::tempdir().unwrap();
    let policy = policy_dir.path().join("policy.toml");
    let demo = std::fs::read_to_string(util::demo_dir().join("policy.toml")).unwrap();
    assert!(demo
        .trim_end()
        .ends_with("always_deny = [\"payroll-login-verify.test\"]"));
    std::fs::write(&policy, format!("{demo}ip_literals = \"allow\"\n")).unwrap();
    let overlay = format!("[filter]\npolicy = {:?}\n", policy.display().to_string());
    let proxy = TestProxy::start(&origin, &overlay).await;
    let port = origin.addr.port();
    let staff = "Proxy-Authorization: Basic c3RhZmYwMTpwdy1zdGFmZjAx\r\n"; // staff01
    for host in LOOPBACK_SPELLINGS {
        // The default group (and students): blocked, HTTP and CONNECT alike.
        let (code, raw) = status(&proxy, &get(&format!("http://{host}:{port}/echo"), "")).await;
        assert_eq!(code, 403, "{host}: {raw}");
        assert!(
            raw.contains("127.0.0.1"),
            "the block names the address: {raw}"
        );
        let connect = format!(
            "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
        );
        let (code, raw) = status(&proxy, connect.as_bytes()).await;
        assert_eq!(code, 403, "CONNECT {host}: {raw}");
        // Staff set `ip_literals = "allow"`.
        let (code, raw) = status(&proxy, &get(&format!("http://{host}:{port}/echo"), staff)).await;
        assert_eq!(code, 200, "staff, {host}: {raw}");
    }
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        LOOPBACK_SPELLINGS.len()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn headers_an_origin_would_read_as_ours_never_reach_it() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let spoof = "X_Filter_User: admin\r\nX_Filter-Group: staff\r\nx-filter_group: staff\r\n\
                 X_Forwarded_For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nForwarded: for=10.0.0.3\r\n";
    let (code, raw) = status(&proxy, &get(&format!("http://{ALLOWED}/echo"), spoof)).await;
    assert_eq!(code, 200, "{raw}");
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    let echo: serde_json::Value = serde_json::from_str(body.trim_start_matches(|c: char| c != '{'))
        .unwrap_or_else(|e| {
            panic!("{e}: {body}");
        });
    let headers = echo["headers"].as_object().unwrap();
    for (name, values) in headers {
        let canonical = name.replace('_', "-");
        if [
            "x-filter-user",
            "x-filter-group",
            "x-forwarded-for",
            "forwarded",
        ]
        .contains(&canonical.as_str())
        {
            assert_eq!(name, &canonical, "{name} reached the origin: {values}");
        }
    }
    assert_eq!(echo["headers"]["x-forwarded-for"][0], "127.0.0.1");
    assert_eq!(echo["headers"]["x-filter-group"][0], "default");
    assert!(echo["headers"].get("forwarded").is_none());
    assert!(echo["headers"].get("x-filter-user").is_none());
    proxy.stop().await;

    // From a trusted forwarder, its forwarding headers stand and are appended to.
    let proxy = TestProxy::start(
        &origin,
        "[forward]\ntrusted_forwarders = [\"127.0.0.0/8\"]\n",
    )
    .await;
    let (_, raw) = status(&proxy, &get(&format!("http://{ALLOWED}/echo"), spoof)).await;
    assert!(
        raw.contains(r#""x-forwarded-for":["10.0.0.2, 127.0.0.1"]"#),
        "{raw}"
    );
    assert!(raw.contains(r#""forwarded":["for=10.0.0.3"]"#), "{raw}");
    proxy.stop().await;
}

#[tokio::test]
async fn cl_te_is_refused_after_a_body_that_does_not_end_in_a_newline() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    for body_len in [1usize, 7, 208, 4096] {
        let body = "b".repeat(body_len);
        let request = format!(
            "POST http://{ALLOWED}/echo HTTP/1.1\r\nHost: {ALLOWED}\r\nContent-Length: {body_len}\r\n\r\n{body}\
             POST http://{ALLOWED}/echo HTTP/1.1\r\nHost: {ALLOWED}\r\nContent-Length: 5\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        );
        let raw = raw_exchange(proxy.addr, request.as_bytes()).await;
        let statuses: Vec<u16> = raw
            .match_indices("HTTP/1.1 ")
            .map(|(at, _)| status_of(&raw[at..]))
            .collect();
        assert_eq!(statuses, [200, 400], "body of {body_len}: {raw}");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 4);
    proxy.stop().await;
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "POST http://{ALLOWED}/echo HTTP/1.1\r\nHost: {ALLOWED}\r\n\
                 Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\nzz-not-hex\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let raw = read_until_close(&mut stream).await;
    assert_eq!(status_of(&raw), 400, "{raw}");
    assert_eq!(
        proxy
            .metric("filter_proxy_client_errors_total{kind=\"body\"}")
            .await,
        Some(1.0)
    );
    assert_eq!(
        proxy
            .metric("filter_proxy_upstream_errors_total{kind=\"protocol\"}")
            .await,
        Some(0.0)
    );
    proxy.stop().await;
}
