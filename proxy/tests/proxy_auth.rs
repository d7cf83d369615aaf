//! `identity.require_auth`: a request no identity source vouches for gets a 407 with a
//! Basic challenge, except a CORS preflight, which browsers send without credentials and
//! which is granted (204, never cached) so that the request it announces can meet the 407
//! and raise the browser's login prompt (a 407 on the preflight itself raises no prompt
//! and leaves the script's request hanging: `make browser`, the `auth-*` checks).
//! Real sockets, raw requests, the demo users.

mod util;

use std::sync::atomic::Ordering;

use base64::Engine as _;
use util::{raw_exchange, status_of, Origin, TestProxy, ALLOWED, BLOCKED};

const REQUIRE: &str = "[identity]\nrequire_auth = true\nauth_realm = \"School filter\"\n";

fn request(method: &str, host: &str, extra: &str) -> Vec<u8> {
    format!(
        "{method} http://{host}/api HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"
    )
    .into_bytes()
}

fn credentials(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Proxy-Authorization: Basic {token}\r\n")
}

/// The value of header `name` in a raw response head (case-insensitive name).
fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

const PREFLIGHT: &str = "Origin: http://school-app.example\r\n\
                         Access-Control-Request-Method: PUT\r\n\
                         Access-Control-Request-Headers: content-type,x-school-app\r\n";

#[tokio::test]
async fn unidentified_requests_get_a_basic_challenge_and_nothing_reaches_the_origin() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, REQUIRE).await;
    for extra in [
        "",
        &credentials("student0001", "wrong"),
        "Proxy-Authorization: Bearer x\r\n",
    ] {
        let raw = raw_exchange(proxy.addr, &request("GET", ALLOWED, extra)).await;
        assert_eq!(status_of(&raw), 407, "{extra:?}: {raw}");
        assert_eq!(
            header(&raw, "proxy-authenticate"),
            Some("Basic realm=\"School filter\", charset=\"UTF-8\""),
            "{raw}"
        );
    }
    // CONNECT is challenged too: a tunnel is no way around the login.
    let raw = raw_exchange(
        proxy.addr,
        format!(
            "CONNECT {ALLOWED}:443 HTTP/1.1\r\nHost: {ALLOWED}:443\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&raw), 407, "{raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    let counted = proxy
        .metric("filter_proxy_client_errors_total{kind=\"auth_required\"}")
        .await;
    assert_eq!(counted, Some(4.0));
    proxy.stop().await;
}

#[tokio::test]
async fn valid_credentials_pass_and_are_not_forwarded() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, REQUIRE).await;
    let raw = raw_exchange(
        proxy.addr,
        &request(
            "GET",
            ALLOWED,
            &credentials("student0001", "pw-student0001"),
        ),
    )
    .await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    assert!(
        !raw.to_ascii_lowercase().contains("proxy-authorization"),
        "{raw}"
    );
    assert_eq!(origin.requests.load(Ordering::SeqCst), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn a_preflight_is_never_challenged_and_never_forwarded_unauthenticated() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, REQUIRE).await;
    for host in [ALLOWED, BLOCKED] {
        let raw = raw_exchange(proxy.addr, &request("OPTIONS", host, PREFLIGHT)).await;
        assert_eq!(status_of(&raw), 204, "{host}: {raw}");
        assert_eq!(header(&raw, "proxy-authenticate"), None, "{raw}");
        assert_eq!(
            header(&raw, "access-control-allow-origin"),
            Some("http://school-app.example")
        );
        assert_eq!(
            header(&raw, "access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(header(&raw, "access-control-allow-methods"), Some("PUT"));
        assert_eq!(
            header(&raw, "access-control-allow-headers"),
            Some("content-type,x-school-app")
        );
        assert_eq!(header(&raw, "access-control-max-age"), Some("0"), "{raw}");
    }
    assert_eq!(origin.requests.load(Ordering::SeqCst), 0);
    // The request the preflight announced is challenged as usual.
    let raw = raw_exchange(
        proxy.addr,
        &request(
            "PUT",
            ALLOWED,
            "Origin: http://school-app.example\r\nContent-Length: 0\r\n",
        ),
    )
    .await;
    assert_eq!(status_of(&raw), 407, "{raw}");
    // A plain OPTIONS (no Access-Control-Request-Method) is no preflight: challenged.
    let raw = raw_exchange(proxy.addr, &request("OPTIONS", ALLOWED, "")).await;
    assert_eq!(status_of(&raw), 407, "{raw}");
    // A preflight with credentials goes to the origin, which answers its own CORS.
    let with = format!(
        "{PREFLIGHT}{}",
        credentials("student0001", "pw-student0001")
    );
    let raw = raw_exchange(proxy.addr, &request("OPTIONS", ALLOWED, &with)).await;
    assert_eq!(status_of(&raw), 204, "{raw}");
    assert_eq!(header(&raw, "x-origin-preflight"), Some("yes"), "{raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 1);
    proxy.stop().await;
}

#[tokio::test]
async fn clients_known_by_address_are_never_challenged() {
    let origin = Origin::start().await;
    let overlay = format!(
        "{REQUIRE}order = [\"basic\", \"client_ip\"]\n\
         ip_users = [{{ net = \"127.0.0.1/32\", user = \"student0001\" }}]\n"
    );
    let proxy = TestProxy::start(&origin, &overlay).await;
    let raw = raw_exchange(proxy.addr, &request("GET", ALLOWED, "")).await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    // The preflight reaches the origin, which answers its own CORS.
    let raw = raw_exchange(proxy.addr, &request("OPTIONS", ALLOWED, PREFLIGHT)).await;
    assert_eq!(header(&raw, "x-origin-preflight"), Some("yes"), "{raw}");
    assert_eq!(origin.requests.load(Ordering::SeqCst), 2);
    proxy.stop().await;
}

#[tokio::test]
async fn without_require_auth_nobody_is_challenged() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let raw = raw_exchange(proxy.addr, &request("GET", ALLOWED, "")).await;
    assert_eq!(status_of(&raw), 200, "{raw}");
    proxy.stop().await;
}

#[test]
fn require_auth_needs_basic_and_a_user_table() {
    let base = util::demo_dir();
    let check = |identity: &str| {
        let text = format!(
            "[filter]\ncategories = \"categories.txt\"\npolicy = \"policy.toml\"\n\
             [identity]\nrequire_auth = true\n{identity}"
        );
        filter_proxy::config::Config::from_toml_str(&text, &base).map(|_| ())
    };
    assert!(check("users_file = \"users.csv\"\n").is_ok());
    let no_basic = check("users_file = \"users.csv\"\norder = [\"client_ip\"]\n").unwrap_err();
    assert!(no_basic.to_string().contains("basic"), "{no_basic}");
    let no_users = check("").unwrap_err();
    assert!(no_users.to_string().contains("users_file"), "{no_users}");
    let bad_realm = check("users_file = \"users.csv\"\nauth_realm = \"a\\\"b\"\n").unwrap_err();
    assert!(bad_realm.to_string().contains("auth_realm"), "{bad_realm}");
}
