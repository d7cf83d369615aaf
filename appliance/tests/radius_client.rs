//! The accounting client (the load generator's RADIUS stream) against the appliance's
//! listener: a bounded stream of Start / Interim-Update / Stop for many users.

mod appliance_common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use appliance::radius::record::StatusType;
use appliance::radius::{AccountingClient, AccountingEvent};
use appliance_common::{eventually, start, SECRET};

const USERS: u32 = 2000;

fn ip_of(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a40_0000 + i))
}

#[tokio::test]
async fn thousands_of_sessions_start_refresh_and_stop() {
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
            clients = [{{ network = "127.0.0.1/32", secret = "{SECRET}" }}]
            "#
        ),
    )
    .await;
    let server = r.radius.expect("radius bound");
    // Four NAS-like clients in parallel, each with its own slice of users.
    let mut tasks = Vec::new();
    for part in 0..4u32 {
        tasks.push(tokio::spawn(async move {
            let mut c = AccountingClient::connect(server, SECRET.as_bytes())
                .await
                .expect("client")
                .with_retry(Duration::from_secs(1), 3);
            for status in [StatusType::Start, StatusType::InterimUpdate] {
                for i in (part..USERS).step_by(4) {
                    let user = format!("pupil{i:05}");
                    let session = format!("sess-{i}");
                    let mut e = AccountingEvent::new(status);
                    e.user = Some(&user);
                    e.framed_ip = Some(ip_of(i));
                    e.session_id = Some(&session);
                    e.filter_id = Some(if i % 10 == 0 { "staff" } else { "students" });
                    c.send(&e).await.expect("acknowledged");
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let table = r.appliance.sessions();
    assert_eq!(table.len(), USERS as usize);
    let now = tokio::time::Instant::now();
    for i in [0, 1, 999, USERS - 1] {
        let (u, g) = table.lookup(ip_of(i), now).expect("registered");
        assert_eq!(&*u, format!("pupil{i:05}"));
        assert_eq!(
            g.as_deref(),
            Some(if i % 10 == 0 { "staff" } else { "students" })
        );
    }
    let m = r.appliance.metrics();
    assert_eq!(m.radius_count("start", "ok"), u64::from(USERS));
    assert_eq!(m.radius_count("interim_update", "ok"), u64::from(USERS));

    let mut c = AccountingClient::connect(server, SECRET.as_bytes())
        .await
        .expect("client");
    for i in 0..USERS {
        let session = format!("sess-{i}");
        let mut e = AccountingEvent::new(StatusType::Stop);
        e.framed_ip = Some(ip_of(i));
        e.session_id = Some(&session);
        c.send(&e).await.expect("acknowledged");
    }
    assert!(table.is_empty());
    r.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_never_acknowledged() {
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("literal");
    let r = start(
        upstream,
        &format!(
            "[[listeners]]\nmode = \"explicit\"\nlisten = \"127.0.0.1:0\"\n\
             [radius]\nlisten = \"127.0.0.1:0\"\n\
             clients = [{{ network = \"127.0.0.1/32\", secret = \"{SECRET}\" }}]\n"
        ),
    )
    .await;
    let mut c = AccountingClient::connect(r.radius.expect("radius"), b"wrong")
        .await
        .expect("client")
        .with_retry(Duration::from_millis(200), 2);
    let mut e = AccountingEvent::new(StatusType::Start);
    e.user = Some("mallory");
    e.framed_ip = Some(ip_of(1));
    assert!(c.send(&e).await.is_err());
    assert!(r.appliance.sessions().is_empty());
    let m = r.appliance.metrics().clone();
    eventually("both tries counted", Duration::from_secs(10), || {
        m.radius_count("unknown", "bad_authenticator") == 2
    })
    .await;
    r.stop().await;
}

#[tokio::test]
async fn ipv6_sessions_are_tracked() {
    let upstream: SocketAddr = "127.0.0.1:9".parse().expect("literal");
    let r = start(
        upstream,
        &format!(
            "[[listeners]]\nmode = \"explicit\"\nlisten = \"127.0.0.1:0\"\n\
             [radius]\nlisten = \"127.0.0.1:0\"\n\
             clients = [{{ network = \"127.0.0.1/32\", secret = \"{SECRET}\" }}]\n"
        ),
    )
    .await;
    let mut c = AccountingClient::connect(r.radius.expect("radius"), SECRET.as_bytes())
        .await
        .expect("client");
    let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42));
    let mut e = AccountingEvent::new(StatusType::Start);
    e.user = Some("v6pupil");
    e.framed_ip = Some(ip);
    c.send(&e).await.expect("acknowledged");
    let (u, _) = r
        .appliance
        .sessions()
        .lookup(ip, tokio::time::Instant::now())
        .expect("registered");
    assert_eq!(&*u, "v6pupil");
    assert_eq!(
        r.appliance.resolve(ip).map(|(u, _)| u.to_string()),
        Some("v6pupil".into())
    );
    r.stop().await;
}
