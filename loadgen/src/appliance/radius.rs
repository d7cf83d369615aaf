//! The RADIUS accounting stream of an appliance run: the load generator plays the NAS
//! (the Wi-Fi controller) and tells the appliance who is behind each address.
//!
//! Every traffic user gets a Start before any traffic, an Interim-Update every
//! `interim_interval` while the traffic runs, and a Stop at the end; churn users (addresses
//! that send no traffic) start and stop sessions throughout, so Stops are handled under
//! load too. Packets go out at no more than `radius_rate` per second from one UDP socket;
//! each answer is checked (identifier, Response Authenticator under the shared secret)
//! and counted per packet type. There are no retries: an unanswered packet is counted.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde::Serialize;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::users::SimUser;

const ACCOUNTING_REQUEST: u8 = 4;
const ACCOUNTING_RESPONSE: u8 = 5;
const USER_NAME: u8 = 1;
const NAS_IP_ADDRESS: u8 = 4;
const FRAMED_IP_ADDRESS: u8 = 8;
const FILTER_ID: u8 = 11;
const ACCT_STATUS_TYPE: u8 = 40;
const ACCT_SESSION_ID: u8 = 44;

/// The Accounting-Request types the stream sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Acct-Status-Type 1.
    Start,
    /// Acct-Status-Type 3.
    Interim,
    /// Acct-Status-Type 2.
    Stop,
}

impl Kind {
    fn status_type(self) -> u32 {
        match self {
            Kind::Start => 1,
            Kind::Stop => 2,
            Kind::Interim => 3,
        }
    }

    /// Label in `run.json`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Interim => "interim",
            Kind::Stop => "stop",
        }
    }
}

/// What the stream sent and what came back.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RadiusCounts {
    /// Requests sent, by type.
    pub sent: BTreeMap<&'static str, u64>,
    /// Valid Accounting-Responses, by type.
    pub acked: BTreeMap<&'static str, u64>,
    /// Requests never answered (identifier reused or the stream ended first).
    pub unanswered: u64,
    /// Answers that did not verify or matched no request.
    pub bad_answers: u64,
    /// Interim-Updates and churn packets sent more than one second after they were due
    /// (the rate cap is too low for the schedule; the bulk Start and Stop phases at the
    /// edges are paced by design and not counted).
    pub late: u64,
}

impl RadiusCounts {
    /// Requests sent of all types.
    pub fn sent_total(&self) -> u64 {
        self.sent.values().sum()
    }

    /// Answers of all types.
    pub fn acked_total(&self) -> u64 {
        self.acked.values().sum()
    }
}

/// Encodes an Accounting-Request (RFC 2866: the Request Authenticator is the MD5 of the
/// packet with a zero authenticator, followed by the secret). Written here, not borrowed
/// from the proxy's codec on purpose: the load generator plays an independent NAS, so a
/// mistake in the proxy's encoding cannot hide by being made on both sides.
pub fn encode_request(identifier: u8, attributes: &[(u8, &[u8])], secret: &[u8]) -> Vec<u8> {
    let mut p = vec![ACCOUNTING_REQUEST, identifier, 0, 0];
    p.extend_from_slice(&[0u8; 16]);
    for (t, v) in attributes {
        let v = &v[..v.len().min(253)];
        p.push(*t);
        p.push((v.len() + 2) as u8);
        p.extend_from_slice(v);
    }
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    let mut h = Md5::new();
    h.update(&p);
    h.update(secret);
    let auth: [u8; 16] = h.finalize().into();
    p[4..20].copy_from_slice(&auth);
    p
}

/// Whether `response` is a valid Accounting-Response to a request with
/// `request_auth` under `secret`.
pub fn verify_response(response: &[u8], request_auth: &[u8; 16], secret: &[u8]) -> bool {
    if response.len() < 20 || response[0] != ACCOUNTING_RESPONSE {
        return false;
    }
    let len = u16::from_be_bytes([response[2], response[3]]) as usize;
    if len < 20 || len > response.len() {
        return false;
    }
    let mut h = Md5::new();
    h.update(&response[..4]);
    h.update(request_auth);
    h.update(&response[20..len]);
    h.update(secret);
    let expected: [u8; 16] = h.finalize().into();
    expected[..] == response[4..20]
}

