//! The HMAC-SHA256 tag that authenticates a header's identity.
//!
//! The tag covers a canonical encoding of the source and destination addresses, the user,
//! the group and the timestamp, so none of them can be swapped or replayed with another
//! connection's addresses, and a stale header is recognisable. The encoding is independent
//! of TLV order, so the verifier recomputes it from parsed values.

use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::config::HmacKey;
use super::tlv::HMAC_LEN;

/// Domain separation: a tag made for anything else can never verify here.
const DOMAIN: &[u8] = b"filter-proxy/pp2-identity/v1\0";

/// What the tag covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed<'a> {
    /// Original client address.
    pub source: SocketAddr,
    /// Original destination (or the appliance listener in explicit mode).
    pub destination: SocketAddr,
    /// The user, if known.
    pub user: Option<&'a str>,
    /// The group, if known.
    pub group: Option<&'a str>,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Whether the destination is a transparently intercepted target.
    pub transparent: bool,
}

fn mac(key: &HmacKey, s: &Signed<'_>) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes())
        .expect("HMAC-SHA256 accepts keys of any length");
    m.update(DOMAIN);
    for addr in [s.source, s.destination] {
        match addr {
            SocketAddr::V4(a) => {
                m.update(&[4]);
                m.update(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                m.update(&[6]);
                m.update(&a.ip().octets());
            }
        }
        m.update(&addr.port().to_be_bytes());
    }
    for field in [s.user, s.group] {
        match field {
            // Presence flag then length, so "absent" and "empty" differ and fields cannot shift.
            Some(v) => {
                m.update(&[1]);
                m.update(&(v.len() as u32).to_be_bytes());
                m.update(v.as_bytes());
            }
            None => m.update(&[0]),
        }
    }
    m.update(&s.timestamp.to_be_bytes());
    m.update(&[u8::from(s.transparent)]);
    m
}

/// Computes the tag.
pub fn tag(key: &HmacKey, signed: &Signed<'_>) -> [u8; HMAC_LEN] {
    mac(key, signed).finalize().into_bytes().into()
}

/// Checks a tag in constant time.
pub fn verify(key: &HmacKey, signed: &Signed<'_>, tag: &[u8; HMAC_LEN]) -> bool {
    mac(key, signed).verify_slice(tag).is_ok()
}

/// Seconds since the Unix epoch, as carried in the timestamp TLV.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(user: Option<&str>) -> Signed<'_> {
        Signed {
            source: "10.0.0.5:40000".parse().expect("literal"),
            destination: "93.184.216.34:443".parse().expect("literal"),
            user,
            group: Some("students"),
            timestamp: 1_700_000_000,
            transparent: false,
        }
    }

    #[test]
    fn tag_binds_every_field() {
        let key = HmacKey::new(b"0123456789abcdef0123".to_vec());
        let t = tag(&key, &signed(Some("alice")));
        assert!(verify(&key, &signed(Some("alice")), &t));
        assert!(!verify(&key, &signed(Some("bob")), &t));
        assert!(!verify(&key, &signed(None), &t));
        assert!(!verify(&key, &signed(Some("")), &t));
        let mut later = signed(Some("alice"));
        later.timestamp += 1;
        assert!(!verify(&key, &later, &t));
        let mut moved = signed(Some("alice"));
        moved.source.set_port(40001);
        assert!(!verify(&key, &moved, &t));
        let mut flagged = signed(Some("alice"));
        flagged.transparent = true;
        assert!(!verify(&key, &flagged, &t));
        let other = HmacKey::new(b"another-key-of-some-length".to_vec());
        assert!(!verify(&other, &signed(Some("alice")), &t));
    }
}
