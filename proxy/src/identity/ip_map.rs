//! Longest-prefix match of a client address over a set of networks.
//!
//! Why this shape: a configured map has few distinct prefix lengths, so one hash probe per
//! distinct length (longest first) beats a trie in code size and is allocation-free.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

/// Networks of one address family, grouped by prefix length, longest first.
#[derive(Debug)]
struct Family<K, T> {
    by_len: Vec<(u8, HashMap<K, T>)>,
}

impl<K, T> Default for Family<K, T> {
    fn default() -> Self {
        Family { by_len: Vec::new() }
    }
}

impl<K: std::hash::Hash + Eq + Copy, T> Family<K, T> {
    fn insert(&mut self, len: u8, key: K, value: T) -> Option<T> {
        let slot = match self.by_len.iter().position(|(l, _)| *l <= len) {
            Some(i) if self.by_len[i].0 == len => i,
            Some(i) => {
                self.by_len.insert(i, (len, HashMap::new()));
                i
            }
            None => {
                self.by_len.push((len, HashMap::new()));
                self.by_len.len() - 1
            }
        };
        self.by_len[slot].1.insert(key, value)
    }

    fn lookup(&self, mask: impl Fn(u8) -> K) -> Option<&T> {
        self.by_len
            .iter()
            .find_map(|(len, map)| map.get(&mask(*len)))
    }
}

/// A map from networks to values with longest-prefix lookup. IPv4-mapped IPv6 client
/// addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
#[derive(Debug)]
pub struct IpMap<T> {
    v4: Family<u32, T>,
    v6: Family<u128, T>,
    len: usize,
}

impl<T> Default for IpMap<T> {
    fn default() -> Self {
        IpMap {
            v4: Family::default(),
            v6: Family::default(),
            len: 0,
        }
    }
}

/// Keeps the first `len` bits (`len == 0` keeps none).
fn mask_v4(addr: u32, len: u8) -> u32 {
    addr & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// Keeps the first `len` bits (`len == 0` keeps none).
fn mask_v6(addr: u128, len: u8) -> u128 {
    addr & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl<T> IpMap<T> {
    /// Inserts `net -> value`; returns the previous value of exactly that network.
    pub fn insert(&mut self, net: IpNet, value: T) -> Option<T> {
        let previous = match net.trunc() {
            IpNet::V4(n) => self
                .v4
                .insert(n.prefix_len(), u32::from(n.network()), value),
            IpNet::V6(n) => self
                .v6
                .insert(n.prefix_len(), u128::from(n.network()), value),
        };
        if previous.is_none() {
            self.len += 1;
        }
        previous
    }

    /// The value of the longest network containing `ip`.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<&T> {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let addr = u32::from(v4);
                self.v4.lookup(|len| mask_v4(addr, len))
            }
            IpAddr::V6(v6) => {
                let addr = u128::from(v6);
                self.v6.lookup(|len| mask_v6(addr, len))
            }
        }
    }

    /// Number of networks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the map holds no network.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test network parses")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address parses")
    }

    #[test]
    fn longest_prefix_wins() {
        let mut map = IpMap::default();
        map.insert(net("10.0.0.0/8"), "wide");
        map.insert(net("10.1.2.0/24"), "lab");
        map.insert(net("10.1.2.3/32"), "host");
        map.insert(net("0.0.0.0/0"), "anything");
        assert_eq!(map.lookup(ip("10.1.2.3")), Some(&"host"));
        assert_eq!(map.lookup(ip("10.1.2.4")), Some(&"lab"));
        assert_eq!(map.lookup(ip("10.9.9.9")), Some(&"wide"));
        assert_eq!(map.lookup(ip("192.0.2.1")), Some(&"anything"));
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn v6_and_mapped_v4() {
        let mut map = IpMap::default();
        map.insert(net("10.0.0.0/8"), "v4");
        map.insert(net("2001:db8::/32"), "v6");
        map.insert(net("2001:db8:1::/48"), "v6-narrow");
        assert_eq!(map.lookup(ip("::ffff:10.2.3.4")), Some(&"v4"));
        assert_eq!(map.lookup(ip("2001:db8:1::9")), Some(&"v6-narrow"));
        assert_eq!(map.lookup(ip("2001:db8:2::9")), Some(&"v6"));
        assert_eq!(map.lookup(ip("::1")), None);
        assert_eq!(map.lookup(ip("11.0.0.1")), None);
    }

    #[test]
    fn host_bits_are_ignored_and_duplicates_replace() {
        let mut map = IpMap::default();
        assert_eq!(map.insert(net("10.1.2.3/24"), 1), None);
        assert_eq!(map.insert(net("10.1.2.0/24"), 2), Some(1));
        assert_eq!(map.lookup(ip("10.1.2.200")), Some(&2));
        assert_eq!(map.len(), 1);
    }
}
