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

/// The slowdown applied to every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slowdown {
    /// CPU time to burn, busy-waiting on the request's thread.
    pub burn: Duration,
    /// Extra heap allocations (each freed at once).
    pub allocs: u32,
    /// Rounds of fixed arithmetic.
    pub work: u64,
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

/// The per-request hook: applies the slowdown configured in the environment.
pub fn per_request() {
    SLOWDOWN.apply();
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
        let bad = Slowdown::from_lookup(|_| Some("lots".into()));
        assert_eq!(bad, Slowdown::default());
    }

    #[test]
    fn burns_at_least_the_configured_time() {
        let s = Slowdown {
            burn: Duration::from_micros(200),
            allocs: 3,
            work: 10,
        };
        let start = Instant::now();
        s.apply();
        assert!(start.elapsed() >= Duration::from_micros(200));
    }
}
