//! Target `client_hello`: the SNI peek on the first bytes of a CONNECT tunnel.
//!
//! Properties: no panic on any prefix; a verdict, once reached, does not change as more
//! bytes arrive (the tunnel decides on a growing prefix, so a verdict that flipped would
//! let a client steer it by splitting its writes).

use filter_proxy::tunnel::{inspect, Hello};

fn check(input: &[u8]) {
    let full = inspect(input);
    for cut in [
        input.len() / 3,
        input.len() / 2,
        input.len().saturating_sub(1),
    ] {
        let prefix = inspect(&input[..cut]);
        if prefix != Hello::NeedMore {
            assert_eq!(
                prefix,
                full,
                "verdict at {cut} of {} bytes changed",
                input.len()
            );
        }
    }
    if let Hello::Complete { sni: Some(host) } = &full {
        assert!(!host.is_empty() && !host.ends_with('.'), "{host:?}");
        assert_eq!(host, &host.to_ascii_lowercase());
    }
}

#[test]
fn client_hello() {
    fuzz_targets::fuzz_bytes("client_hello", check);
}

/// The first flight of a rustls client asking for `sni`.
fn rustls_hello(sni: &str) -> Vec<u8> {
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).expect("valid name");
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write to a Vec");
    }
    out
}

/// Seeds: real hellos, one split over two records, and one without SNI.
pub fn seeds() -> Vec<Vec<u8>> {
    let one = rustls_hello("school.example");
    // The same handshake message in two records.
    let message = &one[5..];
    let (a, b) = message.split_at(message.len() / 2);
    let mut split = Vec::new();
    for part in [a, b] {
        split.extend_from_slice(&[0x16, 0x03, 0x01]);
        split.extend_from_slice(&u16::try_from(part.len()).expect("small").to_be_bytes());
        split.extend_from_slice(part);
    }
    let no_sni = rustls_hello("10.0.0.1");
    vec![
        one,
        rustls_hello("WWW.Classroom-Video.example"),
        split,
        no_sni,
    ]
}
