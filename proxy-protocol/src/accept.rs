//! The cloud proxy's side: read and verify a PROXY v2 header right after `accept()`.
//!
//! Only peers in the trusted CIDRs may send a header; its identity counts only if the HMAC
//! verifies and the timestamp is fresh. Every refusal is a distinct [`AcceptError`] kind so
//! the caller can count it. The function reads exactly the header's bytes: afterwards the
//! stream is positioned at the client's first byte (HTTP or TLS).
//!
//! A peer outside the trusted CIDRs is settled before a byte is read: it is a plain
//! client, and a PROXY header it sends reaches the HTTP parser, which refuses it (400).
//! Looking at untrusted bytes bought nothing but cost: a peer that sent the first bytes of
//! the signature and stalled kept the accept path peeking until the header timeout.
//! From a trusted peer the signature is awaited without polling: a partial signature
//! waits for the socket's next arrival, not for a timer.

use std::net::SocketAddr;

use std::os::fd::AsRawFd;

use nix::sys::socket::{self, MsgFlags};
use ppp::v2::{Addresses, Command, Header, PROTOCOL_PREFIX};
use tokio::io::{AsyncReadExt, Interest};
use tokio::net::TcpStream;

use super::config::CloudSideConfig;
use super::sign::{self, Signed};
use super::tlv::IdentityTlvs;

/// Fixed part of a v2 header: signature, version/command, family/protocol, length.
const FIXED_LEN: usize = 16;
/// Our headers are a few hundred bytes; anything much larger is refused before allocating.
const MAX_HEADER_LEN: usize = 2048;

/// What a verified header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedIdentity {
    /// The original client.
    pub source: SocketAddr,
    /// The original destination (the appliance listener in explicit mode).
    pub destination: SocketAddr,
    /// The authenticated user, if the appliance knew one.
    pub user: Option<String>,
    /// The authenticated group, if the appliance knew one.
    pub group: Option<String>,
    /// When the appliance signed the header, seconds since the Unix epoch.
    pub timestamp: u64,
    /// The appliance intercepted the connection transparently: `destination` is the
    /// client's real target and the stream carries origin-form HTTP or TLS, not a proxy
    /// request. False for explicit mode (the stream is an ordinary proxy request).
    pub transparent: bool,
}

/// Why a connection was refused. Close the connection on any of these.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// A trusted peer sent no header although one is required.
    #[error("trusted peer sent no PROXY header")]
    MissingHeader,
    /// The header or our TLVs do not parse.
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
    /// The header carries no timestamp or no HMAC.
    #[error("PROXY header is not signed")]
    Unsigned,
    /// The HMAC does not verify.
    #[error("PROXY header HMAC does not verify")]
    BadHmac,
    /// The timestamp is further from our clock than allowed.
    #[error("PROXY header timestamp is {skew_secs}s off")]
    Stale {
        /// Our clock minus the header's timestamp.
        skew_secs: i64,
    },
    /// The header did not arrive within the configured time.
    #[error("PROXY header timed out")]
    Timeout,
    /// The peer closed before a complete header.
    #[error("connection closed before the PROXY header was complete")]
    Closed,
    /// A socket error.
    #[error("reading PROXY header: {0}")]
    Io(#[from] std::io::Error),
}

impl AcceptError {
    /// A stable label for metrics (`reason="bad_hmac"` etc.).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::Malformed(_) => "malformed",
            Self::Unsigned => "unsigned",
            Self::BadHmac => "bad_hmac",
            Self::Stale { .. } => "stale",
            Self::Timeout => "timeout",
            Self::Closed => "closed",
            Self::Io(_) => "io",
        }
    }
}

/// Reads and verifies an optional PROXY v2 header from a freshly accepted connection.
///
/// Returns `Ok(Some(_))` for a verified `PROXY` header, `Ok(None)` when no header was sent
/// and none was required (a plain client) or for a `LOCAL` header (a health check), and
/// an error when the connection must be refused.
pub async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    cfg: &CloudSideConfig,
) -> Result<Option<ProxiedIdentity>, AcceptError> {
    tokio::time::timeout(cfg.header_timeout, accept_inner(stream, peer, cfg))
        .await
        .map_err(|_| AcceptError::Timeout)?
}

