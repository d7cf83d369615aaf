//! Finding the SNI in the first bytes a client sends through a tunnel.
//!
//! The proxy only needs the `server_name` of the ClientHello, and it must get it before a
//! single byte goes upstream, so this module works on a growing prefix of the stream:
//! [`inspect`] says whether the prefix is already a whole ClientHello, needs more bytes,
//! or can never become one. A ClientHello may be split over several TLS records (and each
//! record over several reads); records are reassembled here, the ClientHello body is parsed
//! with `tls-parser`.
//!
//! Extensions are walked by hand (type, length) and only `server_name` is decoded: a
//! strict parse of every extension would refuse well-formed hellos whose other extensions
//! the parser does not know, which is exactly what must not decide whether a school can
//! reach a site. Every length is checked against the input, so truncated or garbage input
//! yields [`Hello::NeedMore`] or [`Hello::Malformed`], never a panic.

use std::borrow::Cow;

use tls_parser::{parse_tls_extension_sni_content, SNIType, TlsExtension};

/// TLS record content type of handshake records.
const CONTENT_HANDSHAKE: u8 = 0x16;
/// Handshake message type of a ClientHello.
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
/// Extension type of `server_name` (RFC 6066).
const EXT_SERVER_NAME: u16 = 0;
/// Largest TLSPlaintext fragment (RFC 8446 section 5.1).
const MAX_PLAINTEXT_RECORD: usize = 1 << 14;
/// Length of a TLS record header: type, version, length.
const RECORD_HEADER: usize = 5;
/// Length of a handshake message header: type, 24-bit length.
const HANDSHAKE_HEADER: usize = 4;

/// What a prefix of the client's stream is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A complete ClientHello; `sni` is its host name, lowercased, without a trailing dot
    /// (`None` if the client sent no `server_name`).
    Complete { sni: Option<String> },
    /// Looks like a ClientHello so far; more bytes are needed.
    NeedMore,
    /// The stream does not start like TLS at all (another protocol).
    NotTls,
    /// It starts like TLS but is not a valid ClientHello.
    Malformed,
}

/// Inspects the bytes a client has sent so far.
pub fn inspect(buf: &[u8]) -> Hello {
    // A TLS stream starts with a handshake record whose major version byte is 3.
    match buf {
        [] => return Hello::NeedMore,
        [first, ..] if *first != CONTENT_HANDSHAKE => return Hello::NotTls,
        [_, major, ..] if *major != 3 => return Hello::NotTls,
        _ => {}
    }
    match reassemble(buf) {
        Ok(Some(message)) => parse_client_hello(&message),
        Ok(None) => Hello::NeedMore,
        Err(()) => Hello::Malformed,
    }
}

/// Concatenates handshake record payloads until they hold one whole handshake message;
/// returns that message (header included), `None` if more bytes are needed.
fn reassemble(mut rest: &[u8]) -> Result<Option<Cow<'_, [u8]>>, ()> {
    let mut message: Cow<'_, [u8]> = Cow::Borrowed(&[]);
    loop {
        if rest.len() < RECORD_HEADER {
            return Ok(None);
        }
        let (content_type, major) = (rest[0], rest[1]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if content_type != CONTENT_HANDSHAKE || major != 3 {
            return Err(());
        }
        if len == 0 || len > MAX_PLAINTEXT_RECORD {
            return Err(());
        }
        let Some(payload) = rest.get(RECORD_HEADER..RECORD_HEADER + len) else {
            return Ok(None);
        };
        rest = &rest[RECORD_HEADER + len..];
        message = if message.is_empty() {
            Cow::Borrowed(payload)
        } else {
            let mut joined = message.into_owned();
            joined.extend_from_slice(payload);
            Cow::Owned(joined)
        };
        if message.len() >= HANDSHAKE_HEADER {
            if message[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(());
            }
            let body_len = (usize::from(message[1]) << 16)
                | (usize::from(message[2]) << 8)
                | usize::from(message[3]);
            let total = HANDSHAKE_HEADER + body_len;
            if message.len() >= total {
                return Ok(Some(match message {
                    Cow::Borrowed(b) => Cow::Borrowed(&b[..total]),
                    Cow::Owned(mut v) => {
                        v.truncate(total);
                        Cow::Owned(v)
                    }
                }));
            }
        }
    }
}

/// Parses a whole ClientHello handshake message (header included) and takes its SNI.
fn parse_client_hello(message: &[u8]) -> Hello {
    let body = &message[HANDSHAKE_HEADER..];
    let Ok((trailing, hello)) = tls_parser::parse_tls_handshake_client_hello(body) else {
        return Hello::Malformed;
    };
    if !trailing.is_empty() {
        return Hello::Malformed;
    }
    match hello.ext.map(server_name).unwrap_or(Ok(None)) {
        Ok(sni) => Hello::Complete { sni },
        Err(()) => Hello::Malformed,
    }
}

