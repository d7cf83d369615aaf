//! The `[appliance]` table of a profile: the RADIUS accounting stream and the keys of an
//! appliance run, parsed strictly (unknown keys refused) and validated with every problem
//! named by its key, like the rest of the profile.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::Written;

/// Most simulated users with an address of their own (127.1.0.1 upwards, one /16).
pub const MAX_USERS: u64 = 65_000;

/// The `[appliance]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAppliance {
    /// RADIUS shared secret between the load generator (the NAS) and the appliance.
    secret: String,
    /// Accounting-Requests per second the stream sends at most.
    radius_rate: f64,
    /// Time between two Interim-Updates of one user's session.
    interim_interval: Written,
    /// Extra sessions on addresses that send no traffic, started and stopped while the
    /// traffic runs (so Stop is exercised under load, not only at the end).
    #[serde(default)]
    churn_users: u64,
    /// The appliance's session expiry without an Interim-Update (default: three
    /// intervals).
    #[serde(default)]
    session_timeout: Option<Written>,
    /// Give the appliance a key that is not the proxy's: every header then fails the HMAC
    /// check and the run must fail. For the test that proves the proxy refuses.
    #[serde(default)]
    wrong_hmac_key: bool,
}

/// A validated `[appliance]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplianceSettings {
    /// RADIUS shared secret (not written into `run.json`).
    #[serde(skip_serializing)]
    pub secret: String,
    /// Accounting-Requests per second, at most.
    pub radius_rate: f64,
    /// Interim-Update period of each session.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub interim_interval: Duration,
    /// RADIUS-only sessions started and stopped during the traffic.
    pub churn_users: u64,
    /// The appliance's session expiry.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub session_timeout: Duration,
    /// The appliance holds a different HMAC key from the proxy (a run that must fail).
    pub wrong_hmac_key: bool,
}

impl RawAppliance {
    /// Validates the table; `users` is the profile's user count (each one gets an
    /// address). Problems are pushed to `errors` as `appliance.KEY: problem`.
    pub fn validate(self, users: u64, errors: &mut Vec<String>) -> ApplianceSettings {
        if self.secret.is_empty() {
            errors.push("appliance.secret: must not be empty".into());
        }
        if !(self.radius_rate > 0.0 && self.radius_rate.is_finite()) {
            errors.push(
                "appliance.radius_rate: must be a positive number of packets per second".into(),
            );
        }
        let mut duration_of = |key: &str, w: &Written| match w.duration() {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("appliance.{key}: {e}"));
                Duration::ZERO
            }
        };
        let interim = duration_of("interim_interval", &self.interim_interval);
        let timeout = self
            .session_timeout
            .as_ref()
            .map(|w| duration_of("session_timeout", w))
            .unwrap_or(interim * 3);
        if interim < Duration::from_secs(1) {
            errors.push("appliance.interim_interval: must be at least 1s".into());
        }
        if timeout <= interim {
            errors.push(
                "appliance.session_timeout: must be longer than interim_interval (sessions would expire between updates)"
                    .into(),
            );
        }
        if users + self.churn_users > MAX_USERS {
            errors.push(format!(
                "appliance.churn_users: users + churn_users = {} exceeds {MAX_USERS} addresses",
                users + self.churn_users
            ));
        }
        ApplianceSettings {
            secret: self.secret,
            radius_rate: self.radius_rate,
            interim_interval: interim,
            churn_users: self.churn_users,
            session_timeout: timeout,
            wrong_hmac_key: self.wrong_hmac_key,
        }
    }
}
