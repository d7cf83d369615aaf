//! The IP -> user session table fed by RADIUS accounting.
//!
//! Every intercepted connection looks its source IP up here, so reads dominate: a
//! `RwLock<HashMap>` held only for the lookup (never across an `.await`). Entries expire
//! when Interim-Updates stop arriving (the NAS or the session died without a Stop);
//! lookups ignore expired entries at once and a periodic sweep frees them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

/// One live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user (or the Calling-Station-Id for shared default names).
    pub user: Arc<str>,
    /// The group, from Filter-Id or Class, if any.
    pub group: Option<Arc<str>>,
    /// The NAS that reported it (NAS-IP-Address, else the packet's source).
    pub nas: IpAddr,
    /// Acct-Session-Id, to keep a late Stop from removing a newer session on a reused IP.
    pub session_id: Option<Box<str>>,
    /// When it expires without a further Interim-Update.
    pub expires: Instant,
}

/// A looked-up identity: user and optional group.
pub type UserGroup = (Arc<str>, Option<Arc<str>>);

/// The table. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct SessionTable {
    sessions: RwLock<HashMap<IpAddr, Session>>,
    timeout: Duration,
}

impl SessionTable {
    /// An empty table whose sessions expire `timeout` after their last update.
    pub fn new(timeout: Duration) -> Self {
        Self {
            sessions: RwLock::new(HashMap::new()),
            timeout,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<IpAddr, Session>> {
        self.sessions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Session>> {
        self.sessions.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Start or Interim-Update: insert or refresh the session for `ip`.
    pub fn upsert(
        &self,
        ip: IpAddr,
        user: &str,
        group: Option<&str>,
        nas: IpAddr,
        session_id: Option<&str>,
        now: Instant,
    ) {
        let ip = ip.to_canonical();
        let expires = now + self.timeout;
        let mut map = self.write();
        match map.get_mut(&ip) {
            // Refresh without reallocating when nothing changed (the Interim-Update case).
            Some(s)
                if &*s.user == user
                    && s.group.as_deref() == group
                    && s.nas == nas
                    && s.session_id.as_deref() == session_id =>
            {
                s.expires = expires;
            }
            _ => {
                map.insert(
                    ip,
                    Session {
                        user: user.into(),
                        group: group.map(Into::into),
                        nas,
                        session_id: session_id.map(Into::into),
                        expires,
                    },
                );
            }
        }
    }

    /// Stop: removes the session for `ip` unless it belongs to a different Acct-Session-Id.
    pub fn stop(&self, ip: IpAddr, session_id: Option<&str>) -> bool {
        let ip = ip.to_canonical();
        let mut map = self.write();
        let matches = match (map.get(&ip), session_id) {
            (Some(s), Some(id)) => s.session_id.as_deref().is_none_or(|own| own == id),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if matches {
            map.remove(&ip);
        }
        matches
    }

    /// Accounting-On/Off: removes every session reported by `nas`; returns how many.
    pub fn flush_nas(&self, nas: IpAddr) -> usize {
        let mut map = self.write();
        let before = map.len();
        map.retain(|_, s| s.nas != nas);
        before - map.len()
    }

    /// The live identity for `ip`, if any.
    pub fn lookup(&self, ip: IpAddr, now: Instant) -> Option<UserGroup> {
        let map = self.read();
        map.get(&ip.to_canonical())
            .filter(|s| s.expires > now)
            .map(|s| (s.user.clone(), s.group.clone()))
    }

    /// Drops expired sessions; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        let mut map = self.write();
        let before = map.len();
        map.retain(|_, s| s.expires > now);
        before - map.len()
    }

    /// Number of sessions held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("literal")
    }

    #[test]
    fn lifecycle() {
        let t = SessionTable::new(Duration::from_secs(60));
        let now = Instant::now();
        let nas = ip("192.0.2.1");
        t.upsert(ip("10.0.0.1"), "alice", Some("staff"), nas, Some("s1"), now);
        t.upsert(ip("10.0.0.2"), "bob", None, nas, None, now);
        t.upsert(ip("10.0.0.3"), "carol", None, ip("192.0.2.2"), None, now);
        let (u, g) = t.lookup(ip("10.0.0.1"), now).expect("present");
        assert_eq!((&*u, g.as_deref()), ("alice", Some("staff")));
        // Interim keeps it alive past the first deadline; a missing Interim expires it.
        t.upsert(
            ip("10.0.0.1"),
            "alice",
            Some("staff"),
            nas,
            Some("s1"),
            now + Duration::from_secs(50),
        );
        let later = now + Duration::from_secs(70);
        assert!(t.lookup(ip("10.0.0.1"), later).is_some());
        assert!(t.lookup(ip("10.0.0.2"), later).is_none());
        assert_eq!(t.sweep(later), 2);
        // A Stop for another session id leaves the current one alone.
        assert!(!t.stop(ip("10.0.0.1"), Some("old")));
        assert!(t.stop(ip("10.0.0.1"), Some("s1")));
        assert!(t.is_empty());
    }

    #[test]
    fn flush_only_that_nas_and_mapped_addresses() {
        let t = SessionTable::new(Duration::from_secs(60));
        let now = Instant::now();
        t.upsert(ip("10.0.0.1"), "a", None, ip("192.0.2.1"), None, now);
        t.upsert(ip("10.0.0.2"), "b", None, ip("192.0.2.2"), None, now);
        assert_eq!(t.flush_nas(ip("192.0.2.1")), 1);
        assert!(t.lookup(ip("::ffff:10.0.0.2"), now).is_some());
        assert_eq!(t.len(), 1);
    }
}