/// Walks the extension list and decodes `server_name`. A duplicate `server_name`, an SNI
/// list without a host name, or a host name that is not a plausible DNS name is an error:
/// a filter must not guess which of two names the server will use.
fn server_name(mut exts: &[u8]) -> Result<Option<String>, ()> {
    let mut found = None;
    while !exts.is_empty() {
        let [t0, t1, l0, l1, rest @ ..] = exts else {
            return Err(());
        };
        let ext_type = u16::from_be_bytes([*t0, *t1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let data = rest.get(..len).ok_or(())?;
        exts = &rest[len..];
        if ext_type != EXT_SERVER_NAME {
            continue;
        }
        if found.is_some() {
            return Err(());
        }
        let Ok((_, TlsExtension::SNI(names))) = parse_tls_extension_sni_content(data) else {
            return Err(());
        };
        let host = names
            .iter()
            .find(|(kind, _)| *kind == SNIType::HostName)
            .map(|(_, name)| *name)
            .ok_or(())?;
        found = Some(normalise_host(host)?);
    }
    Ok(found)
}

/// Lowercases a host name and strips one trailing dot; refuses anything that is not
/// ASCII letters, digits, `-`, `_` and `.` (which also rules out empty names).
fn normalise_host(raw: &[u8]) -> Result<String, ()> {
    let raw = raw.strip_suffix(b".").unwrap_or(raw);
    let valid = !raw.is_empty()
        && raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(());
    }
    let mut host = String::with_capacity(raw.len());
    host.extend(raw.iter().map(|b| char::from(b.to_ascii_lowercase())));
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal ClientHello handshake message with the given extensions block.
    fn client_hello_message(extensions: &[u8]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]); // random
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(extensions);
        let mut msg = vec![HANDSHAKE_CLIENT_HELLO];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }

    fn sni_extension(host: &[u8]) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend_from_slice(&(host.len() as u16).to_be_bytes());
        entry.extend_from_slice(host);
        let mut list = (entry.len() as u16).to_be_bytes().to_vec();
        list.extend_from_slice(&entry);
        let mut ext = vec![0, 0];
        ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
        ext.extend_from_slice(&list);
        ext
    }

    /// Wraps a handshake message into records of at most `chunk` payload bytes.
    fn records(message: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for part in message.chunks(chunk) {
            out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn finds_sni_in_one_record() {
        let msg = client_hello_message(&sni_extension(b"Example.ORG."));
        let got = inspect(&records(&msg, 1 << 14));
        assert_eq!(
            got,
            Hello::Complete {
                sni: Some("example.org".into())
            }
        );
    }

    #[test]
    fn finds_sni_split_over_records_and_reads() {
        let mut exts = vec![0x00, 0x17, 0, 0]; // extended master secret, empty
        exts.extend_from_slice(&sni_extension(b"fronted.example"));
        let msg = client_hello_message(&exts);
        let stream = records(&msg, 7);
        for cut in 0..stream.len() {
            assert_eq!(inspect(&stream[..cut]), Hello::NeedMore, "prefix {cut}");
        }
        assert_eq!(
            inspect(&stream),
            Hello::Complete {
                sni: Some("fronted.example".into())
            }
        );
    }

    #[test]
    fn hello_without_sni() {
        let msg = client_hello_message(&[0x00, 0x17, 0, 0]);
        assert_eq!(inspect(&records(&msg, 100)), Hello::Complete { sni: None });
    }

    #[test]
    fn duplicate_or_bad_sni_is_malformed() {
        let mut twice = sni_extension(b"a.example");
        twice.extend_from_slice(&sni_extension(b"b.example"));
        assert_eq!(
            inspect(&records(&client_hello_message(&twice), 1000)),
            Hello::Malformed
        );
        let bad = sni_extension(b"a b.example");
        assert_eq!(
            inspect(&records(&client_hello_message(&bad), 1000)),
            Hello::Malformed
        );
    }

    #[test]
    fn other_protocols_are_not_tls() {
        assert_eq!(inspect(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(inspect(b"SSH-2.0-OpenSSH"), Hello::NotTls);
        assert_eq!(inspect(&[0x16, 0x01]), Hello::NotTls);
        assert_eq!(inspect(&[0x16]), Hello::NeedMore);
    }

    #[test]
    fn non_hello_handshake_is_malformed() {
        let mut msg = client_hello_message(&[]);
        msg[0] = 2; // ServerHello
        assert_eq!(inspect(&records(&msg, 1000)), Hello::Malformed);
    }

    /// A small deterministic generator so the fuzz-style tests are reproducible.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = (rng.next() % 600) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Half of the inputs get a plausible record header so the parser goes deep.
            if rng.next() % 2 == 0 && buf.len() > 5 {
                buf[0] = CONTENT_HANDSHAKE;
                buf[1] = 3;
                buf[5] = HANDSHAKE_CLIENT_HELLO;
            }
            let _ = inspect(&buf);
        }
    }

    #[test]
    fn mutated_and_truncated_hellos_never_panic() {
        let mut exts = vec![0x00, 0x0b, 0, 2, 1, 0];
        exts.extend_from_slice(&sni_extension(b"www.example.com"));
        let stream = records(&client_hello_message(&exts), 40);
        let mut rng = XorShift(42);
        for _ in 0..20_000 {
            let mut buf = stream.clone();
            for _ in 0..(rng.next() % 4) {
                let i = (rng.next() as usize) % buf.len();
                buf[i] = rng.next() as u8;
            }
            let cut = (rng.next() as usize) % (buf.len() + 1);
            let _ = inspect(&buf[..cut]);
        }
    }
}
