//! The framing check hyper lacks.
//!
//! hyper already answers 400 (and closes) for duplicate differing `Content-Length`s,
//! invalid lengths, non-chunked `Transfer-Encoding` and obs-folded header lines. A request
//! carrying BOTH `Content-Length` and `Transfer-Encoding`, however, is accepted: hyper
//! drops the length, uses chunked framing and closes afterwards, and the service cannot
//! tell (the `Content-Length` header is gone). Since that combination is the classic
//! request-smuggling vector, the proxy refuses it outright.
//!
//! To see what hyper hides, the client socket is wrapped in [`RecordingIo`], which feeds
//! every byte read to a [`Framing`] tracker: a small HTTP/1 message-boundary state machine
//! (request head, then a `Content-Length` body or chunked body with trailers, then the
//! next head) that follows the same framing rules hyper applies. For every head that
//! carries `Transfer-Encoding` it remembers whether that head also carried
//! `Content-Length`; the handler of the n-th such request asks about the n-th such head
//! ([`has_content_length_too`]). Requests without `Transfer-Encoding` never ask.
//!
//! Why boundaries and not lines: an earlier version searched the last bytes read for a
//! head line by line, and a body that did not end in a newline merged with the next
//! request line, which then went unchecked. Tracking messages has no such seam, and it
//! holds a few dozen bytes per connection instead of a window of twice the head limit.
//! If the tracker ever cannot follow the stream (a malformed length or chunk size, which
//! hyper refuses anyway), every later `Transfer-Encoding` request on the connection is
//! refused: unknown is never taken for safe.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes kept of each line: enough for `Content-Length: <20 digits>` with some space.
const LINE_KEEP: usize = 64;
/// Heads with `Transfer-Encoding` read ahead of their handlers that are remembered;
/// beyond it (a client pipelining that many chunked requests) the tracker gives up.
const MAX_PENDING: usize = 64;

/// Where the tracker is in the client's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request head, line by line.
    Head,
    /// Skipping this many bytes of a `Content-Length` body.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping this many bytes of chunk data.
    ChunkData(u64),
    /// Reading the CRLF after chunk data.
    ChunkDataEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// The connection became a tunnel, or the tracker lost the boundaries: bytes are
    /// no longer followed.
    Off,
}

/// The start of the line being read.
#[derive(Debug)]
struct Line {
    kept: [u8; LINE_KEEP],
    /// Bytes of the line so far (may exceed `LINE_KEEP`).
    len: usize,
}

impl Line {
    fn push(&mut self, bytes: &[u8]) {
        let room = LINE_KEEP.saturating_sub(self.len).min(bytes.len());
        self.kept[self.len.min(LINE_KEEP)..][..room].copy_from_slice(&bytes[..room]);
        self.len += bytes.len();
    }

    /// The kept bytes without the trailing CR, and whether the whole line was kept.
    fn text(&self) -> (&[u8], bool) {
        let whole = self.len <= LINE_KEEP;
        let kept = &self.kept[..self.len.min(LINE_KEEP)];
        let text = if whole {
            kept.strip_suffix(b"\r").unwrap_or(kept)
        } else {
            kept
        };
        (text, whole)
    }
}

/// What the head being read has said so far.
#[derive(Debug, Default, Clone, Copy)]
struct Head {
    started: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
}

/// Message boundaries of one client connection (see the module docs).
#[derive(Debug)]
pub struct Framing {
    state: State,
    line: Line,
    head: Head,
    /// Per head with `Transfer-Encoding`, in order: did it carry `Content-Length` too.
    pending: VecDeque<bool>,
    /// The boundaries were lost: every later `Transfer-Encoding` request is refused.
    lost: bool,
}

/// Shared between the socket wrapper and the request handler.
pub type SharedWindow = Arc<Mutex<Framing>>;

/// A new tracker for a fresh connection.
pub fn window() -> SharedWindow {
    Arc::new(Mutex::new(Framing::new()))
}

impl Framing {
    fn new() -> Self {
        Framing {
            state: State::Head,
            line: Line {
                kept: [0; LINE_KEEP],
                len: 0,
            },
            head: Head::default(),
            pending: VecDeque::new(),
            lost: false,
        }
    }

