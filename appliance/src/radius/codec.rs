//! RADIUS packet codec (RFC 2865 framing, RFC 2866 accounting authenticators).
//!
//! Only what an accounting listener needs: decode a datagram with every length checked,
//! verify an Accounting-Request's authenticator, encode an Accounting-Response. Small and
//! self-contained on purpose: every byte from the network is bounds-checked here and
//! nowhere else, and the fuzz-style tests hammer this one function.

use md5::{Digest, Md5};

/// Fixed RADIUS header: code, identifier, length, authenticator.
pub const HEADER_LEN: usize = 20;
/// Largest packet RFC 2865 allows.
pub const MAX_PACKET_LEN: usize = 4096;

/// Packet code of an Accounting-Request.
pub const ACCOUNTING_REQUEST: u8 = 4;
/// Packet code of an Accounting-Response.
pub const ACCOUNTING_RESPONSE: u8 = 5;

/// A decoded packet borrowing the datagram; attributes are known to be well-formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Packet code.
    pub code: u8,
    /// Identifier, echoed in the response.
    pub identifier: u8,
    /// The Request (or Response) Authenticator.
    pub authenticator: [u8; 16],
    /// The packet up to its declared length (padding beyond it is dropped, per RFC 2865).
    raw: &'a [u8],
}

/// Why a datagram is not a RADIUS packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Shorter than the 20-byte header.
    #[error("datagram of {0} bytes is shorter than the RADIUS header")]
    TooShort(usize),
    /// The Length field is below 20, above 4096, or beyond the datagram.
    #[error("declared length {declared} does not fit the {received}-byte datagram")]
    BadLength {
        /// The Length field.
        declared: usize,
        /// Bytes received.
        received: usize,
    },
    /// An attribute's length is below 2 or runs past the packet.
    #[error("attribute at offset {0} is malformed")]
    BadAttribute(usize),
}

impl<'a> Packet<'a> {
    /// Decodes and bounds-checks a datagram.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        if datagram.len() < HEADER_LEN {
            return Err(DecodeError::TooShort(datagram.len()));
        }
        let declared = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&declared) || declared > datagram.len() {
            return Err(DecodeError::BadLength {
                declared,
                received: datagram.len(),
            });
        }
        let raw = &datagram[..declared];
        let mut off = HEADER_LEN;
        while off < raw.len() {
            let len = raw.get(off + 1).map(|&l| usize::from(l));
            match len {
                Some(l) if l >= 2 && off + l <= raw.len() => off += l,
                _ => return Err(DecodeError::BadAttribute(off)),
            }
        }
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&raw[4..HEADER_LEN]);
        Ok(Self {
            code: raw[0],
            identifier: raw[1],
            authenticator,
            raw,
        })
    }

    /// The attributes as `(type, value)`.
    pub fn attributes(&self) -> impl Iterator<Item = (u8, &'a [u8])> + 'a {
        let raw = self.raw;
        let mut off = HEADER_LEN;
        std::iter::from_fn(move || {
            // Lengths were checked in `decode`; `get` keeps this panic-free regardless.
            let t = *raw.get(off)?;
            let l = usize::from(*raw.get(off + 1)?);
            let v = raw.get(off + 2..off + l)?;
            off += l;
            Some((t, v))
        })
    }

    /// The first attribute of type `t`.
    pub fn attribute(&self, t: u8) -> Option<&'a [u8]> {
        self.attributes().find(|(k, _)| *k == t).map(|(_, v)| v)
    }

    /// Whether the Request Authenticator of this Accounting-Request matches `secret`
    /// (RFC 2866 §3: MD5 over the packet with a zeroed authenticator, then the secret).
    pub fn verify_accounting_request(&self, secret: &[u8]) -> bool {
        let mut h = Md5::new();
        h.update(&self.raw[..4]);
        h.update([0u8; 16]);
        h.update(&self.raw[HEADER_LEN..]);
        h.update(secret);
        let expected: [u8; 16] = h.finalize().into();
        constant_time_eq(&expected, &self.authenticator)
    }

    /// Writes the Accounting-Response to this request into `out` (no attributes).
    pub fn accounting_response(&self, secret: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&[ACCOUNTING_RESPONSE, self.identifier, 0, HEADER_LEN as u8]);
        let mut h = Md5::new();
        h.update(&out[..4]);
        h.update(self.authenticator);
        h.update(secret);
        out.extend_from_slice(&h.finalize());
    }
}

