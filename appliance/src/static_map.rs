//! A static network -> user/group map for sites without RADIUS (a lab, a library PC
//! range). The most specific network wins; consulted after the RADIUS table.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use super::radius::table::UserGroup;

/// One static entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticEntry {
    /// Matching source addresses.
    pub network: IpNet,
    /// The user reported for them.
    pub user: Arc<str>,
    /// The group, if any.
    pub group: Option<Arc<str>>,
}

/// The map, sorted most specific first at load.
#[derive(Debug, Clone, Default)]
pub struct StaticMap {
    entries: Vec<StaticEntry>,
}

impl StaticMap {
    /// Builds the map; entries are ordered by prefix length, longest first.
    pub fn new(mut entries: Vec<StaticEntry>) -> Self {
        entries.sort_by_key(|e| std::cmp::Reverse(e.network.prefix_len()));
        Self { entries }
    }

    /// The identity for `ip`, if a network contains it.
    pub fn lookup(&self, ip: IpAddr) -> Option<UserGroup> {
        let ip = ip.to_canonical();
        self.entries
            .iter()
            .find(|e| e.network.contains(&ip))
            .map(|e| (e.user.clone(), e.group.clone()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_wins() {
        let e = |n: &str, u: &str| StaticEntry {
            network: n.parse().expect("literal"),
            user: u.into(),
            group: None,
        };
        let m = StaticMap::new(vec![e("10.0.0.0/8", "site"), e("10.1.2.0/24", "lab")]);
        assert_eq!(
            &*m.lookup("10.1.2.3".parse().expect("ip")).expect("hit").0,
            "lab"
        );
        assert_eq!(
            &*m.lookup("10.9.2.3".parse().expect("ip")).expect("hit").0,
            "site"
        );
        assert!(m.lookup("192.0.2.1".parse().expect("ip")).is_none());
    }
}
