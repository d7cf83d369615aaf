//! Targets `radius_proxy` and `radius_loadgen`: RADIUS accounting as the appliance decodes
//! it (the proxy's codec) and as the load generator's independent NAS encodes requests
//! and checks responses.
//!
//! Properties: decoding and verifying any datagram never panics; an Accounting-Request
//! encoded by either side decodes to the same attributes and verifies under its secret;
//! the two encoders agree byte for byte; the appliance's response verifies on both sides.

use appliance::radius::codec::{
    encode_accounting_request, verify_accounting_response, Packet, MAX_PACKET_LEN,
};
use loadgen::appliance::radius::{encode_request, verify_response};

const SECRET: &[u8] = b"testing123";

fn decode_bytes(bytes: &[u8]) {
    let Ok(packet) = Packet::decode(bytes) else {
        return;
    };
    let attributes: Vec<(u8, &[u8])> = packet.attributes().collect();
    for (t, v) in &attributes {
        assert!(v.len() <= 253, "attribute {t} longer than RADIUS allows");
    }
    if packet.verify_accounting_request(SECRET) {
        let mut response = Vec::new();
        packet.accounting_response(SECRET, &mut response);
        assert!(verify_accounting_response(&response, bytes, SECRET));
    }
}

fn loadgen_bytes(bytes: &[u8]) {
    let auth: [u8; 16] = std::array::from_fn(|i| bytes.get(i).copied().unwrap_or(0));
    let _ = verify_response(bytes, &auth, SECRET);
}

type Request = (u8, Vec<(u8, Vec<u8>)>, Vec<u8>);

fn round_trip((identifier, attributes, secret): &Request) {
    let attrs: Vec<(u8, &[u8])> = attributes.iter().map(|(t, v)| (*t, v.as_slice())).collect();
    let ours = encode_accounting_request(*identifier, &attrs, secret);
    if ours.len() > MAX_PACKET_LEN {
        // Larger than any datagram the appliance accepts: decoding must refuse it.
        assert!(Packet::decode(&ours).is_err());
        return;
    }
    let theirs = encode_request(*identifier, &attrs, secret);
    assert_eq!(ours, theirs, "the two encoders disagree");
    let packet = Packet::decode(&ours).expect("an encoded request decodes");
    let got: Vec<(u8, &[u8])> = packet.attributes().collect();
    let want: Vec<(u8, &[u8])> = attrs
        .iter()
        .map(|(t, v)| (*t, &v[..v.len().min(253)]))
        .collect();
    assert_eq!(got, want);
    assert!(packet.verify_accounting_request(secret));
    let mut response = Vec::new();
    packet.accounting_response(secret, &mut response);
    assert!(verify_accounting_response(&response, &ours, secret));
    let auth: [u8; 16] = ours[4..20].try_into().expect("16-byte authenticator");
    assert!(verify_response(&response, &auth, secret));
}

#[test]
fn radius_proxy() {
    fuzz_targets::fuzz_typed::<Request>("radius_proxy", decode_bytes, round_trip);
}

#[test]
fn radius_loadgen() {
    fuzz_targets::fuzz_bytes("radius_loadgen", loadgen_bytes);
}

/// Seeds: accounting requests (Start, Interim, Stop) and a response.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (status, user, ip) in [
        (1u32, "student0001", [10, 0, 0, 7]),
        (3, "teacher01", [10, 0, 1, 9]),
        (2, "student0002", [10, 0, 0, 8]),
    ] {
        let status = status.to_be_bytes();
        let attrs: Vec<(u8, &[u8])> = vec![
            (40, &status),
            (1, user.as_bytes()),
            (8, &ip),
            (44, b"sess-0001"),
            (25, b"students"),
        ];
        out.push(encode_request(7, &attrs, SECRET));
    }
    let request = Packet::decode(&out[0]).expect("seed decodes");
    let mut response = Vec::new();
    request.accounting_response(SECRET, &mut response);
    out.push(response);
    out
}
