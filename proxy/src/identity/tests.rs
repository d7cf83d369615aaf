//! Unit tests of identity resolution and the users table.

use std::net::IpAddr;

use base64::Engine as _;
use http::{HeaderMap, HeaderValue};

use super::*;

const USERS: &str = "\
user,group,password
alice,students,pw-alice
bob,teachers,pw-bob
carol,staff,s3cret:with:colons
";

fn users() -> Vec<UserRecord> {
    parse_users(USERS, "users.csv").expect("users parse")
}

fn config(extra: &str) -> IdentityConfig {
    let text = format!(
        "trusted_cidrs = [\"10.9.0.0/16\", \"::1/128\"]\n\
         ip_users = [\n\
           {{ net = \"192.168.0.0/16\", user = \"bob\" }},\n\
           {{ net = \"192.168.7.0/24\", user = \"carol\" }},\n\
           {{ net = \"192.168.7.7/32\", user = \"alice\" }},\n\
         ]\n{extra}"
    );
    toml::from_str(&text).expect("identity config parses")
}

fn resolver(cfg: &IdentityConfig) -> IdentityResolver {
    IdentityResolver::build(cfg, Some(&users())).expect("resolver builds")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address parses")
}

fn basic(user: &str, password: &str) -> HeaderMap {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::PROXY_AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).expect("valid header"),
    );
    headers
}

fn trusted(user: Option<&str>, group: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(user) = user {
        headers.insert(
            "x-appliance-user",
            HeaderValue::from_str(user).expect("valid"),
        );
    }
    if let Some(group) = group {
        headers.insert(
            "x-appliance-group",
            HeaderValue::from_str(group).expect("valid"),
        );
    }
    headers
}

fn summary(identity: &Identity) -> (Option<&str>, &str, IdentitySource) {
    (identity.user.as_deref(), &identity.group, identity.source)
}

#[tokio::test]
async fn basic_auth_with_right_password() {
    let r = resolver(&config(""));
    let id = r
        .resolve(&basic("alice", "pw-alice"), ip("203.0.113.1"))
        .await;
    assert_eq!(
        summary(&id),
        (Some("alice"), "students", IdentitySource::Basic)
    );
    // Passwords may contain ':' (only the first one separates the user).
    let id = r
        .resolve(&basic("carol", "s3cret:with:colons"), ip("203.0.113.1"))
        .await;
    assert_eq!(
        summary(&id),
        (Some("carol"), "staff", IdentitySource::Basic)
    );
}

#[tokio::test]
async fn basic_scheme_is_case_insensitive() {
    let r = resolver(&config(""));
    let mut headers = basic("bob", "pw-bob");
    let value = headers[http::header::PROXY_AUTHORIZATION]
        .to_str()
        .expect("ascii")
        .replace("Basic ", "bAsIc  ");
    headers.insert(
        http::header::PROXY_AUTHORIZATION,
        HeaderValue::from_str(&value).expect("valid"),
    );
    let id = r.resolve(&headers, ip("203.0.113.1")).await;
    assert_eq!(
        summary(&id),
        (Some("bob"), "teachers", IdentitySource::Basic)
    );
}

#[tokio::test]
async fn basic_auth_wrong_password_or_unknown_user_does_not_identify() {
    let r = resolver(&config(""));
    for headers in [
        basic("alice", "wrong"),
        basic("mallory", "pw-mallory"),
        basic("alice", ""),
    ] {
        let id = r.resolve(&headers, ip("203.0.113.1")).await;
        assert_eq!(summary(&id), (None, "default", IdentitySource::Unknown));
    }
    // A wrong password falls through to the next source, not to the claimed user.
    let id = r.resolve(&basic("alice", "wrong"), ip("192.168.1.1")).await;
    assert_eq!(
        summary(&id),
        (Some("bob"), "teachers", IdentitySource::ClientIp)
    );
}

#[tokio::test]
async fn trusted_header_only_from_trusted_ips() {
    let r = resolver(&config(""));
    let headers = trusted(Some("alice"), Some("teachers"));
    let id = r.resolve(&headers, ip("10.9.3.4")).await;
    assert_eq!(
        summary(&id),
        (Some("alice"), "teachers", IdentitySource::TrustedHeader)
    );
    let id = r.resolve(&headers, ip("::1")).await;
    assert_eq!(id.source, IdentitySource::TrustedHeader);
    // Mapped IPv4 clients are checked as IPv4.
    let id = r.resolve(&headers, ip("::ffff:10.9.3.4")).await;
    assert_eq!(id.source, IdentitySource::TrustedHeader);

    let id = r.resolve(&headers, ip("10.10.0.1")).await;
    assert_eq!(summary(&id), (None, "default", IdentitySource::Unknown));
}

