//! The simulated users of an appliance run: a name, a group and an address of their own.
//!
//! The appliance maps a connection's source address to a user, so every simulated user
//! needs a distinct source address. On Linux every 127.0.0.0/8 address reaches `lo`, so
//! user `i` binds its sockets to 127.1.0.0 + i + 1 (never 127.0.0.1, the appliance's own
//! address, which the proxy trusts to send PROXY headers).

use std::net::{IpAddr, Ipv4Addr};

/// First address of the users' range (exclusive).
const BASE: u32 = u32::from_be_bytes([127, 1, 0, 0]);

/// One simulated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// `User-Name` sent in RADIUS, expected at the origin.
    pub name: String,
    /// `Filter-Id` sent in RADIUS (the proxy's policy group).
    pub group: String,
    /// The user's source address.
    pub ip: IpAddr,
}

/// `count` users: every tenth a teacher, the rest students (the two groups of a school
/// day's mix); names say which range they belong to (`prefix`).
pub fn make(count: u64, offset: u64, prefix: &str) -> Vec<SimUser> {
    (offset..offset + count)
        .map(|i| {
            let teacher = i % 10 == 0;
            SimUser {
                name: format!(
                    "{prefix}-{}{i:05}",
                    if teacher { "teacher" } else { "pupil" }
                ),
                group: if teacher { "teachers" } else { "students" }.to_owned(),
                ip: IpAddr::V4(Ipv4Addr::from(BASE + i as u32 + 1)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_have_distinct_loopback_addresses_away_from_127_0_0_1() {
        let users = make(300, 0, "lg");
        let mut ips: Vec<_> = users.iter().map(|u| u.ip).collect();
        ips.sort();
        ips.dedup();
        assert_eq!(ips.len(), 300);
        assert!(ips
            .iter()
            .all(|ip| ip.is_loopback() && *ip != Ipv4Addr::LOCALHOST));
        assert_eq!(users[0].group, "teachers");
        assert_eq!(users[1].group, "students");
        assert_eq!(
            make(1, 300, "churn")[0].ip,
            IpAddr::V4(Ipv4Addr::new(127, 1, 1, 45))
        );
    }
}
