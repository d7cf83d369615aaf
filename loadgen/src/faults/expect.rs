//! What a fault expects: each bound optional, each one present is checked by the
//! verdict. Parsed from `[faults.expect]` and validated with the rest of the profile
//! (every problem collected, named by its key).

use std::time::Duration;

use serde::Deserialize;

use crate::units::Written;

/// `[faults.expect]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    max_wait: Option<Written>,
    max_unavailable_wait: Option<Written>,
    max_p99: Option<Written>,
    max_recovery: Option<Written>,
    max_error_rate_outside: Option<f64>,
    window_status: Option<u16>,
    retry_after: Option<bool>,
    store_fail_mode: Option<String>,
    breaker_recovers: Option<bool>,
    slow_cut_within: Option<Written>,
    fd_slack: Option<u64>,
}

/// Which fail mode must have been counted by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Requests allowed with the default policy.
    Open,
    /// Requests refused with 503.
    Closed,
}

impl FailMode {
    /// The label value of `store_unavailable_total{mode=...}`.
    pub fn label(self) -> &'static str {
        match self {
            FailMode::Open => "open",
            FailMode::Closed => "closed",
        }
    }
}

/// The behaviour a fault expects; every `Some` is checked.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Expect {
    /// No request started in the fault window waits longer than this.
    pub max_wait: Option<Duration>,
    /// Every 503 in the window is answered within this (the pool's acquire timeout
    /// plus slack: exhaustion is answered, not hung on).
    pub max_unavailable_wait: Option<Duration>,
    /// p99 of requests started in the window (normal users keep their SLO).
    pub max_p99: Option<Duration>,
    /// Time from the fault's end until errors stay within budget.
    pub max_recovery: Option<Duration>,
    /// Error fraction allowed outside the window and its recovery.
    pub max_error_rate_outside: Option<f64>,
    /// At least one answer with this status inside the window.
    pub window_status: Option<u16>,
    /// Every 503 answer carries `Retry-After`.
    pub retry_after: Option<bool>,
    /// The store counted requests decided by this fail mode.
    pub store_fail_mode: Option<FailMode>,
    /// The Redis breaker opened during the window and closed again.
    pub breaker_recovers: Option<bool>,
    /// Every slow client is cut by the proxy within this time of connecting.
    pub slow_cut_within: Option<Duration>,
    /// Proxy fds after the fault at most this many above the baseline.
    pub fd_slack: Option<u64>,
}

impl RawExpect {
    /// Validates into an [`Expect`], pushing each problem (named under `prefix`).
    pub fn validate(&self, errors: &mut Vec<String>, prefix: &str) -> Expect {
        let e = self;
        let ekey = |k: &str| format!("{prefix}.{k}");
        let dur = |errors: &mut Vec<String>, k: &str, w: &Option<Written>| {
            w.as_ref().map(|w| {
                w.duration().unwrap_or_else(|msg| {
                    errors.push(format!("{}: {msg}", ekey(k)));
                    Duration::ZERO
                })
            })
        };
        let store_fail_mode = match e.store_fail_mode.as_deref() {
            None => None,
            Some("open") => Some(FailMode::Open),
            Some("closed") => Some(FailMode::Closed),
            Some(other) => {
                errors.push(format!(
                    "{}: `{other}` is not open or closed",
                    ekey("store_fail_mode")
                ));
                None
            }
        };
        if let Some(r) = e.max_error_rate_outside {
            if !(0.0..=1.0).contains(&r) {
                errors.push(format!(
                    "{}: must be between 0 and 1",
                    ekey("max_error_rate_outside")
                ));
            }
        }
        Expect {
            max_wait: dur(errors, "max_wait", &e.max_wait),
            max_unavailable_wait: dur(errors, "max_unavailable_wait", &e.max_unavailable_wait),
            max_p99: dur(errors, "max_p99", &e.max_p99),
            max_recovery: dur(errors, "max_recovery", &e.max_recovery),
            max_error_rate_outside: e.max_error_rate_outside,
            window_status: e.window_status,
            retry_after: e.retry_after,
            store_fail_mode,
            breaker_recovers: e.breaker_recovers,
            slow_cut_within: dur(errors, "slow_cut_within", &e.slow_cut_within),
            fd_slack: e.fd_slack,
        }
    }
}
