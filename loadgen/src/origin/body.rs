//! Response bodies of the test origin, built from one pre-allocated payload.
//!
//! The origin must never be the bottleneck of a run, so a body is a cheap
//! reference-counted slice of a payload allocated once at start: no request
//! allocates or copies payload bytes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Size of the pre-built payload; larger bodies are sent as several slices of it.
pub const PAYLOAD_LEN: usize = 1024 * 1024;
/// Size of each frame of a streamed body.
pub const CHUNK_LEN: usize = 64 * 1024;

/// Builds the fixed payload every body is cut from: printable, repeating, so a
/// client can check content as well as length.
pub fn build_payload() -> Bytes {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    let mut buf = Vec::with_capacity(PAYLOAD_LEN);
    while buf.len() < PAYLOAD_LEN {
        let take = (PAYLOAD_LEN - buf.len()).min(PATTERN.len());
        buf.extend_from_slice(&PATTERN[..take]);
    }
    Bytes::from(buf)
}

/// The byte the payload holds at `offset` (content check for clients).
pub fn payload_byte(offset: u64) -> u8 {
    const PATTERN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    PATTERN[(offset % PATTERN.len() as u64) as usize]
}

/// A response body of the origin.
#[derive(Debug)]
pub enum OriginBody {
    /// A whole body in one frame (taken on first poll).
    Full(Option<Bytes>),
    /// A body sent as `remaining` bytes of repeated `chunk` slices; `sized`
    /// announces the length (Content-Length) instead of chunked encoding.
    Stream {
        /// The slice repeated as frames.
        chunk: Bytes,
        /// Bytes still to send.
        remaining: u64,
        /// Whether the length is announced up front.
        sized: bool,
    },
}

impl OriginBody {
    /// An empty body.
    pub fn empty() -> Self {
        OriginBody::Full(None)
    }

    /// A body of exactly these bytes.
    pub fn full(bytes: Bytes) -> Self {
        OriginBody::Full(Some(bytes))
    }
}

impl Body for OriginBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            OriginBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            OriginBody::Stream {
                chunk, remaining, ..
            } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let n = (*remaining).min(chunk.len() as u64);
                *remaining -= n;
                Poll::Ready(Some(Ok(Frame::data(chunk.slice(..n as usize)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OriginBody::Full(bytes) => bytes.as_ref().is_none_or(|b| b.is_empty()),
            OriginBody::Stream { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            OriginBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            OriginBody::Stream {
                remaining, sized, ..
            } if *sized => SizeHint::with_exact(*remaining),
            OriginBody::Stream { .. } => SizeHint::default(),
        }
    }
}