    /// Follows `data`, the next bytes the client sent.
    fn record(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Off => return,
                State::Body(left) | State::ChunkData(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Head,
                        (State::Body(_), _) => State::Body(left),
                        (_, 0) => State::ChunkDataEnd,
                        _ => State::ChunkData(left),
                    };
                }
                _ => match memchr::memchr(b'\n', data) {
                    Some(end) => {
                        let line = &data[..end];
                        data = &data[end + 1..];
                        if self.line.len == 0 {
                            // The whole line is in this read: no copy (the common case).
                            self.end_line(line.strip_suffix(b"\r").unwrap_or(line), true);
                        } else {
                            self.line.push(line);
                            let (kept, whole) = self.line.text();
                            let mut copy = [0u8; LINE_KEEP];
                            copy[..kept.len()].copy_from_slice(kept);
                            let len = kept.len();
                            self.line.len = 0;
                            self.end_line(&copy[..len], whole);
                        }
                    }
                    None => {
                        self.line.push(data);
                        data = &[];
                    }
                },
            }
        }
    }

    fn lose(&mut self) {
        self.lost = true;
        self.state = State::Off;
    }

    /// One line has ended: `text` is its start (all of it when `whole`), without the CR.
    fn end_line(&mut self, text: &[u8], whole: bool) {
        let empty = whole && text.is_empty();
        match self.state {
            State::Head if empty => {
                // Empty lines before a request line are skipped, as hyper does.
                if self.head.started {
                    self.end_head();
                }
            }
            State::Head if !self.head.started => {
                self.head.started = true;
            }
            // Only the two framing headers matter; their first letters rule out the rest.
            State::Head => match text.first() {
                Some(b't' | b'T') if starts_with_ignore_case(text, b"transfer-encoding:") => {
                    self.head.transfer_encoding = true;
                }
                Some(b'c' | b'C') if starts_with_ignore_case(text, b"content-length:") => {
                    let value = text[b"content-length:".len()..].trim_ascii();
                    match (
                        whole,
                        std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
                    ) {
                        (true, Some(n)) => self.head.content_length = Some(n),
                        _ => self.lose(),
                    }
                }
                _ => {}
            },
            State::ChunkSize => {
                let digits = text
                    .iter()
                    .position(|&b| !b.is_ascii_hexdigit())
                    .map_or(text, |end| &text[..end]);
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| u64::from_str_radix(d, 16).ok());
                match size {
                    Some(0) => self.state = State::Trailers,
                    Some(n) => self.state = State::ChunkData(n),
                    None => self.lose(),
                }
            }
            State::ChunkDataEnd if empty => self.state = State::ChunkSize,
            State::ChunkDataEnd => self.lose(),
            State::Trailers if empty => self.state = State::Head,
            State::Trailers => {}
            State::Body(_) | State::ChunkData(_) | State::Off => {}
        }
    }

    fn end_head(&mut self) {
        let head = std::mem::take(&mut self.head);
        if head.transfer_encoding {
            if self.pending.len() == MAX_PENDING {
                return self.lose();
            }
            self.pending.push_back(head.content_length.is_some());
            // Transfer-Encoding wins over Content-Length, as in hyper.
            self.state = State::ChunkSize;
        } else {
            self.state = match head.content_length {
                Some(n) if n > 0 => State::Body(n),
                _ => State::Head,
            };
        }
    }
}

/// The connection became a tunnel (CONNECT answered 200): its bytes are no longer HTTP.
pub fn tunnel_started(window: &SharedWindow) {
    window.lock().expect("framing lock is never poisoned").state = State::Off;
}

/// A client socket that records what it reads into a [`Window`].
#[derive(Debug)]
pub struct RecordingIo<T> {
    inner: T,
    window: Option<SharedWindow>,
}

