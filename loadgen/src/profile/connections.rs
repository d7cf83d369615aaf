//! The `[connections]` table of a profile: the school-start storm (how many idle
//! keep-alive connections and idle tunnels open, how fast, how long they are held, how
//! many try beyond the cap), parsed strictly and validated with every problem named by
//! its key, like the rest of the profile. The profile's `users` are the active browsing
//! users measured during the storm.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::Written;

/// Most client connections a run opens: beyond this the 127.0.0.0/8 source addresses the
/// driver spreads them over, the fd limits and the machine's memory are the limit, not
/// the proxy.
pub const MAX_CONNECTIONS: u64 = 200_000;

/// The `[connections]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConnections {
    /// Idle keep-alive connections: one GET of 1 KiB each, then idle.
    keep_alive: u64,
    /// Idle CONNECT tunnels: a TLS handshake with the origin through each, then idle.
    tunnels: u64,
    /// Time in which each kind is opened (keep-alive first, then tunnels).
    ramp: Written,
    /// Time all of them are held open after the last one opened.
    hold: Written,
    /// Connections attempted once the cap is full; each should be refused.
    #[serde(default)]
    beyond_cap: u64,
    /// Time between two requests of one active user.
    active_interval: Written,
    /// Time between two samples of the proxy (connections, heap, RSS, fds).
    sample_interval: Written,
}

/// A validated `[connections]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionSettings {
    /// Idle keep-alive connections.
    pub keep_alive: u64,
    /// Idle tunnels.
    pub tunnels: u64,
    /// Time in which each kind is opened.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub ramp: Duration,
    /// Time all are held after the last opened.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub hold: Duration,
    /// Connections attempted beyond the cap.
    pub beyond_cap: u64,
    /// Time between two requests of one active user.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub active_interval: Duration,
    /// Time between two samples of the proxy.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub sample_interval: Duration,
}

impl ConnectionSettings {
    /// The time the storm needs: both ramps, a settling second after each, the hold and
    /// the attempts beyond the cap.
    pub fn storm_time(&self) -> Duration {
        self.ramp * 2 + self.hold + Duration::from_secs(4)
    }
}

impl RawConnections {
    /// Validates the table; `users` are the profile's active users and `duration` its
    /// length. Problems are pushed to `errors` as `connections.KEY: problem`.
    pub fn validate(
        self,
        users: u64,
        duration: Duration,
        errors: &mut Vec<String>,
    ) -> ConnectionSettings {
        let mut duration_of = |key: &str, w: &Written| match w.duration() {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("connections.{key}: {e}"));
                Duration::ZERO
            }
        };
        let settings = ConnectionSettings {
            keep_alive: self.keep_alive,
            tunnels: self.tunnels,
            ramp: duration_of("ramp", &self.ramp),
            hold: duration_of("hold", &self.hold),
            beyond_cap: self.beyond_cap,
            active_interval: duration_of("active_interval", &self.active_interval),
            sample_interval: duration_of("sample_interval", &self.sample_interval),
        };
        if settings.keep_alive == 0 || settings.tunnels == 0 {
            errors.push(
                "connections.keep_alive, connections.tunnels: each must be at least 1 (a cost per connection needs connections)"
                    .into(),
            );
        }
        let total = settings.keep_alive + settings.tunnels + settings.beyond_cap + users;
        if total > MAX_CONNECTIONS {
            errors.push(format!(
                "connections.keep_alive: keep_alive + tunnels + beyond_cap + users = {total} exceeds {MAX_CONNECTIONS}"
            ));
        }
        if settings.ramp < Duration::from_secs(1) {
            errors.push("connections.ramp: must be at least 1s".into());
        }
        if settings.hold < Duration::from_secs(1) {
            errors.push("connections.hold: must be at least 1s".into());
        }
        if settings.active_interval < Duration::from_millis(10) {
            errors.push("connections.active_interval: must be at least 10ms".into());
        }
        if settings.sample_interval < Duration::from_millis(100) {
            errors.push("connections.sample_interval: must be at least 100ms".into());
        }
        if duration < settings.storm_time() {
            errors.push(format!(
                "connections: the storm needs {} s (two ramps, hold, 4 s of settling and refusals), duration is {} s",
                settings.storm_time().as_secs(),
                duration.as_secs()
            ));
        }
        settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawConnections {
        toml::from_str(text).unwrap()
    }

    const GOOD: &str = "keep_alive = 100\ntunnels = 50\nramp = \"2s\"\nhold = \"2s\"\n\
                        beyond_cap = 10\nactive_interval = \"100ms\"\nsample_interval = \"250ms\"\n";

    #[test]
    fn a_good_table_validates() {
        let mut errors = Vec::new();
        let s = raw(GOOD).validate(5, Duration::from_secs(20), &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.storm_time(), Duration::from_secs(10));
    }

    #[test]
    fn every_problem_is_named() {
        let mut errors = Vec::new();
        raw(
            "keep_alive = 0\ntunnels = 1\nramp = \"0s\"\nhold = \"2s\"\n\
             active_interval = \"1ms\"\nsample_interval = \"250ms\"\n",
        )
        .validate(5, Duration::from_secs(3), &mut errors);
        let all = errors.join("\n");
        for key in ["keep_alive", "ramp", "active_interval", "the storm needs"] {
            assert!(all.contains(key), "{key} not in {all}");
        }
        assert!(toml::from_str::<RawConnections>(&format!("{GOOD}bogus = 1\n")).is_err());
    }
}
