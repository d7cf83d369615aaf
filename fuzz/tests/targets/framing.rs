//! Target `framing`: the request-smuggling guard. The proxy follows each client stream's
//! message boundaries (`framing`, fed by the recording socket wrapper) so that a
//! request carrying both `Content-Length` and `Transfer-Encoding` is refused although
//! hyper hides the length.
//!
//! The input is a pipelined byte stream, read through `RecordingIo` in fuzzed pieces. An
//! oracle splits the same stream the way hyper does (httparse heads, `Content-Length` or
//! chunked bodies) and lists, per request hyper would hand to the proxy with
//! `Transfer-Encoding`, whether its head also carried `Content-Length`. Properties: the
//! guard never answers "no" where the oracle says "yes" (a miss is a smuggling hole), and
//! its answers do not depend on how the stream was split into reads.

use filter_proxy::framing::{has_content_length_too, window, RecordingIo};
use futures_util::FutureExt;
use tokio::io::AsyncReadExt;

/// Per `Transfer-Encoding` request hyper would accept, in order: did it carry a length.
fn oracle(mut rest: &[u8]) -> Vec<bool> {
    let mut out = Vec::new();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(len)) = req.parse(rest) else {
            return out;
        };
        if req.version != Some(1) {
            return out;
        }
        let (mut lengths, mut te) = (Vec::new(), None::<&[u8]>);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                lengths.push(h.value);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te = Some(h.value);
            }
        }
        rest = &rest[len..];
        if let Some(te) = te {
            // hyper refuses a last coding other than chunked before the service runs.
            let last = te.rsplit(|&b| b == b',').next().unwrap_or(te).trim_ascii();
            if !last.eq_ignore_ascii_case(b"chunked") {
                return out;
            }
            out.push(!lengths.is_empty());
            match skip_chunked(rest) {
                Some(after) => rest = after,
                None => return out,
            }
        } else {
            let parsed: Vec<Option<u64>> = lengths
                .iter()
                .map(|v| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                })
                .collect();
            let n = match parsed.first() {
                None => 0,
                Some(Some(n)) if parsed.iter().all(|p| *p == Some(*n)) => *n,
                _ => return out,
            };
            let Some(after) = usize::try_from(n).ok().and_then(|n| rest.get(n..)) else {
                return out;
            };
            rest = after;
        }
    }
}

/// The bytes after one chunked body and its trailers, if it is all there and well formed.
fn skip_chunked(mut rest: &[u8]) -> Option<&[u8]> {
    loop {
        let httparse::Status::Complete((used, size)) = httparse::parse_chunk_size(rest).ok()?
        else {
            return None;
        };
        rest = &rest[used..];
        if size == 0 {
            // Trailer lines until an empty one.
            loop {
                let end = rest.iter().position(|&b| b == b'\n')?;
                let line = &rest[..end];
                rest = &rest[end + 1..];
                if line.is_empty() || line == b"\r" {
                    return Some(rest);
                }
            }
        }
        rest = rest.get(usize::try_from(size).ok()?..)?;
        rest = rest.strip_prefix(b"\r\n")?;
    }
}

/// The guard's answers for `count` Transfer-Encoding requests, the stream read in pieces
/// of the given sizes (cycled).
fn guard(stream: &[u8], pieces: &[u8], count: usize) -> Vec<bool> {
    let tracker = window();
    let mut io = RecordingIo::new(stream, Some(tracker.clone()));
    let mut buf = vec![0u8; stream.len().max(1)];
    let mut sizes = pieces.iter().cycle();
    loop {
        let want = sizes
            .next()
            .map_or(buf.len(), |&s| usize::from(s).max(1))
            .min(buf.len());
        let n = io
            .read(&mut buf[..want])
            .now_or_never()
            .expect("reading a slice completes at once")
            .expect("reading a slice cannot fail");
        if n == 0 {
            break;
        }
    }
    let te = http::Request::post("http://a/")
        .header("transfer-encoding", "chunked")
        .body(())
        .expect("valid request");
    (0..count)
        .map(|_| has_content_length_too(&tracker, &te))
        .collect()
}

fn check(input: &[u8]) {
    // The first bytes choose read sizes (up to 4 pieces, cycled); the rest is the stream.
    let split = usize::from(input.first().copied().unwrap_or(0) % 5);
    let (pieces, stream) =
        input[1.min(input.len())..].split_at(split.min(input.len().saturating_sub(1)));
    let expected = oracle(stream);
    let whole = guard(stream, &[], expected.len());
    for (i, (&want, &got)) in expected.iter().zip(&whole).enumerate() {
        assert!(
            got || !want,
            "request {i} carried Content-Length and Transfer-Encoding but was let through: {:?}",
            String::from_utf8_lossy(stream)
        );
    }
    let pieced = guard(stream, pieces, expected.len());
    assert_eq!(whole, pieced, "answers depend on read sizes {pieces:?}");
}

#[test]
fn framing() {
    fuzz_targets::fuzz_bytes("framing", check);
}
