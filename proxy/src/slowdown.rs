//! A deliberate, measured slowdown for proving the release gate (test builds only).
//!
//! The interleaved A/B gate claims it flags a 10 % CPU-per-request regression and one
//! extra allocation per request, and never cries wolf on identical builds. That claim is
//! only worth something if it is tested against regressions of a known size, so this
//! module, compiled only with the `gate-selftest` cargo feature, makes every request burn
//! `FILTER_PROXY_SELFTEST_BURN_US` microseconds of CPU, run
//! `FILTER_PROXY_SELFTEST_WORK` rounds of fixed arithmetic, and perform
//! `FILTER_PROXY_SELFTEST_ALLOCS` extra heap allocations. The time-based burn models a
//! regression measured in CPU seconds; the work rounds model one measured in instructions
//! (under an instruction counter such as callgrind a time-based spin runs far fewer
//! iterations, so only a fixed amount of work adds a known number of instructions). All
//! are read once from the
//! environment (on the first request, before any work is done for it) and default to 0,
//! so a feature build without the variables behaves like the release build. Without the
//! feature the module does not exist and the request path has no hook at all.
//!
//! `FILTER_PROXY_SELFTEST_SCOPE` confines the slowdown to one request path: `tunnel`
//! (CONNECT requests, where tunnels are set up), `http` (every other request) or `all`
//! (the default). A regression confined to one path is what a per-class gate exists to
//! catch: the mix-weighted headline dilutes a +10 % on tunnels (15 % of the school day)
//! to +1.5 %. An unknown scope slows nothing, so a typo shows up as a self-test that
//! detects nothing rather than one that slows the wrong path.
//!
//! `FILTER_PROXY_SELFTEST_DELAY_US` adds latency, not CPU: the request waits that long
//! before it is handled while the event loop serves others, for calibrating a latency
//! gate against a known added delay. It respects the scope. The wait is a thread sleep
//! on tokio's blocking pool, not a tokio timer: the timer wheel counts whole
//! milliseconds and rounds a deadline up, so a 1.4 ms timer waits 1.4 to 2.4 ms and a
//! "+20% p99" candidate would really add 30-45%; a thread sleep overshoots by the
//! kernel's timer slack (about 50 µs).

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Environment variable: microseconds of CPU to burn per request.
pub const BURN_US_VAR: &str = "FILTER_PROXY_SELFTEST_BURN_US";
/// Environment variable: extra heap allocations per request.
pub const ALLOCS_VAR: &str = "FILTER_PROXY_SELFTEST_ALLOCS";
/// Environment variable: rounds of fixed arithmetic per request. A round is one 64-bit
/// LCG step (a multiply and an add) kept opaque to the optimiser, plus the loop's own
/// increment, compare and branch: a handful of instructions. The self-test sizes a
/// slowdown from this and then reports the effect it measured, not the intended one.
pub const WORK_VAR: &str = "FILTER_PROXY_SELFTEST_WORK";
/// Environment variable: microseconds of asynchronous sleep per request (added latency,
/// no CPU).
pub const DELAY_US_VAR: &str = "FILTER_PROXY_SELFTEST_DELAY_US";
/// Environment variable: which requests are slowed (`all`, `tunnel`, `http`).
pub const SCOPE_VAR: &str = "FILTER_PROXY_SELFTEST_SCOPE";

/// The path a request takes through the proxy, as far as the scope is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestPath {
    /// A CONNECT request: the tunnel's set-up.
    Tunnel,
    /// Any other request (forwarded, blocked, answered by the proxy).
    Http,
}

impl RequestPath {
    /// The path of a request with `method`.
    pub fn of(method: &http::Method) -> Self {
        if method == http::Method::CONNECT {
            RequestPath::Tunnel
        } else {
            RequestPath::Http
        }
    }
}

/// Which requests the slowdown applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every request.
    #[default]
    All,
    /// CONNECT requests only.
    Tunnel,
    /// Every request but CONNECT.
    Http,
    /// None (an unknown scope name).
    Nothing,
}

impl Scope {
    /// Parses a scope; unset or empty is [`Scope::All`], an unknown name
    /// [`Scope::Nothing`].
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("") | Some("all") => Scope::All,
            Some("tunnel") => Scope::Tunnel,
            Some("http") => Scope::Http,
            Some(_) => Scope::Nothing,
        }
    }

    /// Whether a request on `path` is slowed.
    pub fn covers(self, path: RequestPath) -> bool {
        match self {
            Scope::All => true,
            Scope::Tunnel => path == RequestPath::Tunnel,
            Scope::Http => path == RequestPath::Http,
            Scope::Nothing => false,
        }
    }
}

/// The slowdown applied to every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slowdown {
    /// CPU time to burn, busy-waiting on the request's thread.
    pub burn: Duration,
    /// Extra heap allocations (each freed at once).
    pub allocs: u32,
    /// Rounds of fixed arithmetic.
    pub work: u64,
    /// Asynchronous sleep before the request is handled.
    pub delay: Duration,
    /// Which requests all of the above applies to.
    pub scope: Scope,
}

