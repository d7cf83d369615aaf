//! The framing check hyper lacks.
//!
//! hyper already answers 400 (and closes) for duplicate differing `Content-Length`s,
//! invalid lengths, non-chunked `Transfer-Encoding` and obs-folded header lines. A request
//! carrying BOTH `Content-Length` and `Transfer-Encoding`, however, is accepted: hyper
//! drops the length, uses chunked framing and closes afterwards, and the service cannot
//! tell (the `Content-Length` header is gone). Since that combination is the classic
//! request-smuggling vector, the proxy refuses it outright.
//!
//! To see what hyper hides, the client socket is wrapped in [`RecordingIo`], which keeps
//! the most recent bytes read (enough for one head plus one read of body). When a request
//! arrives with `Transfer-Encoding`, [`has_content_length_too`] looks for its head in
//! those bytes. Requests without `Transfer-Encoding` never look.
//!
//! The window is a ring of exactly `keep` bytes, allocated once per connection: a
//! keep-alive client connection lives for hours, and a window that grew with what the
//! client sent would make every long-lived connection cost more memory the longer it
//! lives (bounded, but slow to reach its bound, so it reads as a leak in a soak).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::Request;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The last bytes read from a client connection.
#[derive(Debug)]
pub struct Window {
    /// At most `keep` bytes; its buffer is allocated once and never grows.
    bytes: VecDeque<u8>,
    keep: usize,
}

/// Shared between the socket wrapper and the request handler.
pub type SharedWindow = Arc<Mutex<Window>>;

/// A new window keeping the last `keep` bytes read.
pub fn window(keep: usize) -> SharedWindow {
    Arc::new(Mutex::new(Window {
        bytes: VecDeque::with_capacity(keep),
        keep,
    }))
}

impl Window {
    fn record(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.keep)..];
        let over = (self.bytes.len() + data.len()).saturating_sub(self.keep);
        self.bytes.drain(..over);
        self.bytes.extend(data);
    }
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
                    .expect("window lock is never poisoned")
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
/// `Content-Length`.
pub fn has_content_length_too<B>(window: &SharedWindow, req: &Request<B>) -> bool {
    if !req.headers().contains_key(http::header::TRANSFER_ENCODING) {
        return false;
    }
    let mut window = window.lock().expect("window lock is never poisoned");
    let method = req.method().as_str().as_bytes();
    let mut in_head = false;
    let mut saw = (false, false);
    // Rotates the ring in place (no allocation); only requests with TE get here.
    for line in window.bytes.make_contiguous().split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if in_head && saw == (true, true) {
                return true;
            }
            in_head = false;
            continue;
        }
        if !in_head {
            // A request line of this request's method starts a head.
            in_head = line.starts_with(method)
                && line.get(method.len()) == Some(&b' ')
                && line.ends_with(b" HTTP/1.1");
            saw = (false, false);
            continue;
        }
        if starts_with_ignore_case(line, b"content-length:") {
            saw.0 = true;
        } else if starts_with_ignore_case(line, b"transfer-encoding:") {
            saw.1 = true;
        }
    }
    false
}

fn starts_with_ignore_case(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_headers_in_the_recorded_head() {
        let w = window(1024);
        w.lock().unwrap().record(
            b"POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        let req = Request::post("http://a/")
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap();
        assert!(has_content_length_too(&w, &req));
        let clean = window(1024);
        clean
            .lock()
            .unwrap()
            .record(b"POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert!(!has_content_length_too(&clean, &req));
    }

    #[test]
    fn window_keeps_the_most_recent_bytes() {
        let w = window(4);
        let mut guard = w.lock().unwrap();
        guard.record(b"abcdef");
        guard.record(b"gh");
        assert_eq!(guard.bytes.make_contiguous(), b"efgh");
        guard.record(b"i");
        assert_eq!(guard.bytes.make_contiguous(), b"fghi");
    }

    #[test]
    fn window_memory_does_not_grow_with_what_the_connection_reads() {
        let w = window(64);
        let mut guard = w.lock().unwrap();
        let allocated = guard.bytes.capacity();
        // Reads of every length from 1 to well past the window, many times its size.
        for i in 0..2000usize {
            let len = i % 97 + 1;
            let read: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            guard.record(&read);
            assert!(guard.bytes.len() <= 64);
        }
        assert_eq!(guard.bytes.len(), 64);
        assert_eq!(
            guard.bytes.capacity(),
            allocated,
            "the window kept its first allocation"
        );
    }
}
