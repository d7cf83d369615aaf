//! Building the header the appliance writes before the client's bytes.

use std::net::{IpAddr, SocketAddr};

use ppp::v2::{Builder, Command, Protocol, Version};

use super::config::HmacKey;
use super::sign::{self, Signed};
use super::tlv::{self, Subtype, MAX_NAME_LEN};

/// Who the appliance believes is behind the connection, and how it was intercepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderIdentity<'a> {
    /// The user, if known.
    pub user: Option<&'a str>,
    /// The group, if known.
    pub group: Option<&'a str>,
    /// True when the connection was redirected by the firewall: the destination is the
    /// client's real target and the bytes are origin-form HTTP or a TLS ClientHello.
    pub transparent: bool,
}

/// Why a header could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A user or group name is longer than [`MAX_NAME_LEN`].
    #[error("identity field longer than {MAX_NAME_LEN} bytes")]
    NameTooLong,
    /// The encoder refused (only on absurd sizes).
    #[error("encoding the PROXY header: {0}")]
    Encode(#[from] std::io::Error),
}

/// Makes both addresses the same family (PROXY v2 carries one family): a mixed pair is
/// expressed as IPv6 with the IPv4 address mapped, and v4-mapped IPv6 pairs become IPv4.
pub fn normalize_pair(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (s, d) = (canon(source), canon(destination));
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(ip) => SocketAddr::new(IpAddr::V6(ip.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    if s.is_ipv4() == d.is_ipv4() {
        (s, d)
    } else {
        (v6(s), v6(d))
    }
}

/// Builds a PROXY v2 `PROXY` header for a TCP connection with our signed identity TLVs.
///
/// `timestamp` is seconds since the Unix epoch (pass [`super::sign::unix_now`]).
pub fn build_header(
    source: SocketAddr,
    destination: SocketAddr,
    identity: HeaderIdentity<'_>,
    key: &HmacKey,
    tlv_type: u8,
    timestamp: u64,
) -> Result<Vec<u8>, BuildError> {
    let (source, destination) = normalize_pair(source, destination);
    let fields = [identity.user, identity.group];
    if fields.iter().flatten().any(|f| f.len() > MAX_NAME_LEN) {
        return Err(BuildError::NameTooLong);
    }
    let tag = sign::tag(
        key,
        &Signed {
            source,
            destination,
            user: identity.user,
            group: identity.group,
            timestamp,
            transparent: identity.transparent,
        },
    );
    let mut b = Builder::with_addresses(
        Version::Two | Command::Proxy,
        Protocol::Stream,
        (source, destination),
    )
    .reserve_capacity(96);
    for (sub, value) in [
        (Subtype::User, identity.user),
        (Subtype::Group, identity.group),
    ] {
        if let Some(v) = value {
            b = b.write_tlv(tlv_type, &tlv::value(sub, v.as_bytes()))?;
        }
    }
    if identity.transparent {
        b = b.write_tlv(tlv_type, &tlv::value(Subtype::Transparent, &[1]))?;
    }
    b = b.write_tlv(
        tlv_type,
        &tlv::value(Subtype::Timestamp, &timestamp.to_be_bytes()),
    )?;
    b = b.write_tlv(tlv_type, &tlv::value(Subtype::Hmac, &tag))?;
    Ok(b.build()?)
}

/// A PROXY v2 `LOCAL` header (no addresses, no identity): what a health check sends so
/// the cloud proxy sees a well-formed connection that carries no user traffic.
pub fn build_local_header() -> Vec<u8> {
    Builder::new(
        Version::Two | Command::Local,
        ppp::v2::AddressFamily::Unspecified | Protocol::Unspecified,
    )
    .build()
    .expect("an empty LOCAL header always fits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_families_become_ipv6() {
        let (s, d) = normalize_pair(
            "10.0.0.1:1000".parse().expect("literal"),
            "[2001:db8::1]:443".parse().expect("literal"),
        );
        assert_eq!(s, "[::ffff:10.0.0.1]:1000".parse().expect("literal"));
        assert_eq!(d, "[2001:db8::1]:443".parse().expect("literal"));
        let (s, d) = normalize_pair(
            "[::ffff:10.0.0.1]:1000".parse().expect("literal"),
            "10.0.0.2:80".parse().expect("literal"),
        );
        assert!(s.is_ipv4() && d.is_ipv4());
    }

    #[test]
    fn header_parses_with_ppp() {
        let key = HmacKey::new(vec![7; 32]);
        let h = build_header(
            "10.0.0.1:1000".parse().expect("literal"),
            "10.0.0.2:443".parse().expect("literal"),
            HeaderIdentity {
                user: Some("alice"),
                group: Some("staff"),
                transparent: true,
            },
            &key,
            0xE3,
            42,
        )
        .expect("builds");
        let parsed = ppp::v2::Header::try_from(h.as_slice()).expect("parses");
        assert_eq!(parsed.len(), h.len());
        let kinds: Vec<u8> = parsed.tlvs().map(|t| t.expect("tlv").kind).collect();
        assert_eq!(kinds, [0xE3; 5]);
        assert!(ppp::v2::Header::try_from(build_local_header().as_slice()).is_ok());
        assert!(matches!(
            build_header(
                "10.0.0.1:1".parse().expect("literal"),
                "10.0.0.2:2".parse().expect("literal"),
                HeaderIdentity {
                    user: Some(&"x".repeat(300)),
                    ..Default::default()
                },
                &key,
                0xE0,
                1
            ),
            Err(BuildError::NameTooLong)
        ));
    }
}
