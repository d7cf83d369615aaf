//! The UDP accounting listener: authenticate each Accounting-Request with the NAS's
//! secret, apply it to the session table, answer Accounting-Response.
//!
//! Anything that is not an authentic, well-formed Accounting-Request from a configured
//! client is dropped without an answer and counted; nothing from the network can panic
//! this loop (the codec bounds-checks every length).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

use super::codec::{Packet, ACCOUNTING_REQUEST, MAX_PACKET_LEN};
use super::record::{AccountingRecord, StatusType};
use super::table::SessionTable;
use crate::metrics::ApplianceMetrics;

/// A NAS allowed to send accounting, and its shared secret.
#[derive(Clone)]
pub struct RadiusClient {
    /// Source addresses of the NAS.
    pub network: IpNet,
    /// The RADIUS shared secret.
    pub secret: Arc<[u8]>,
}

impl std::fmt::Debug for RadiusClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RadiusClient({}, secret redacted)", self.network)
    }
}

/// Which attribute carries the user's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupAttribute {
    /// Filter-Id (11).
    FilterId,
    /// Class (25).
    Class,
}

/// Validated listener settings.
#[derive(Debug, Clone)]
pub struct RadiusSettings {
    /// Configured NAS clients; the first matching network wins.
    pub clients: Vec<RadiusClient>,
    /// User-Names shared by many devices (e.g. `guest`): fall back to Calling-Station-Id.
    pub shared_user_names: Vec<String>,
    /// Group attributes to try, in order.
    pub group_from: Vec<GroupAttribute>,
    /// How often expired sessions are swept.
    pub sweep_interval: Duration,
}

/// What happened to one datagram (also the metric's `result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied and answered.
    Applied,
    /// Authentic but carried nothing to apply (answered so the NAS stops retrying).
    Ignored,
    /// Start/Interim without Framed-IP-Address (answered).
    MissingIp,
    /// Start/Interim without a usable user (answered).
    MissingUser,
    /// Source not a configured client (dropped).
    UnknownClient,
    /// Not a RADIUS packet, bad lengths (dropped).
    Malformed,
    /// A RADIUS packet, but not an Accounting-Request (dropped).
    NotAccounting,
    /// Authenticator does not match the secret (dropped).
    BadAuthenticator,
}

impl Outcome {
    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Applied => "ok",
            Self::Ignored => "ignored",
            Self::MissingIp => "missing_ip",
            Self::MissingUser => "missing_user",
            Self::UnknownClient => "unknown_client",
            Self::Malformed => "malformed",
            Self::NotAccounting => "not_accounting",
            Self::BadAuthenticator => "bad_authenticator",
        }
    }
}

/// The listener's state: settings, the table it feeds, metrics.
#[derive(Debug)]
pub struct RadiusListener {
    settings: RadiusSettings,
    table: Arc<SessionTable>,
    metrics: Arc<ApplianceMetrics>,
}

impl RadiusListener {
    /// Builds a listener feeding `table`.
    pub fn new(
        settings: RadiusSettings,
        table: Arc<SessionTable>,
        metrics: Arc<ApplianceMetrics>,
    ) -> Self {
        Self {
            settings,
            table,
            metrics,
        }
    }

    fn secret_for(&self, ip: IpAddr) -> Option<&[u8]> {
        let ip = ip.to_canonical();
        self.settings
            .clients
            .iter()
            .find(|c| c.network.contains(&ip))
            .map(|c| &*c.secret)
    }

    /// Handles one datagram; when it deserves an answer, writes it into `out` and
    /// returns true. Counts the outcome.
    pub fn handle(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> bool {
        let (kind, outcome) = self.classify(datagram, from, now, out);
        self.metrics.radius(kind, outcome.label());
        matches!(
            outcome,
            Outcome::Applied | Outcome::Ignored | Outcome::MissingIp | Outcome::MissingUser
        )
    }

    /// Verifies and applies one datagram; for an authentic request, writes the answer.
    fn classify(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> (&'static str, Outcome) {
        let Some(secret) = self.secret_for(from.ip()) else {
            return ("unknown", Outcome::UnknownClient);
        };
        let Ok(p) = Packet::decode(datagram) else {
            return ("unknown", Outcome::Malformed);
        };
        if p.code != ACCOUNTING_REQUEST {
            return ("unknown", Outcome::NotAccounting);
        }
        if !p.verify_accounting_request(secret) {
            return ("unknown", Outcome::BadAuthenticator);
        }
        let rec = AccountingRecord::from_packet(&p);
        let Some(status) = rec.status else {
            return ("unknown", Outcome::Malformed);
        };
        let outcome = self.apply(status, &rec, from.ip(), now);
        self.metrics.radius_sessions.set(self.table.len() as i64);
        p.accounting_response(secret, out);
        (status.label(), outcome)
    }

    fn apply(
        &self,
        status: StatusType,
        rec: &AccountingRecord<'_>,
        from: IpAddr,
        now: Instant,
    ) -> Outcome {
        let nas = rec.nas_ip.unwrap_or(from.to_canonical());
        match status {
            StatusType::Start | StatusType::InterimUpdate => {
                let Some(ip) = rec.framed_ip else {
                    return Outcome::MissingIp;
                };
                let Some(user) = self.user_of(rec) else {
                    return Outcome::MissingUser;
                };
                let group = self.settings.group_from.iter().find_map(|g| match g {
                    GroupAttribute::FilterId => rec.filter_id,
                    GroupAttribute::Class => rec.class,
                });
                self.table.upsert(ip, user, group, nas, rec.session_id, now);
                Outcome::Applied
            }
            StatusType::Stop => match rec.framed_ip {
                Some(ip) => {
                    self.table.stop(ip, rec.session_id);
                    Outcome::Applied
                }
                None => Outcome::MissingIp,
            },
            StatusType::AccountingOn | StatusType::AccountingOff => {
                self.table.flush_nas(nas);
                Outcome::Applied
            }
            StatusType::Other(_) => Outcome::Ignored,
        }
    }

    /// User-Name, unless it is a shared default: then Calling-Station-Id.
    fn user_of<'a>(&self, rec: &AccountingRecord<'a>) -> Option<&'a str> {
        let shared = |u: &str| {
            self.settings
                .shared_user_names
                .iter()
                .any(|s| s.eq_ignore_ascii_case(u))
        };
        match rec.user_name {
            Some(u) if !shared(u) => Some(u),
            _ => rec.calling_station_id,
        }
    }

    /// Receives until `shutdown` turns true; sweeps expired sessions on the way.
    pub async fn serve(self: Arc<Self>, socket: UdpSocket, mut shutdown: watch::Receiver<bool>) {
        let mut buf = vec![0u8; MAX_PACKET_LEN + 1];
        let mut out = Vec::with_capacity(64);
        let mut sweep = tokio::time::interval(self.settings.sweep_interval);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = crate::stop::stopped(&mut shutdown) => return,
                _ = sweep.tick() => {
                    self.table.sweep(Instant::now());
                    self.metrics.radius_sessions.set(self.table.len() as i64);
                }
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        if self.handle(&buf[..n], from, Instant::now(), &mut out) {
                            if let Err(e) = socket.send_to(&out, from).await {
                                tracing::debug!(%from, error = %e, "sending Accounting-Response");
                            }
                        }
                    }
                    // ICMP errors from earlier sends surface here on Linux; keep serving.
                    Err(e) => tracing::debug!(error = %e, "RADIUS recv"),
                },
            }
        }
    }
}