#[tokio::test]
async fn trusted_header_group_defaults_to_the_users_table() {
    let r = resolver(&config(""));
    let from = ip("10.9.0.1");
    let id = r.resolve(&trusted(Some("bob"), None), from).await;
    assert_eq!(
        summary(&id),
        (Some("bob"), "teachers", IdentitySource::TrustedHeader)
    );
    let id = r.resolve(&trusted(Some("stranger"), None), from).await;
    assert_eq!(
        summary(&id),
        (Some("stranger"), "default", IdentitySource::TrustedHeader)
    );
    let id = r.resolve(&trusted(None, Some("staff")), from).await;
    assert_eq!(summary(&id), (None, "staff", IdentitySource::TrustedHeader));
    let id = r.resolve(&trusted(None, None), from).await;
    assert_eq!(id.source, IdentitySource::Unknown);
}

#[tokio::test]
async fn client_ip_longest_prefix() {
    let r = resolver(&config(""));
    let none = HeaderMap::new();
    let cases = [
        ("192.168.7.7", "alice", "students"),
        ("192.168.7.8", "carol", "staff"),
        ("192.168.200.1", "bob", "teachers"),
    ];
    for (addr, user, group) in cases {
        let id = r.resolve(&none, ip(addr)).await;
        assert_eq!(
            summary(&id),
            (Some(user), group, IdentitySource::ClientIp),
            "{addr}"
        );
    }
    let id = r.resolve(&none, ip("172.16.0.1")).await;
    assert_eq!(summary(&id), (None, "default", IdentitySource::Unknown));
}

#[tokio::test]
async fn sources_follow_configured_order() {
    let r = resolver(&config("order = [\"client_ip\", \"basic\"]"));
    let id = r
        .resolve(&basic("alice", "pw-alice"), ip("192.168.1.1"))
        .await;
    assert_eq!(
        summary(&id),
        (Some("bob"), "teachers", IdentitySource::ClientIp)
    );
    // Trusted headers are not consulted when not in the order.
    let id = r
        .resolve(&trusted(Some("alice"), None), ip("10.9.0.1"))
        .await;
    assert_eq!(id.source, IdentitySource::Unknown);
}

#[test]
fn config_errors_name_keys() {
    let cfg: IdentityConfig = toml::from_str(
        "order = [\"basic\", \"unknown\"]\ntrusted_user_header = \"bad header\"\n\
         ip_users = [{ net = \"10.0.0.0/8\", user = \"nobody\" }, \
                     { net = \"10.1.0.0/16\", user = \"bob\" }, \
                     { net = \"10.1.9.9/16\", user = \"alice\" }]\n",
    )
    .expect("parses");
    let err = IdentityResolver::build(&cfg, Some(&users())).expect_err("invalid");
    let text = err.to_string();
    assert!(text.starts_with("[identity]: "), "{text}");
    for needle in [
        "order: `unknown`",
        "trusted_user_header: invalid header name",
        "ip_users[0].user: unknown user \"nobody\"",
        "ip_users[2].net: network 10.1.0.0/16 is listed twice",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
}

#[test]
fn unknown_config_fields_are_rejected() {
    let err = toml::from_str::<IdentityConfig>("oder = []").expect_err("unknown field");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn users_errors_name_the_line() {
    let text = "user,group,password\nok,students,pw\n# comment\nbad:user,students,pw\n\nok,staff,x\nshort,students\nnogroup,,pw\n";
    let err = parse_users(text, "users.csv").expect_err("invalid users");
    let text = err.to_string();
    assert!(text.starts_with("users.csv: "), "{text}");
    for needle in [
        "line 4: invalid user \"bad:user\"",
        "line 6: duplicate user \"ok\"",
        "line 7: expected 3 fields",
        "line 8: user \"nogroup\" has an empty group",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
}

#[test]
fn users_header_is_required() {
    let err = parse_users("alice,students,pw\n", "u.csv").expect_err("no header");
    assert!(
        err.to_string().contains("line 1: expected the header row"),
        "{err}"
    );
    let err = parse_users("", "u.csv").expect_err("empty");
    assert!(err.to_string().contains("empty users file"), "{err}");
}

#[test]
fn from_config_resolves_users_file_relative_to_base() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("users.csv"), USERS).expect("write users");
    let cfg = config("users_file = \"users.csv\"");
    let r = IdentityResolver::from_config(&cfg, dir.path()).expect("builds");
    assert_eq!(r.user_count(), 3);
    assert_eq!(r.user_group("bob").map(|g| &**g), Some("teachers"));

    let missing = IdentityResolver::from_config(&cfg, &dir.path().join("nowhere"));
    assert!(matches!(missing, Err(IdentityError::Io { .. })));
}

#[tokio::test]
async fn without_users_table_ip_users_get_default_group() {
    let cfg = config("");
    let r = IdentityResolver::build(&cfg, None).expect("builds without table");
    let id = r.resolve(&HeaderMap::new(), ip("192.168.7.7")).await;
    assert_eq!(
        summary(&id),
        (Some("alice"), "default", IdentitySource::ClientIp)
    );
    let id = r.resolve(&basic("alice", "pw-alice"), ip("1.2.3.4")).await;
    assert_eq!(id.source, IdentitySource::Unknown);
}
