//! RADIUS accounting from a real client (`radclient`, freeradius-utils) against the
//! appliance's listener on loopback.

mod appliance_common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use appliance_common::{eventually, radclient, start, Running, SECRET};

const DEADLINE: Duration = Duration::from_secs(10);

async fn appliance() -> Running {
    // The upstream is never dialled in these tests.
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("literal");
    start(
        upstream,
        &format!(
            r#"
            [[listeners]]
            mode = "explicit"
            listen = "127.0.0.1:0"
            [radius]
            listen = "127.0.0.1:0"
            shared_user_names = ["guest"]
            clients = [{{ network = "127.0.0.0/8", secret = "{SECRET}" }}]
            "#
        ),
    )
    .await
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("literal")
}

fn user_of(r: &Running, addr: &str) -> Option<(String, Option<String>)> {
    r.appliance
        .sessions()
        .lookup(ip(addr), tokio::time::Instant::now())
        .map(|(u, g)| (u.to_string(), g.map(|g| g.to_string())))
}

#[tokio::test]
async fn start_interim_stop_from_radclient_update_the_table() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    let out = radclient(
        server,
        SECRET,
        "User-Name=alice,Framed-IP-Address=10.1.2.3,Acct-Status-Type=Start,\
         Acct-Session-Id=s-1,Filter-Id=students\n",
    )
    .await;
    assert!(
        out.status.success(),
        "radclient: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Accounting-Response"));
    assert_eq!(
        user_of(&r, "10.1.2.3"),
        Some(("alice".into(), Some("students".into())))
    );

    let out = radclient(
        server,
        SECRET,
        "User-Name=alice,Framed-IP-Address=10.1.2.3,Acct-Status-Type=Interim-Update,\
         Acct-Session-Id=s-1,Filter-Id=students\n",
    )
    .await;
    assert!(out.status.success());
    assert!(user_of(&r, "10.1.2.3").is_some());

    // A late Stop of an older session on the same IP leaves the current one alone.
    let out = radclient(
        server,
        SECRET,
        "User-Name=alice,Framed-IP-Address=10.1.2.3,Acct-Status-Type=Stop,Acct-Session-Id=s-0\n",
    )
    .await;
    assert!(out.status.success());
    assert!(user_of(&r, "10.1.2.3").is_some());

    let out = radclient(
        server,
        SECRET,
        "User-Name=alice,Framed-IP-Address=10.1.2.3,Acct-Status-Type=Stop,Acct-Session-Id=s-1\n",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(user_of(&r, "10.1.2.3"), None);

    let m = r.appliance.metrics();
    assert_eq!(m.radius_count("start", "ok"), 1);
    assert_eq!(m.radius_count("interim_update", "ok"), 1);
    assert_eq!(m.radius_count("stop", "ok"), 2);
    let text = m.encode();
    assert!(
        text.contains("appliance_radius_packets_total{type=\"start\",result=\"ok\"} 1"),
        "{text}"
    );
    r.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_rejected_and_counted() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    let out = radclient(
        server,
        "not-the-secret",
        "User-Name=mallory,Framed-IP-Address=10.9.9.9,Acct-Status-Type=Start\n",
    )
    .await;
    assert!(
        !out.status.success(),
        "no answer must come for a wrong secret"
    );
    assert_eq!(user_of(&r, "10.9.9.9"), None);
    let m = r.appliance.metrics().clone();
    // radclient retries once: both copies are dropped and counted.
    eventually("bad authenticator counted", DEADLINE, || {
        m.radius_count("unknown", "bad_authenticator") >= 1
    })
    .await;
    assert!(r.appliance.sessions().is_empty());
    r.stop().await;
}

#[tokio::test]
async fn accounting_on_flushes_only_that_nas() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    for (user, addr, nas) in [
        ("a", "10.0.0.1", "192.0.2.1"),
        ("b", "10.0.0.2", "192.0.2.1"),
        ("c", "10.0.0.3", "192.0.2.2"),
    ] {
        let out = radclient(
            server,
            SECRET,
            &format!(
                "User-Name={user},Framed-IP-Address={addr},NAS-IP-Address={nas},Acct-Status-Type=Start\n"
            ),
        )
        .await;
        assert!(out.status.success());
    }
    assert_eq!(r.appliance.sessions().len(), 3);
    let out = radclient(
        server,
        SECRET,
        "NAS-IP-Address=192.0.2.1,Acct-Status-Type=Accounting-On\n",
    )
    .await;
    assert!(out.status.success());
    assert_eq!(user_of(&r, "10.0.0.1"), None);
    assert_eq!(user_of(&r, "10.0.0.2"), None);
    assert_eq!(user_of(&r, "10.0.0.3").map(|(u, _)| u), Some("c".into()));
    let out = radclient(
        server,
        SECRET,
        "NAS-IP-Address=192.0.2.2,Acct-Status-Type=Accounting-Off\n",
    )
    .await;
    assert!(out.status.success());
    assert!(r.appliance.sessions().is_empty());
    r.stop().await;
}

#[tokio::test]
async fn shared_default_user_falls_back_to_calling_station_id() {
    let r = appliance().await;
    let server = r.radius.expect("radius bound");
    let out = radclient(
        server,
        SECRET,
        "User-Name=GUEST,Calling-Station-Id=\"aa-bb-cc-dd-ee-ff\",Framed-IP-Address=10.2.0.7,\
         Acct-Status-Type=Start,Class=0x7374616666\n",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        user_of(&r, "10.2.0.7"),
        Some(("aa-bb-cc-dd-ee-ff".into(), Some("staff".into())))
    );
    // A Start without Framed-IP-Address is answered (so the NAS stops retrying) and counted.
    let out = radclient(server, SECRET, "User-Name=bob,Acct-Status-Type=Start\n").await;
    assert!(out.status.success());
    assert_eq!(r.appliance.metrics().radius_count("start", "missing_ip"), 1);
    r.stop().await;
}

#[tokio::test]
async fn packets_from_unknown_nas_are_dropped() {
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("literal");
    let r = start(
        upstream,
        &format!(
            r#"
            [[listeners]]
            mode = "explicit"
            listen = "127.0.0.1:0"
            [radius]
            listen = "127.0.0.1:0"
            clients = [{{ network = "192.0.2.0/24", secret = "{SECRET}" }}]
            "#
        ),
    )
    .await;
    let out = radclient(
        r.radius.expect("radius bound"),
        SECRET,
        "User-Name=alice,Framed-IP-Address=10.1.2.3,Acct-Status-Type=Start\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(r.appliance.sessions().is_empty());
    assert!(
        r.appliance
            .metrics()
            .radius_count("unknown", "unknown_client")
            >= 1
    );
    r.stop().await;
}
