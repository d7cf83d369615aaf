//! Our identity TLVs inside a PROXY v2 header: one custom TLV type (0xE0-0xEF), the first
//! value byte a [`Subtype`], so they coexist with vendors' own 0xE* TLVs.

/// The default TLV type for our identity TLVs (first of the custom range).
pub const DEFAULT_TLV_TYPE: u8 = 0xE0;

/// The custom TLV range defined by the PROXY protocol spec (`PP2_TYPE_MIN_CUSTOM..MAX`).
pub const CUSTOM_RANGE: std::ops::RangeInclusive<u8> = 0xE0..=0xEF;

/// Length of the HMAC-SHA256 tag.
pub const HMAC_LEN: usize = 32;

/// Longest user or group name we carry (RADIUS attributes are at most 253 bytes).
pub const MAX_NAME_LEN: usize = 253;

/// What one of our TLVs carries; the first byte of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Subtype {
    /// UTF-8 user name.
    User = 0x01,
    /// UTF-8 group name.
    Group = 0x02,
    /// Big-endian u64, seconds since the Unix epoch, when the appliance signed the header.
    Timestamp = 0x03,
    /// HMAC-SHA256 over addresses, identity and timestamp (see [`super::sign`]).
    Hmac = 0x04,
    /// One byte, 1: the connection was intercepted transparently, so the destination
    /// address is the client's real target (absent: explicit proxy mode).
    Transparent = 0x05,
}

impl Subtype {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(Self::User),
            0x02 => Some(Self::Group),
            0x03 => Some(Self::Timestamp),
            0x04 => Some(Self::Hmac),
            0x05 => Some(Self::Transparent),
            _ => None,
        }
    }
}

/// The identity fields found in (or to be written to) a header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityTlvs {
    /// The user, if the appliance knew one.
    pub user: Option<String>,
    /// The group, if the appliance knew one.
    pub group: Option<String>,
    /// Signing time, seconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// The HMAC tag.
    pub hmac: Option<[u8; HMAC_LEN]>,
    /// The transparent-interception flag.
    pub transparent: Option<bool>,
}

/// Why our TLVs could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// A subtype appeared twice (an attempt to smuggle a second identity).
    #[error("duplicate identity TLV subtype {0:?}")]
    Duplicate(Subtype),
    /// A value had the wrong size or was not UTF-8.
    #[error("malformed identity TLV subtype {0:?}")]
    Malformed(Subtype),
}

impl IdentityTlvs {
    /// Extracts our fields from the TLVs of type `tlv_type`; other TLVs, and ours with an
    /// unknown subtype, are ignored.
    pub fn from_tlvs<'a, I>(tlvs: I, tlv_type: u8) -> Result<Self, TlvError>
    where
        I: IntoIterator<Item = (u8, &'a [u8])>,
    {
        let mut out = Self::default();
        for (kind, value) in tlvs {
            if kind != tlv_type {
                continue;
            }
            let Some((&first, payload)) = value.split_first() else {
                continue;
            };
            let Some(sub) = Subtype::from_byte(first) else {
                continue;
            };
            match sub {
                Subtype::User => set_once(&mut out.user, sub, name(sub, payload)?)?,
                Subtype::Group => set_once(&mut out.group, sub, name(sub, payload)?)?,
                Subtype::Timestamp => {
                    let bytes: [u8; 8] =
                        payload.try_into().map_err(|_| TlvError::Malformed(sub))?;
                    set_once(&mut out.timestamp, sub, u64::from_be_bytes(bytes))?;
                }
                Subtype::Hmac => {
                    let tag: [u8; HMAC_LEN] =
                        payload.try_into().map_err(|_| TlvError::Malformed(sub))?;
                    set_once(&mut out.hmac, sub, tag)?;
                }
                Subtype::Transparent => {
                    let flag = match payload {
                        [0] => false,
                        [1] => true,
                        _ => return Err(TlvError::Malformed(sub)),
                    };
                    set_once(&mut out.transparent, sub, flag)?;
                }
            }
        }
        Ok(out)
    }
}

fn name(sub: Subtype, payload: &[u8]) -> Result<String, TlvError> {
    if payload.len() > MAX_NAME_LEN {
        return Err(TlvError::Malformed(sub));
    }
    std::str::from_utf8(payload)
        .map(str::to_owned)
        .map_err(|_| TlvError::Malformed(sub))
}

fn set_once<T>(slot: &mut Option<T>, sub: Subtype, value: T) -> Result<(), TlvError> {
    if slot.is_some() {
        return Err(TlvError::Duplicate(sub));
    }
    *slot = Some(value);
    Ok(())
}

/// Builds the value of one of our TLVs: subtype byte then payload.
pub fn value(sub: Subtype, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + payload.len());
    v.push(sub as u8);
    v.extend_from_slice(payload);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_foreign_types_and_unknown_subtypes() {
        let user = value(Subtype::User, b"alice");
        let vendor = [0x99u8, 1, 2, 3];
        let other_type = value(Subtype::User, b"mallory");
        let tlvs = vec![
            (0xE0, vendor.as_slice()),
            (0xE1, other_type.as_slice()),
            (0xE0, user.as_slice()),
            (0xE0, &[][..]),
        ];
        let id = IdentityTlvs::from_tlvs(tlvs, 0xE0).expect("valid");
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert_eq!(id.group, None);
    }

    #[test]
    fn rejects_duplicates_and_bad_sizes() {
        let a = value(Subtype::User, b"a");
        let b = value(Subtype::User, b"b");
        let err = IdentityTlvs::from_tlvs(vec![(0xE0, a.as_slice()), (0xE0, b.as_slice())], 0xE0);
        assert_eq!(err, Err(TlvError::Duplicate(Subtype::User)));
        let ts = value(Subtype::Timestamp, &[1, 2, 3]);
        let err = IdentityTlvs::from_tlvs(vec![(0xE0, ts.as_slice())], 0xE0);
        assert_eq!(err, Err(TlvError::Malformed(Subtype::Timestamp)));
        let bad = value(Subtype::Group, &[0xff, 0xfe]);
        let err = IdentityTlvs::from_tlvs(vec![(0xE0, bad.as_slice())], 0xE0);
        assert_eq!(err, Err(TlvError::Malformed(Subtype::Group)));
    }
}
