//! Intercepting listeners: accept, decide the connection's destination, enforce the
//! connection cap, hand over to [`super::forward`].
//!
//! Transparent mode: the host firewall redirects school traffic to the appliance
//! (`iptables -t nat ... -j REDIRECT`); the kernel's connection tracking remembers where
//! the client meant to go, and `SO_ORIGINAL_DST` reads it back. Explicit mode: clients are
//! configured to use the appliance as their proxy, the destination is the listener itself
//! and the cloud proxy reads the target from the HTTP request.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::config::{ListenerMode, ListenerSettings};
use super::forward;
use super::shared::Shared;

/// Converts the kernel's IPv4 socket address (network byte order fields).
pub fn from_sockaddr_in(sa: &nix::libc::sockaddr_in) -> SocketAddr {
    let ip = Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr));
    SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sa.sin_port)))
}

/// Converts the kernel's IPv6 socket address (network byte order port).
pub fn from_sockaddr_in6(sa: &nix::libc::sockaddr_in6) -> SocketAddr {
    let ip = Ipv6Addr::from(sa.sin6_addr.s6_addr);
    SocketAddr::V6(SocketAddrV6::new(
        ip,
        u16::from_be(sa.sin6_port),
        sa.sin6_flowinfo,
        sa.sin6_scope_id,
    ))
}

/// The destination a redirected connection was originally addressed to.
///
/// Fails (typically `ENOENT`) when the connection was not redirected by NAT.
pub fn original_dst(stream: &TcpStream) -> io::Result<SocketAddr> {
    let local = stream.local_addr()?;
    let res = if local.is_ipv4() {
        getsockopt(stream, sockopt::OriginalDst).map(|sa| from_sockaddr_in(&sa))
    } else {
        getsockopt(stream, sockopt::Ip6tOriginalDst).map(|sa| from_sockaddr_in6(&sa))
    };
    res.map_err(io::Error::from)
}

/// Where a connection accepted in `mode` was going, or the metric reason to refuse it.
fn destination(stream: &TcpStream, mode: ListenerMode) -> Result<SocketAddr, &'static str> {
    let local = stream.local_addr().map_err(|_| "socket")?;
    match mode {
        ListenerMode::Explicit => Ok(local),
        ListenerMode::Transparent => match original_dst(stream) {
            // Not redirected: a client connected to the appliance port directly. Forwarding
            // it would claim the appliance itself as the destination; refuse instead.
            Ok(dst) if dst == local => Err("not_redirected"),
            Ok(dst) => Ok(SocketAddr::new(dst.ip().to_canonical(), dst.port())),
            Err(_) => Err("no_original_dst"),
        },
    }
}

/// Accepts on `listener` until `shutdown`; each connection gets a slot of the cap or is
/// closed at once (counted as `capacity`).
pub(crate) async fn serve_listener(
    listener: TcpListener,
    settings: ListenerSettings,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mode = settings.mode;
    loop {
        let accepted = tokio::select! {
            _ = crate::stop::stopped(&mut shutdown) => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = shared.limit.clone().try_acquire_owned() else {
            shared.metrics.rejected("capacity");
            continue;
        };
        shared.metrics.connection(mode.label());
        let dst = match destination(&stream, mode) {
            Ok(d) => d,
            Err(reason) => {
                shared.metrics.rejected(reason);
                continue;
            }
        };
        tokio::spawn(forward::handle(
            stream,
            SocketAddr::new(peer.ip().to_canonical(), peer.port()),
            dst,
            mode == ListenerMode::Transparent,
            settings.upstream.clone(),
            shared.clone(),
            permit,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_network_byte_order() {
        let mut sa = zeroed_in();
        sa.sin_family = nix::libc::AF_INET as nix::libc::sa_family_t;
        sa.sin_port = 8080u16.to_be();
        sa.sin_addr.s_addr = u32::from(Ipv4Addr::new(93, 184, 216, 34)).to_be();
        assert_eq!(
            from_sockaddr_in(&sa),
            "93.184.216.34:8080".parse().expect("literal")
        );
    }

    fn zeroed_in() -> nix::libc::sockaddr_in {
        nix::libc::sockaddr_in {
            sin_family: 0,
            sin_port: 0,
            sin_addr: nix::libc::in_addr { s_addr: 0 },
            sin_zero: [0; 8],
        }
    }

    #[tokio::test]
    async fn direct_connection_has_no_original_destination() {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let _c = TcpStream::connect(addr).await.expect("connect");
        let (s, _) = l.accept().await.expect("accept");
        // Without a NAT redirect the kernel has no original destination (or, when
        // conntrack tracks loopback, reports the listener itself): either way the
        // transparent listener must refuse rather than forward.
        match original_dst(&s) {
            Err(_) => {}
            Ok(dst) => assert_eq!(dst, addr),
        }
        assert!(destination(&s, ListenerMode::Transparent).is_err());
        assert_eq!(destination(&s, ListenerMode::Explicit), Ok(addr));
    }
}