/// Encodes an Accounting-Request with a correct authenticator (for tests and the load
/// generator's RADIUS stream). Attribute values longer than 253 bytes are truncated.
pub fn encode_accounting_request(
    identifier: u8,
    attributes: &[(u8, &[u8])],
    secret: &[u8],
) -> Vec<u8> {
    let mut p = vec![ACCOUNTING_REQUEST, identifier, 0, 0];
    p.extend_from_slice(&[0u8; 16]);
    for (t, v) in attributes {
        let v = &v[..v.len().min(253)];
        p.push(*t);
        p.push((v.len() + 2) as u8);
        p.extend_from_slice(v);
    }
    let len = u16::try_from(p.len()).unwrap_or(u16::MAX);
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut h = Md5::new();
    h.update(&p);
    h.update(secret);
    let auth: [u8; 16] = h.finalize().into();
    p[4..HEADER_LEN].copy_from_slice(&auth);
    p
}

/// Whether `response` is a valid Accounting-Response to `request` under `secret`.
pub fn verify_accounting_response(response: &[u8], request: &[u8], secret: &[u8]) -> bool {
    let (Ok(resp), Ok(req)) = (Packet::decode(response), Packet::decode(request)) else {
        return false;
    };
    let mut h = Md5::new();
    h.update(&resp.raw[..4]);
    h.update(req.authenticator);
    h.update(&resp.raw[HEADER_LEN..]);
    h.update(secret);
    let expected: [u8; 16] = h.finalize().into();
    resp.code == ACCOUNTING_RESPONSE
        && resp.identifier == req.identifier
        && constant_time_eq(&expected, &resp.authenticator)
}

fn constant_time_eq(a: &[u8; 16], b: &[u8; 16]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_authenticators() {
        let req = encode_accounting_request(7, &[(1, b"alice"), (8, &[10, 0, 0, 5])], b"s3cret");
        let p = Packet::decode(&req).expect("decodes");
        assert_eq!((p.code, p.identifier), (ACCOUNTING_REQUEST, 7));
        assert_eq!(p.attribute(1), Some(&b"alice"[..]));
        assert_eq!(p.attribute(8), Some(&[10, 0, 0, 5][..]));
        assert!(p.verify_accounting_request(b"s3cret"));
        assert!(!p.verify_accounting_request(b"wrong"));
        let mut out = Vec::new();
        p.accounting_response(b"s3cret", &mut out);
        assert!(verify_accounting_response(&out, &req, b"s3cret"));
        assert!(!verify_accounting_response(&out, &req, b"wrong"));
    }

    #[test]
    fn length_checks() {
        let req = encode_accounting_request(1, &[(1, b"bob")], b"k");
        assert_eq!(Packet::decode(&req[..19]), Err(DecodeError::TooShort(19)));
        assert!(matches!(
            Packet::decode(&req[..req.len() - 1]),
            Err(DecodeError::BadLength { .. })
        ));
        let mut padded = req.clone();
        padded.extend_from_slice(&[0xAA; 5]);
        assert!(Packet::decode(&padded)
            .expect("padding ignored")
            .verify_accounting_request(b"k"));
        let mut bad = req.clone();
        bad[21] = 1; // attribute length below 2
        assert_eq!(Packet::decode(&bad), Err(DecodeError::BadAttribute(20)));
        let mut over = req;
        over[21] = 200; // attribute runs past the end
        assert_eq!(Packet::decode(&over), Err(DecodeError::BadAttribute(20)));
    }
}
