//! Target `proxy_v2`: PROXY v2 headers as the cloud proxy reads them (ppp's parser, then
//! the identity TLVs and their HMAC), and the appliance's encoder in a round trip.
//!
//! Properties: parsing and verifying any bytes never panics; a header built by the
//! appliance side verifies and yields exactly the identity it was built from; a header
//! that verifies after mutation carries the identity that was signed (the HMAC covers it).

use std::net::{IpAddr, SocketAddr};

use filter_proxy::proxy_protocol::build::{build_header, normalize_pair, HeaderIdentity};
use filter_proxy::proxy_protocol::{accept::verify, CloudSideConfig, HmacKey, DEFAULT_TLV_TYPE};
use ppp::v2::Header;

const KEY: &[u8] = b"fuzz-key-0123456789abcdef";
/// The timestamp of the committed seeds (and the clock their verification uses).
pub const SEED_TIME: u64 = 1_700_000_000;

fn config() -> CloudSideConfig {
    CloudSideConfig::new(Vec::new(), HmacKey::new(KEY.to_vec()))
}

fn parse_and_verify(bytes: &[u8], cfg: &CloudSideConfig) {
    let Ok(header) = Header::try_from(bytes) else {
        return;
    };
    if let Ok(id) = verify(&header, cfg, SEED_TIME) {
        // Only a correctly signed identity verifies: re-signing what came out must give
        // a header that verifies to the same identity.
        let rebuilt = build_header(
            id.source,
            id.destination,
            HeaderIdentity {
                user: id.user.as_deref(),
                group: id.group.as_deref(),
                transparent: id.transparent,
            },
            &cfg.key,
            cfg.tlv_type,
            id.timestamp,
        )
        .expect("a verified identity can be signed again");
        let again = Header::try_from(rebuilt.as_slice()).expect("own header parses");
        assert_eq!(
            verify(&again, cfg, SEED_TIME).expect("own header verifies"),
            id
        );
    }
}

/// A name of at most 253 bytes, cut at a character boundary.
fn name(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(|s| {
        let mut end = s.len().min(filter_proxy::proxy_protocol::tlv::MAX_NAME_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        &s[..end]
    })
}

type Identity = (
    (bool, [u8; 16], u16),
    (bool, [u8; 16], u16),
    Option<String>,
    Option<String>,
    bool,
    u64,
);

fn addr((v4, octets, port): (bool, [u8; 16], u16)) -> SocketAddr {
    let ip = if v4 {
        IpAddr::from([octets[0], octets[1], octets[2], octets[3]])
    } else {
        IpAddr::from(octets)
    };
    SocketAddr::new(ip, port)
}

fn round_trip(value: &Identity, cfg: &CloudSideConfig) {
    let (src, dst, user, group, transparent, timestamp) = value;
    let identity = HeaderIdentity {
        user: name(user),
        group: name(group),
        transparent: *transparent,
    };
    let (source, destination) = normalize_pair(addr(*src), addr(*dst));
    let bytes = build_header(
        source,
        destination,
        identity,
        &cfg.key,
        cfg.tlv_type,
        *timestamp,
    )
    .expect("names within the limit always encode");
    let header = Header::try_from(bytes.as_slice()).expect("our header parses");
    let got = verify(&header, cfg, *timestamp).expect("our header verifies");
    assert_eq!((got.source, got.destination), (source, destination));
    assert_eq!(got.user.as_deref(), identity.user);
    assert_eq!(got.group.as_deref(), identity.group);
    assert_eq!(got.transparent, identity.transparent);
    assert_eq!(got.timestamp, *timestamp);
}

#[test]
fn proxy_v2() {
    let cfg = config();
    assert_eq!(cfg.tlv_type, DEFAULT_TLV_TYPE);
    fuzz_targets::fuzz_typed::<Identity>(
        "proxy_v2",
        |bytes| parse_and_verify(bytes, &cfg),
        |value| round_trip(value, &cfg),
    );
}

/// Seeds: signed headers of several shapes.
pub fn seeds() -> Vec<Vec<u8>> {
    let cfg = config();
    let v4: SocketAddr = "10.0.0.7:51000".parse().expect("literal");
    let web: SocketAddr = "93.184.216.34:443".parse().expect("literal");
    let v6: SocketAddr = "[2001:db8::7]:51000".parse().expect("literal");
    let shapes = [
        (v4, web, Some("student0001"), Some("students"), false),
        (v4, web, Some("teacher01"), None, true),
        (v6, web, None, None, false),
        (v4, web, Some("ünïcode-üser"), Some("staff"), true),
    ];
    let mut out: Vec<Vec<u8>> = shapes
        .iter()
        .map(|&(s, d, user, group, transparent)| {
            let id = HeaderIdentity {
                user,
                group,
                transparent,
            };
            build_header(s, d, id, &cfg.key, cfg.tlv_type, SEED_TIME).expect("seed header")
        })
        .collect();
    out.push(filter_proxy::proxy_protocol::build::build_local_header());
    out
}
