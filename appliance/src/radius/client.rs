//! A small RADIUS accounting client: what a NAS does, for the load generator's
//! accounting stream (Start/Interim-Update/Stop for thousands of users) and for tests.
//!
//! One request in flight per client; each answer is checked against the request's
//! authenticator and the secret, and a lost datagram is retransmitted a bounded number of
//! times, as RFC 2866 clients do.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::codec::{encode_accounting_request, verify_accounting_response, MAX_PACKET_LEN};
use super::record::{attr, StatusType};

/// One accounting event to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountingEvent<'a> {
    /// Acct-Status-Type.
    pub status: StatusType,
    /// User-Name.
    pub user: Option<&'a str>,
    /// Framed-IP-Address (IPv4) or Framed-IPv6-Address.
    pub framed_ip: Option<IpAddr>,
    /// Acct-Session-Id.
    pub session_id: Option<&'a str>,
    /// Filter-Id, the group.
    pub filter_id: Option<&'a str>,
    /// Calling-Station-Id.
    pub calling_station_id: Option<&'a str>,
    /// NAS-IP-Address (IPv4 only, as in RFC 2865).
    pub nas_ip: Option<std::net::Ipv4Addr>,
}

impl<'a> AccountingEvent<'a> {
    /// An event of `status` with no attributes yet.
    pub fn new(status: StatusType) -> Self {
        Self {
            status,
            user: None,
            framed_ip: None,
            session_id: None,
            filter_id: None,
            calling_station_id: None,
            nas_ip: None,
        }
    }
}

/// Why an event was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket error.
    #[error("RADIUS client socket: {0}")]
    Io(#[from] std::io::Error),
    /// No valid Accounting-Response after every retry.
    #[error("no Accounting-Response after {0} tries")]
    NoResponse(u32),
}

/// An accounting client bound to one server.
#[derive(Debug)]
pub struct AccountingClient {
    socket: UdpSocket,
    secret: Arc<[u8]>,
    next_id: u8,
    timeout: Duration,
    tries: u32,
}

impl AccountingClient {
    /// Binds an ephemeral local port of `server`'s family and connects it to `server`.
    pub async fn connect(server: SocketAddr, secret: &[u8]) -> Result<Self, ClientError> {
        let local = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        Ok(Self {
            socket,
            secret: secret.into(),
            next_id: 0,
            timeout: Duration::from_secs(1),
            tries: 3,
        })
    }

    /// Sets the wait per try and the number of tries (at least one).
    pub fn with_retry(mut self, timeout: Duration, tries: u32) -> Self {
        self.timeout = timeout;
        self.tries = tries.max(1);
        self
    }

    /// Sends `event` and waits for its authentic Accounting-Response.
    pub async fn send(&mut self, event: &AccountingEvent<'_>) -> Result<(), ClientError> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let request = encode(id, event, &self.secret);
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        for _ in 0..self.tries {
            self.socket.send(&request).await?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await {
                    Err(_) => break,
                    // A refused port (ICMP) shows up as an error: count it as a lost try.
                    Ok(Err(_)) => break,
                    Ok(Ok(n)) => {
                        if verify_accounting_response(&buf[..n], &request, &self.secret) {
                            return Ok(());
                        }
                        // A late answer to an earlier request: keep waiting for ours.
                    }
                }
            }
        }
        Err(ClientError::NoResponse(self.tries))
    }
}

fn encode(id: u8, e: &AccountingEvent<'_>, secret: &[u8]) -> Vec<u8> {
    let status = e.status.code().to_be_bytes();
    let ip4;
    let ip6;
    let nas;
    let mut attrs: Vec<(u8, &[u8])> = vec![(attr::ACCT_STATUS_TYPE, &status)];
    if let Some(u) = e.user {
        attrs.push((attr::USER_NAME, u.as_bytes()));
    }
    match e.framed_ip {
        Some(IpAddr::V4(ip)) => {
            ip4 = ip.octets();
            attrs.push((attr::FRAMED_IP_ADDRESS, &ip4));
        }
        Some(IpAddr::V6(ip)) => {
            ip6 = ip.octets();
            attrs.push((attr::FRAMED_IPV6_ADDRESS, &ip6));
        }
        None => {}
    }
    if let Some(s) = e.session_id {
        attrs.push((attr::ACCT_SESSION_ID, s.as_bytes()));
    }
    if let Some(f) = e.filter_id {
        attrs.push((attr::FILTER_ID, f.as_bytes()));
    }
    if let Some(c) = e.calling_station_id {
        attrs.push((attr::CALLING_STATION_ID, c.as_bytes()));
    }
    if let Some(n) = e.nas_ip {
        nas = n.octets();
        attrs.push((attr::NAS_IP_ADDRESS, &nas));
    }
    encode_accounting_request(id, &attrs, secret)
}