impl Slowdown {
    /// Reads the slowdown from a variable lookup; unset or unparsable values are 0
    /// (a test build must never slow down by accident of a typo, and a typo shows up
    /// as a self-test that fails to detect anything).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let num = |name: &str| -> u64 {
            get(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Self {
            burn: Duration::from_micros(num(BURN_US_VAR)),
            allocs: u32::try_from(num(ALLOCS_VAR)).unwrap_or(u32::MAX),
            work: num(WORK_VAR),
            delay: Duration::from_micros(num(DELAY_US_VAR)),
            scope: Scope::parse(get(SCOPE_VAR).as_deref()),
        }
    }

    /// Applies the slowdown once.
    pub fn apply(&self) {
        for i in 0..self.allocs {
            // black_box keeps the allocation: the optimiser may not elide an allocation
            // whose pointer escapes to an opaque function.
            drop(black_box(Box::new(black_box(i))));
        }
        let mut x = black_box(self.work);
        for _ in 0..self.work {
            x = black_box(
                x.wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407),
            );
        }
        black_box(x);
        if !self.burn.is_zero() {
            let start = Instant::now();
            while start.elapsed() < self.burn {
                std::hint::spin_loop();
            }
        }
    }
}

static SLOWDOWN: LazyLock<Slowdown> =
    LazyLock::new(|| Slowdown::from_lookup(|name| std::env::var(name).ok()));

/// The per-request hook: applies the CPU part of the slowdown configured in the
/// environment to a request on `path` (if the scope covers it) and returns the delay the
/// request is to sleep (zero if none or not covered); see [`delay`].
pub fn per_request(path: RequestPath) -> Duration {
    let s = &*SLOWDOWN;
    if !s.scope.covers(path) {
        return Duration::ZERO;
    }
    s.apply();
    s.delay
}

/// Waits `delay` without holding the event loop (nothing when zero, so a build without
/// the variable does not even touch the blocking pool).
pub async fn delay(delay: Duration) {
    if !delay.is_zero() {
        // A sleep that cannot run (the pool shut down) is no wait; the request goes on.
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_variables_and_defaults_to_nothing() {
        let none = Slowdown::from_lookup(|_| None);
        assert_eq!(none, Slowdown::default());
        let set = Slowdown::from_lookup(|name| match name {
            BURN_US_VAR => Some("25".into()),
            ALLOCS_VAR => Some(" 2 ".into()),
            WORK_VAR => Some("1000".into()),
            _ => None,
        });
        assert_eq!(set.burn, Duration::from_micros(25));
        assert_eq!(set.allocs, 2);
        assert_eq!(set.work, 1000);
        assert_eq!(set.delay, Duration::ZERO);
        assert_eq!(set.scope, Scope::All);
        let bad = Slowdown::from_lookup(|name| (name != SCOPE_VAR).then(|| "lots".into()));
        assert_eq!(bad, Slowdown::default());
    }

    #[test]
    fn reads_the_delay_and_the_scope() {
        let s = Slowdown::from_lookup(|name| match name {
            DELAY_US_VAR => Some("1500".into()),
            SCOPE_VAR => Some(" Tunnel ".into()),
            WORK_VAR => Some("10".into()),
            _ => None,
        });
        assert_eq!(s.delay, Duration::from_micros(1500));
        assert_eq!(s.scope, Scope::Tunnel);
        assert_eq!(s.work, 10);
        assert_eq!(Scope::parse(None), Scope::All);
        assert_eq!(Scope::parse(Some("")), Scope::All);
        assert_eq!(Scope::parse(Some("all")), Scope::All);
        assert_eq!(Scope::parse(Some("http")), Scope::Http);
        assert_eq!(
            Scope::parse(Some("tunel")),
            Scope::Nothing,
            "a typo slows nothing"
        );
    }

    #[test]
    fn the_scope_picks_the_requests_it_covers() {
        use RequestPath::{Http, Tunnel};
        assert_eq!(RequestPath::of(&http::Method::CONNECT), Tunnel);
        assert_eq!(RequestPath::of(&http::Method::GET), Http);
        assert_eq!(RequestPath::of(&http::Method::OPTIONS), Http);
        assert!(Scope::All.covers(Tunnel) && Scope::All.covers(Http));
        assert!(Scope::Tunnel.covers(Tunnel) && !Scope::Tunnel.covers(Http));
        assert!(Scope::Http.covers(Http) && !Scope::Http.covers(Tunnel));
        assert!(!Scope::Nothing.covers(Tunnel) && !Scope::Nothing.covers(Http));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_delay_waits_while_the_event_loop_serves_others() {
        let wait = Duration::from_millis(200);
        let start = Instant::now();
        // A task on the same single-threaded loop runs to completion during the wait:
        // the delay does not hold the loop.
        let other = tokio::spawn(async { Instant::now() });
        delay(wait).await;
        let waited = start.elapsed();
        assert!(waited >= wait, "waited {waited:?}");
        let other_ran_at = other.await.unwrap();
        assert!(
            other_ran_at - start < wait,
            "the other task waited for the delay"
        );
        let start = Instant::now();
        delay(Duration::ZERO).await;
        assert!(start.elapsed() < wait);
    }

    #[test]
    fn burns_at_least_the_configured_time() {
        let s = Slowdown {
            burn: Duration::from_micros(200),
            allocs: 3,
            work: 10,
            ..Slowdown::default()
        };
        let start = Instant::now();
        s.apply();
        assert!(start.elapsed() >= Duration::from_micros(200));
    }
}