impl<T> RecordingIo<T> {
    /// Wraps `inner`; with no window, reads pass straight through.
    pub fn new(inner: T, window: Option<SharedWindow>) -> Self {
        RecordingIo { inner, window }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RecordingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(window)) = (&polled, &self.window) {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                window
                    .lock()
                    .expect("framing lock is never poisoned")
                    .record(new);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RecordingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// True when `req` carries `Transfer-Encoding` and its head, as received, also carried
/// `Content-Length` (or the tracker lost the connection's boundaries).
pub fn has_content_length_too<B>(window: &SharedWindow, req: &Request<B>) -> bool {
    if !req.headers().contains_key(http::header::TRANSFER_ENCODING) {
        return false;
    }
    let mut framing = window.lock().expect("framing lock is never poisoned");
    // None: hyper saw a head with Transfer-Encoding that the tracker did not; refuse.
    framing.pending.pop_front().unwrap_or(true)
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn te_request() -> Request<()> {
        Request::post("http://a/")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap()
    }

    /// The answers of the handlers of every `Transfer-Encoding` request in `stream`,
    /// read in `pieces`.
    fn verdicts(pieces: &[&[u8]], te_requests: usize) -> Vec<bool> {
        let w = window();
        for piece in pieces {
            w.lock().unwrap().record(piece);
        }
        (0..te_requests)
            .map(|_| has_content_length_too(&w, &te_request()))
            .collect()
    }

    /// Every way of cutting `stream` into two reads, and one byte per read, must give
    /// the same answers as one read.
    fn verdicts_at_every_split(stream: &[u8], te_requests: usize) -> Vec<bool> {
        let whole = verdicts(&[stream], te_requests);
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(verdicts(&[a, b], te_requests), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(verdicts(&bytes, te_requests), whole, "one byte per read");
        whole
    }

    const SMUGGLE: &[u8] = b"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

    #[test]
    fn a_body_without_a_final_newline_does_not_hide_the_next_head() {
        // The probe's reproducer: a body whose tail merged with the next request line.
        let mut stream =
            b"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabcdefghij".to_vec();
        stream.extend_from_slice(SMUGGLE);
        assert_eq!(verdicts_at_every_split(&stream, 1), [true]);
    }

    #[test]
    fn heads_inside_bodies_are_bodies() {
        let fake =
            b"GET http://a/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        // In a Content-Length body.
        let mut stream = format!(
            "POST http://a/ HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            fake.len()
        )
        .into_bytes();
        stream.extend_from_slice(fake);
        stream.extend_from_slice(
            b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        assert_eq!(verdicts_at_every_split(&stream, 1), [false]);
        // In chunk data, with a chunk extension and a trailer.
        let mut stream = format!(
            "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n",
            fake.len()
        )
        .into_bytes();
        stream.extend_from_slice(fake);
        stream.extend_from_slice(b"\r\n0\r\nX-Trailer: 1\r\nContent-Length: 3\r\n\r\n");
        stream.extend_from_slice(SMUGGLE);
        stream.extend_from_slice(
            b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        assert_eq!(verdicts_at_every_split(&stream, 3), [false, true, false]);
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"\r\nGET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        stream.extend_from_slice(SMUGGLE);
        stream.extend_from_slice(b"GET http://a/x HTTP/1.1\n\n");
        stream.extend_from_slice(
            b"POST http://a/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        stream.extend_from_slice(b"POST http://a/ HTTP/1.1\r\nCONTENT-LENGTH: 0\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n");
        assert_eq!(verdicts_at_every_split(&stream, 3), [true, false, true]);
    }

    #[test]
    fn a_stream_it_cannot_follow_refuses_later_chunked_requests() {
        let mut stream = b"POST http://a/ HTTP/1.1\r\nContent-Length: lots\r\n\r\n".to_vec();
        stream.extend_from_slice(
            b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        );
        assert_eq!(verdicts(&[&stream], 1), [true]);
        // A hyper request with TE that the tracker never saw.
        assert_eq!(verdicts(&[b"GET http://a/ HTTP/1.1\r\n\r\n"], 1), [true]);
        // Too many chunked heads read ahead.
        let many = b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            .repeat(MAX_PENDING + 1);
        let w = verdicts(&[&many], MAX_PENDING + 1);
        assert!(w[..MAX_PENDING].iter().all(|&both| !both));
        assert!(w[MAX_PENDING], "the head past the bound is refused");
    }

    #[test]
    fn requests_without_transfer_encoding_never_ask() {
        let w = window();
        let get = Request::get("http://a/").body(()).unwrap();
        assert!(!has_content_length_too(&w, &get));
    }

    #[test]
    fn a_tunnel_is_not_followed() {
        let w = window();
        w.lock()
            .unwrap()
            .record(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
        tunnel_started(&w);
        w.lock().unwrap().record(SMUGGLE);
        assert!(w.lock().unwrap().pending.is_empty());
    }

    #[test]
    fn the_tracker_is_small_and_does_not_grow() {
        assert!(
            std::mem::size_of::<Framing>() <= 160,
            "{}",
            std::mem::size_of::<Framing>()
        );
        let w = window();
        let body = vec![b'x'; 1 << 20];
        let mut guard = w.lock().unwrap();
        for _ in 0..16 {
            guard.record(b"POST http://a/ HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n");
            guard.record(&body);
        }
        assert_eq!(guard.state, State::Head);
        assert_eq!(guard.pending.capacity(), 0, "nothing allocated");
    }
}
