//! One tunnel's bytes: peek the client's ClientHello (bounded in bytes and time), let the
//! caller judge its SNI, then splice both ways. Knows nothing of requests or policy; the
//! caller passes the SNI check in.

use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::{NonTlsPolicy, TunnelSettings};
use crate::metrics::TunnelEnd;

use super::hello::{inspect, Hello};
use super::splice::{splice, SpliceEnd, BUFFER_SIZE};

/// How a tunnel ended; the caller counts it in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelOutcome {
    /// Both directions finished; bytes client->upstream and upstream->client.
    Closed { up: u64, down: u64 },
    /// The SNI named a blocked host (domain fronting); the tunnel was cut before any byte went upstream.
    SniBlocked { sni: String },
    /// Cut before any byte went upstream: not TLS and the policy is `Close`, or a
    /// TLS-looking stream whose ClientHello could not be read within the bounds.
    NotTls,
    /// Idle timeout.
    Idle { up: u64, down: u64 },
    /// An I/O error on either side.
    Error {
        kind: std::io::ErrorKind,
        up: u64,
        down: u64,
    },
}

impl TunnelOutcome {
    /// Bytes client to upstream and upstream to client.
    pub fn bytes(&self) -> (u64, u64) {
        match *self {
            TunnelOutcome::Closed { up, down }
            | TunnelOutcome::Idle { up, down }
            | TunnelOutcome::Error { up, down, .. } => (up, down),
            TunnelOutcome::SniBlocked { .. } | TunnelOutcome::NotTls => (0, 0),
        }
    }

    /// The `outcome` label this ending is counted under.
    pub fn end(&self) -> TunnelEnd {
        match self {
            TunnelOutcome::Closed { .. } => TunnelEnd::Closed,
            TunnelOutcome::SniBlocked { .. } => TunnelEnd::SniBlocked,
            TunnelOutcome::NotTls => TunnelEnd::NotTls,
            TunnelOutcome::Idle { .. } => TunnelEnd::Idle,
            TunnelOutcome::Error { .. } => TunnelEnd::Error,
        }
    }
}

/// What the peek phase saw.
enum Peeked {
    /// A complete ClientHello.
    Hello { sni: Option<String> },
    /// Not TLS, or nothing at all before EOF or the hello timeout.
    Other,
    /// TLS-looking but unreadable: malformed, too large, cut short or too slow.
    BadTls,
}

/// Runs a tunnel between an upgraded client connection and a connected upstream.
/// `sni_blocked` answers whether the SNI host is blocked for this client; it gets the
/// host lowercased and without a trailing dot.
pub async fn run<C, U, F>(
    mut client: C,
    mut upstream: U,
    settings: &TunnelSettings,
    sni_blocked: F,
) -> TunnelOutcome
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
    F: Fn(&str) -> bool,
{
    let mut peeked = Vec::new();
    let verdict = match peek_hello(&mut client, &mut peeked, settings).await {
        Ok(verdict) => verdict,
        Err(e) => {
            return TunnelOutcome::Error {
                kind: e.kind(),
                up: 0,
                down: 0,
            }
        }
    };
    match verdict {
        Peeked::Hello { sni: Some(sni) } if sni_blocked(&sni) => {
            return TunnelOutcome::SniBlocked { sni };
        }
        Peeked::Hello { .. } => {}
        Peeked::Other if settings.non_tls == NonTlsPolicy::Allow => {}
        Peeked::Other | Peeked::BadTls => return TunnelOutcome::NotTls,
    }
    let result = splice(&mut client, &mut upstream, peeked, settings.idle_timeout).await;
    let (up, down) = (result.up, result.down);
    match result.end {
        SpliceEnd::Done => TunnelOutcome::Closed { up, down },
        SpliceEnd::Idle => TunnelOutcome::Idle { up, down },
        SpliceEnd::Error(kind) => TunnelOutcome::Error { kind, up, down },
    }
}

/// Reads from the client into `buf` until it holds a whole ClientHello or is judged not
/// to, within `hello_max_bytes` and `hello_timeout`.
///
/// `buf` grows to what the client sent, no more: each read lands on the thread's stack
/// first (never in the tunnel's future), so a tunnel whose client has not spoken yet holds
/// no buffer at all, instead of the 16 KiB reserved up front it once held.
async fn peek_hello<C>(
    client: &mut C,
    buf: &mut Vec<u8>,
    settings: &TunnelSettings,
) -> std::io::Result<Peeked>
where
    C: AsyncRead + Unpin,
{
    let deadline = Instant::now() + settings.hello_timeout;
    let max = settings.hello_max_bytes;
    loop {
        match inspect(buf) {
            Hello::Complete { sni } => return Ok(Peeked::Hello { sni }),
            Hello::NotTls => return Ok(Peeked::Other),
            Hello::Malformed => return Ok(Peeked::BadTls),
            Hello::NeedMore if buf.len() >= max => return Ok(Peeked::BadTls),
            Hello::NeedMore => {}
        }
        let room = (max - buf.len()).min(BUFFER_SIZE);
        let read = poll_fn(|cx| {
            let mut stack = [MaybeUninit::<u8>::uninit(); BUFFER_SIZE];
            let mut read_buf = ReadBuf::uninit(&mut stack[..room]);
            ready!(Pin::new(&mut *client).poll_read(cx, &mut read_buf))?;
            buf.extend_from_slice(read_buf.filled());
            Poll::Ready(Ok::<usize, std::io::Error>(read_buf.filled().len()))
        });
        match tokio::time::timeout_at(deadline, read).await {
            Ok(Ok(0)) | Err(_) if buf.is_empty() => return Ok(Peeked::Other),
            Ok(Ok(0)) | Err(_) => return Ok(Peeked::BadTls),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}
