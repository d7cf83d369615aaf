//! Copying bytes both ways between client and upstream until both sides are done.
//!
//! `tokio::io::copy_bidirectional` handles half-close but has no idle timeout and loses
//! the byte counts on error, and a tunnel needs both (the counts go into metrics, the
//! timeout keeps abandoned tunnels from pinning file descriptors). So this is a small
//! poll-based copier: an EOF on one side is passed on with `shutdown()` while the other
//! direction keeps flowing, and one timer, re-armed whenever a byte moves either way, ends
//! an idle tunnel.
//!
//! Memory: an idle tunnel holds no copy buffer. Each read lands in a buffer on the
//! thread's stack and is written on at once; only bytes the writer cannot take yet are
//! kept on the heap, and that copy is freed as soon as it is written. Most tunnels are
//! idle most of the time (a web app's connection between its requests), and a fixed
//! 16 KiB buffer per direction cost every one of them 32 KiB of live heap while it waited.

use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// Most bytes one read takes (on the stack). 16 KiB is one full TLS record, so a record is
/// usually moved by a single read and write.
pub const BUFFER_SIZE: usize = 16 * 1024;

/// How a splice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceEnd {
    /// Both directions reached EOF and were shut down.
    Done,
    /// Nothing moved for the idle timeout.
    Idle,
    /// An I/O error on either side.
    Error(io::ErrorKind),
}

/// Bytes moved by a splice and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpliceResult {
    /// How the splice ended.
    pub end: SpliceEnd,
    /// Bytes written client -> upstream (including any `initial_up` bytes).
    pub up: u64,
    /// Bytes written upstream -> client.
    pub down: u64,
}

/// One direction: the bytes read but not yet written (empty, with no allocation, while
/// the writer keeps up), and whether EOF was seen.
struct Direction {
    pending: Vec<u8>,
    pos: usize,
    read_eof: bool,
    finished: bool,
    written: u64,
    /// Bytes written since the last flush; a flush is due before waiting on a read.
    need_flush: bool,
}

impl Direction {
    /// A direction that starts with `pending` (bytes already read, still to be written).
    fn new(pending: Vec<u8>) -> Self {
        Self {
            pending,
            pos: 0,
            read_eof: false,
            finished: false,
            written: 0,
            need_flush: false,
        }
    }

    /// Moves bytes from `reader` to `writer` until both would block (`Pending`), or the
    /// direction is finished (`Ready(Ok)`), or fails.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        if self.finished {
            return Poll::Ready(Ok(()));
        }
        loop {
            while self.pos < self.pending.len() {
                let n = ready!(writer.as_mut().poll_write(cx, &self.pending[self.pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.pos += n;
                self.written += n as u64;
                self.need_flush = true;
            }
            if self.pending.capacity() > 0 {
                // Written: free the copy, an idle direction holds nothing.
                self.pending = Vec::new();
                self.pos = 0;
            }
            if self.read_eof {
                // Pass the FIN on; the other direction keeps flowing.
                ready!(writer.as_mut().poll_shutdown(cx))?;
                self.finished = true;
                return Poll::Ready(Ok(()));
            }
            let mut stack = [MaybeUninit::<u8>::uninit(); BUFFER_SIZE];
            let mut read_buf = ReadBuf::uninit(&mut stack);
            match reader.as_mut().poll_read(cx, &mut read_buf) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if self.need_flush {
                        ready!(writer.as_mut().poll_flush(cx))?;
                        self.need_flush = false;
                    }
                    return Poll::Pending;
                }
            }
            let filled = read_buf.filled();
            if filled.is_empty() {
                self.read_eof = true;
                continue;
            }
            let mut off = 0;
            while off < filled.len() {
                match writer.as_mut().poll_write(cx, &filled[off..]) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => {
                        off += n;
                        self.written += n as u64;
                        self.need_flush = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // The writer is full: keep the rest until it drains.
                        self.pending = filled[off..].to_vec();
                        self.pos = 0;
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

/// Splices `client` and `upstream` until both directions are done, nothing moves for
/// `idle_timeout`, or an I/O error. `initial_up` are bytes already read from the client
/// (the peeked ClientHello); they are written upstream first.
pub async fn splice<C, U>(
    client: &mut C,
    upstream: &mut U,
    initial_up: Vec<u8>,
    idle_timeout: Duration,
) -> SpliceResult
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    U: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut up = Direction::new(initial_up);
    let mut down = Direction::new(Vec::new());
    let idle = tokio::time::sleep(idle_timeout);
    tokio::pin!(idle);
    let mut moved = 0u64;

    let end = poll_fn(|cx| {
        let up_poll = up.poll_copy(cx, Pin::new(&mut *client), Pin::new(&mut *upstream));
        let down_poll = down.poll_copy(cx, Pin::new(&mut *upstream), Pin::new(&mut *client));
        for poll in [&up_poll, &down_poll] {
            if let Poll::Ready(Err(e)) = poll {
                return Poll::Ready(SpliceEnd::Error(e.kind()));
            }
        }
        if up.finished && down.finished {
            return Poll::Ready(SpliceEnd::Done);
        }
        let now_moved = up.written + down.written;
        if now_moved != moved {
            moved = now_moved;
            idle.as_mut().reset(Instant::now() + idle_timeout);
        }
        match idle.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(SpliceEnd::Idle),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;

    SpliceResult {
        end,
        up: up.written,
        down: down.written,
    }
}