/// One session event of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Due {
    at: Instant,
    kind: Kind,
    user: usize,
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Earliest first out of the max-heap.
        other.at.cmp(&self.at).then(other.user.cmp(&self.user))
    }
}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct Pending {
    kind: Kind,
    auth: [u8; 16],
}

/// The NAS side: one socket towards the appliance's RADIUS listener.
pub struct RadiusStream {
    socket: Arc<UdpSocket>,
    secret: Arc<[u8]>,
    gap: Duration,
    next_send: Instant,
    next_id: u8,
    /// Session generation per user (a restarted churn session gets a new id).
    generation: Vec<u32>,
    pending: Arc<Mutex<HashMap<u8, Pending>>>,
    counts: Arc<Mutex<RadiusCounts>>,
    receiver: tokio::task::JoinHandle<()>,
}

impl RadiusStream {
    /// Binds a socket on 127.0.0.1 towards the appliance's RADIUS address.
    pub async fn connect(
        appliance: SocketAddr,
        secret: &str,
        rate: f64,
        users: usize,
    ) -> std::io::Result<Self> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        socket.connect(appliance).await?;
        let socket = Arc::new(socket);
        let secret: Arc<[u8]> = secret.as_bytes().into();
        let pending: Arc<Mutex<HashMap<u8, Pending>>> = Arc::default();
        let counts: Arc<Mutex<RadiusCounts>> = Arc::default();
        let receiver = tokio::spawn(receive(
            socket.clone(),
            secret.clone(),
            pending.clone(),
            counts.clone(),
        ));
        Ok(Self {
            socket,
            secret,
            gap: Duration::from_secs_f64(1.0 / rate),
            next_send: Instant::now(),
            next_id: 0,
            generation: vec![0; users],
            pending,
            counts,
            receiver,
        })
    }

    /// Sends one request for `user`, paced to the stream's rate.
    async fn send(&mut self, user: &SimUser, index: usize, kind: Kind, due: Option<Instant>) {
        let now = Instant::now();
        if self.next_send > now {
            tokio::time::sleep_until(self.next_send.into()).await;
        }
        self.next_send = self.next_send.max(now) + self.gap;
        let late = |due: Instant| Instant::now().saturating_duration_since(due);
        if due.is_some_and(|due| late(due) > Duration::from_secs(1)) {
            self.counts.lock().expect("counts lock").late += 1;
        }
        if kind == Kind::Start {
            self.generation[index] += 1;
        }
        let session = format!("lg-{index}-{}", self.generation[index]);
        let ip = match user.ip {
            std::net::IpAddr::V4(v4) => v4.octets(),
            std::net::IpAddr::V6(_) => unreachable!("simulated users have IPv4 addresses"),
        };
        let attributes: [(u8, &[u8]); 6] = [
            (ACCT_STATUS_TYPE, &kind.status_type().to_be_bytes()),
            (USER_NAME, user.name.as_bytes()),
            (FRAMED_IP_ADDRESS, &ip),
            (ACCT_SESSION_ID, session.as_bytes()),
            (FILTER_ID, user.group.as_bytes()),
            (NAS_IP_ADDRESS, &Ipv4Addr::LOCALHOST.octets()),
        ];
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let packet = encode_request(id, &attributes, &self.secret);
        let mut auth = [0u8; 16];
        auth.copy_from_slice(&packet[4..20]);
        {
            let mut pending = self.pending.lock().expect("pending lock");
            if pending.insert(id, Pending { kind, auth }).is_some() {
                self.counts.lock().expect("counts lock").unanswered += 1;
            }
        }
        *self
            .counts
            .lock()
            .expect("counts lock")
            .sent
            .entry(kind.label())
            .or_default() += 1;
        if self.socket.send(&packet).await.is_err() {
            // Counted as sent and, in the end, unanswered.
        }
    }

    /// Starts a session for every user, then waits (up to `wait`) for the answers.
    pub async fn start_all(&mut self, users: &[SimUser], wait: Duration) {
        for (i, u) in users.iter().enumerate() {
            self.send(u, i, Kind::Start, None).await;
        }
        self.settle(wait).await;
    }

    /// Stops every user's session (the end of the school day), then waits for answers.
    pub async fn stop_all(&mut self, users: &[SimUser], wait: Duration) {
        for (i, u) in users.iter().enumerate() {
            self.send(u, i, Kind::Stop, None).await;
        }
        self.settle(wait).await;
    }

    /// Interim-Updates for `users[..traffic]` every `interval`, and Start/Stop cycles of
    /// half an interval each for `users[traffic..]`, until `stop` turns true. Churn
    /// sessions still open at the end are stopped.
    pub async fn run_updates(
        &mut self,
        users: &[SimUser],
        traffic: usize,
        interval: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let start = Instant::now();
        let mut heap = BinaryHeap::new();
        let spread = |i: usize, n: usize| interval.mul_f64(i as f64 / n.max(1) as f64);
        for i in 0..traffic {
            heap.push(Due {
                at: start + spread(i, traffic) + interval / 2,
                kind: Kind::Interim,
                user: i,
            });
        }
        let churn = users.len() - traffic;
        for j in 0..churn {
            heap.push(Due {
                at: start + spread(j, churn),
                kind: Kind::Start,
                user: traffic + j,
            });
        }
        let mut open = vec![false; users.len()];
        while let Some(due) = heap.pop() {
            tokio::select! {
                _ = tokio::time::sleep_until(due.at.into()) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if *stop.borrow() {
                break;
            }
            self.send(&users[due.user], due.user, due.kind, Some(due.at))
                .await;
            let (next_kind, after) = match due.kind {
                Kind::Interim => (Kind::Interim, interval),
                Kind::Start => (Kind::Stop, interval / 2),
                Kind::Stop => (Kind::Start, interval / 2),
            };
            open[due.user] = due.kind == Kind::Start;
            heap.push(Due {
                at: due.at + after,
                kind: next_kind,
                user: due.user,
            });
        }
        for (i, u) in users.iter().enumerate().skip(traffic) {
            if open[i] {
                self.send(u, i, Kind::Stop, None).await;
            }
        }
    }

    /// Waits until every request is answered or `wait` passes.
    async fn settle(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && !self.pending.lock().expect("pending lock").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Current counts (unanswered excludes requests still in flight).
    pub fn counts(&self) -> RadiusCounts {
        self.counts.lock().expect("counts lock").clone()
    }

    /// Waits for the last answers and returns the final counts.
    pub async fn finish(self, wait: Duration) -> RadiusCounts {
        self.settle(wait).await;
        self.receiver.abort();
        let left = self.pending.lock().expect("pending lock").len() as u64;
        let mut counts = self.counts.lock().expect("counts lock").clone();
        counts.unanswered += left;
        counts
    }
}

async fn receive(
    socket: Arc<UdpSocket>,
    secret: Arc<[u8]>,
    pending: Arc<Mutex<HashMap<u8, Pending>>>,
    counts: Arc<Mutex<RadiusCounts>>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok(n) = socket.recv(&mut buf).await else {
            // ICMP port unreachable surfaces as an error on a connected socket: keep going.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let answer = &buf[..n];
        let matched = answer.get(1).and_then(|id| {
            let mut p = pending.lock().expect("pending lock");
            match p.get(id) {
                Some(req) if verify_response(answer, &req.auth, &secret) => p.remove(id),
                _ => None,
            }
        });
        let mut c = counts.lock().expect("counts lock");
        match matched {
            Some(req) => *c.acked.entry(req.kind.label()).or_default() += 1,
            None => c.bad_answers += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_authenticator_follows_rfc_2866() {
        let p = encode_request(7, &[(USER_NAME, b"pupil")], b"secret");
        assert_eq!((p[0], p[1], p.len()), (4, 7, 27));
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 27);
        let mut zeroed = p.clone();
        zeroed[4..20].fill(0);
        let mut h = Md5::new();
        h.update(&zeroed);
        h.update(b"secret");
        assert_eq!(&p[4..20], &h.finalize()[..]);
    }

    #[test]
    fn a_response_verifies_only_under_the_right_secret() {
        let auth = [3u8; 16];
        let mut resp = vec![ACCOUNTING_RESPONSE, 9, 0, 20];
        let mut h = Md5::new();
        h.update(&resp);
        h.update(auth);
        h.update(b"s3cret");
        resp.extend_from_slice(&h.finalize());
        assert!(verify_response(&resp, &auth, b"s3cret"));
        assert!(!verify_response(&resp, &auth, b"other"));
        assert!(!verify_response(&resp[..19], &auth, b"s3cret"));
    }
}