async fn accept_inner(
    stream: &mut TcpStream,
    peer: SocketAddr,
    cfg: &CloudSideConfig,
) -> Result<Option<ProxiedIdentity>, AcceptError> {
    let peer_ip = peer.ip().to_canonical();
    if !cfg.trusted_cidrs.iter().any(|n| n.contains(&peer_ip)) {
        return Ok(None);
    }
    if !starts_with_signature(stream).await? {
        return if cfg.require_from_trusted {
            Err(AcceptError::MissingHeader)
        } else {
            Ok(None)
        };
    }
    let bytes = read_header(stream).await?;
    let header =
        Header::try_from(bytes.as_slice()).map_err(|e| AcceptError::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(None);
    }
    verify(&header, cfg, sign::unix_now()).map(Some)
}

/// Checks a parsed `PROXY` header against the key and clock; public for the fuzz-style
/// tests and for callers that parse headers themselves.
pub fn verify(
    header: &Header<'_>,
    cfg: &CloudSideConfig,
    now: u64,
) -> Result<ProxiedIdentity, AcceptError> {
    let (source, destination) = match header.addresses {
        Addresses::IPv4(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        Addresses::IPv6(a) => (
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        ),
        _ => return Err(AcceptError::Malformed("address family is not IP".into())),
    };
    let mut tlvs = Vec::new();
    for tlv in header.tlvs() {
        tlvs.push(tlv.map_err(|e| AcceptError::Malformed(e.to_string()))?);
    }
    let ids = IdentityTlvs::from_tlvs(
        tlvs.iter().map(|t| (t.kind, t.value.as_ref())),
        cfg.tlv_type,
    )
    .map_err(|e| AcceptError::Malformed(e.to_string()))?;
    let (Some(timestamp), Some(tag)) = (ids.timestamp, ids.hmac) else {
        return Err(AcceptError::Unsigned);
    };
    let transparent = ids.transparent.unwrap_or(false);
    let signed = Signed {
        source,
        destination,
        user: ids.user.as_deref(),
        group: ids.group.as_deref(),
        timestamp,
        transparent,
    };
    if !sign::verify(&cfg.key, &signed, &tag) {
        return Err(AcceptError::BadHmac);
    }
    let skew_secs =
        i64::try_from(now).unwrap_or(i64::MAX) - i64::try_from(timestamp).unwrap_or(i64::MAX);
    if skew_secs.unsigned_abs() > cfg.max_skew_secs {
        return Err(AcceptError::Stale { skew_secs });
    }
    Ok(ProxiedIdentity {
        source,
        destination,
        user: ids.user,
        group: ids.group,
        timestamp,
        transparent,
    })
}

/// Peeks (without consuming) until the 12-byte v2 signature is seen or ruled out. A
/// partial signature is not peeked at again until more bytes arrive: the peek reports
/// "would block", which clears the socket's readiness until the next arrival.
async fn starts_with_signature(stream: &TcpStream) -> Result<bool, AcceptError> {
    let mut buf = [0u8; 12];
    loop {
        stream.readable().await?;
        let peeked = stream.try_io(Interest::READABLE, || {
            let n = socket::recv(stream.as_raw_fd(), &mut buf, MsgFlags::MSG_PEEK)
                .map_err(std::io::Error::from)?;
            if n > 0 && n < buf.len() && buf[..n] == PROTOCOL_PREFIX[..n] {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match peeked {
            Ok(0) => return Err(AcceptError::Closed),
            Ok(n) => return Ok(buf[..n] == PROTOCOL_PREFIX[..n] && n == buf.len()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(AcceptError::Io(e)),
        }
    }
}

/// Reads exactly one header: the fixed part, then the advertised length.
async fn read_header(stream: &mut TcpStream) -> Result<Vec<u8>, AcceptError> {
    let mut buf = vec![0u8; FIXED_LEN];
    read_exact(stream, &mut buf).await?;
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if FIXED_LEN + len > MAX_HEADER_LEN {
        return Err(AcceptError::Malformed(format!(
            "header of {} bytes exceeds {MAX_HEADER_LEN}",
            FIXED_LEN + len
        )));
    }
    buf.resize(FIXED_LEN + len, 0);
    read_exact(stream, &mut buf[FIXED_LEN..]).await?;
    Ok(buf)
}

async fn read_exact(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), AcceptError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(AcceptError::Closed),
        Err(e) => Err(AcceptError::Io(e)),
    }
}
