//! Transparent mode for real: inside a private network namespace, an nftables rule
//! redirects connections for 127.0.0.2:8080 to the appliance's transparent listener, the
//! appliance reads the original destination with `SO_ORIGINAL_DST`, and the cloud
//! stand-in receives it in the signed header with the transparent flag.
//!
//! Needs root (to create the namespace) and `nft` (Debian's `nftables`). Everything stays
//! on the namespace's own loopback; the host's firewall is never touched.

mod appliance_common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use appliance_common::{cloud, eventually, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(10);

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn have_nft() -> bool {
    Command::new("nft").arg("--version").output().is_ok()
}

/// Runs `f` on a thread of its own inside a fresh network namespace with loopback up.
fn in_private_netns(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        // Affects only this thread (and what it spawns): the test's other threads and
        // the host keep their network.
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) needs root");
        sh(&["ip", "link", "set", "lo", "up"]);
        f();
    })
    .join()
    .expect("test thread");
}

#[test]
fn redirected_connection_carries_its_original_destination() {
    if !have_nft() {
        eprintln!("SKIPPED: nft (Debian package nftables) is not installed");
        return;
    }
    in_private_netns(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut c = cloud().await;
            let r = start(
                c.addr,
                "[[listeners]]\nmode = \"transparent\"\nlisten = \"127.0.0.1:0\"\n",
            )
            .await;
            let port = r.listeners[0].port().to_string();
            sh(&["nft", "add", "table", "ip", "appliance_test"]);
            sh(&[
                "nft",
                "add chain ip appliance_test out { type nat hook output priority -100; }",
            ]);
            sh(&[
                "nft",
                &format!(
                    "add rule ip appliance_test out oifname lo ip daddr 127.0.0.2 \
                     tcp dport 8080 redirect to :{port}"
                ),
            ]);

            // A client that believes it talks to 127.0.0.2:8080.
            let target: SocketAddr = "127.0.0.2:8080".parse().expect("literal");
            let mut s = TcpStream::connect(target)
                .await
                .expect("redirected connect");
            let local = s.local_addr().expect("addr");
            s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                .await
                .expect("write");
            s.shutdown().await.expect("half-close");
            let mut got = Vec::new();
            tokio::time::timeout(DEADLINE, s.read_to_end(&mut got))
                .await
                .expect("ends")
                .expect("read");
            assert_eq!(got, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\nbye");
            let id = tokio::time::timeout(DEADLINE, c.identities.recv())
                .await
                .expect("cloud saw it")
                .expect("cloud alive")
                .expect("verified")
                .expect("PROXY header");
            assert_eq!(id.destination, target, "SO_ORIGINAL_DST reached the cloud");
            assert_eq!(id.source, local);
            assert!(id.transparent);

            // Straight to the transparent port, without the redirect: refused.
            let mut direct = TcpStream::connect(r.listeners[0]).await.expect("connect");
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(DEADLINE, direct.read_to_end(&mut buf))
                .await
                .expect("closed promptly");
            assert!(buf.is_empty());
            let m = r.appliance.metrics().clone();
            eventually("refusal counted", DEADLINE, || {
                m.rejected_count("not_redirected") + m.rejected_count("no_original_dst") == 1
            })
            .await;
            assert_eq!(
                m.encode()
                    .lines()
                    .find(|l| l.starts_with("appliance_connections_total{mode=\"transparent\"}")),
                Some("appliance_connections_total{mode=\"transparent\"} 2")
            );
            r.stop().await;
        });
    });
}
