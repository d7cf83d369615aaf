//! What an Accounting-Request says, in typed form (RFC 2866 attributes the appliance uses).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::codec::Packet;

/// Attribute numbers (RFC 2865, 2866, 3162).
pub mod attr {
    /// User-Name.
    pub const USER_NAME: u8 = 1;
    /// NAS-IP-Address.
    pub const NAS_IP_ADDRESS: u8 = 4;
    /// Framed-IP-Address.
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    /// Filter-Id.
    pub const FILTER_ID: u8 = 11;
    /// Class.
    pub const CLASS: u8 = 25;
    /// Calling-Station-Id.
    pub const CALLING_STATION_ID: u8 = 31;
    /// NAS-Identifier.
    pub const NAS_IDENTIFIER: u8 = 32;
    /// Acct-Status-Type.
    pub const ACCT_STATUS_TYPE: u8 = 40;
    /// Acct-Session-Id.
    pub const ACCT_SESSION_ID: u8 = 44;
    /// Framed-IPv6-Address (RFC 6911).
    pub const FRAMED_IPV6_ADDRESS: u8 = 168;
}

/// Acct-Status-Type values the appliance acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusType {
    /// A session began.
    Start,
    /// A session ended.
    Stop,
    /// A session is still alive.
    InterimUpdate,
    /// The NAS restarted: all its sessions are gone.
    AccountingOn,
    /// The NAS is going down: all its sessions are gone.
    AccountingOff,
    /// Anything else (acknowledged, ignored).
    Other(u32),
}

impl StatusType {
    fn from_u32(v: u32) -> Self {
        match v {
            1 => Self::Start,
            2 => Self::Stop,
            3 => Self::InterimUpdate,
            7 => Self::AccountingOn,
            8 => Self::AccountingOff,
            other => Self::Other(other),
        }
    }

    /// The Acct-Status-Type value.
    pub fn code(self) -> u32 {
        match self {
            Self::Start => 1,
            Self::Stop => 2,
            Self::InterimUpdate => 3,
            Self::AccountingOn => 7,
            Self::AccountingOff => 8,
            Self::Other(v) => v,
        }
    }

    /// Metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::InterimUpdate => "interim_update",
            Self::AccountingOn => "accounting_on",
            Self::AccountingOff => "accounting_off",
            Self::Other(_) => "other",
        }
    }
}

/// The typed content of one Accounting-Request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingRecord<'a> {
    /// Acct-Status-Type, if present and 4 bytes.
    pub status: Option<StatusType>,
    /// User-Name.
    pub user_name: Option<&'a str>,
    /// Calling-Station-Id (often the device MAC).
    pub calling_station_id: Option<&'a str>,
    /// Framed-IP-Address or Framed-IPv6-Address.
    pub framed_ip: Option<IpAddr>,
    /// Acct-Session-Id.
    pub session_id: Option<&'a str>,
    /// NAS-IP-Address.
    pub nas_ip: Option<IpAddr>,
    /// Filter-Id.
    pub filter_id: Option<&'a str>,
    /// Class.
    pub class: Option<&'a str>,
}

fn text(v: &[u8]) -> Option<&str> {
    std::str::from_utf8(v).ok().filter(|s| !s.is_empty())
}

fn ipv4(v: &[u8]) -> Option<IpAddr> {
    let b: [u8; 4] = v.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(b)))
}

impl<'a> AccountingRecord<'a> {
    /// Reads the attributes; malformed values (wrong size, not UTF-8) count as absent.
    pub fn from_packet(p: &Packet<'a>) -> Self {
        let mut r = Self {
            status: None,
            user_name: None,
            calling_station_id: None,
            framed_ip: None,
            session_id: None,
            nas_ip: None,
            filter_id: None,
            class: None,
        };
        for (t, v) in p.attributes() {
            match t {
                attr::ACCT_STATUS_TYPE => {
                    r.status = v
                        .try_into()
                        .ok()
                        .map(|b: [u8; 4]| StatusType::from_u32(u32::from_be_bytes(b)));
                }
                attr::USER_NAME => r.user_name = r.user_name.or(text(v)),
                attr::CALLING_STATION_ID => {
                    r.calling_station_id = r.calling_station_id.or(text(v));
                }
                attr::FRAMED_IP_ADDRESS => r.framed_ip = r.framed_ip.or(ipv4(v)),
                attr::FRAMED_IPV6_ADDRESS => {
                    let b: Option<[u8; 16]> = v.try_into().ok();
                    r.framed_ip = r.framed_ip.or(b.map(|b| IpAddr::V6(Ipv6Addr::from(b))));
                }
                attr::ACCT_SESSION_ID => r.session_id = r.session_id.or(text(v)),
                attr::NAS_IP_ADDRESS => r.nas_ip = r.nas_ip.or(ipv4(v)),
                attr::FILTER_ID => r.filter_id = r.filter_id.or(text(v)),
                attr::CLASS => r.class = r.class.or(text(v)),
                _ => {}
            }
        }
        r
    }
}
