//! The Goose scenarios: one per kind of traffic a school sends through the proxy.
//!
//! Every scenario checks the answer it gets (a wrong answer is a failure, not
//! just a slow one) and records each request's time to first and last byte in
//! microseconds ([`crate::record`]). A simulated user takes an identity from
//! the roster in its on-start transaction and gets its own HTTP client: the
//! proxy with that user's `Proxy-Authorization`, trusting the origin's CA.

pub mod browse_allowed;
pub mod browse_blocked;
pub mod context;
pub mod cors_xhr;
pub mod exchange;
pub mod https_tunnel;
pub mod identity_check;
pub mod large_download;
mod user;

use std::sync::Arc;
use std::time::Duration;

use goose::prelude::*;

use crate::mix::Mix;

pub use context::{Route, RunContext};
pub use user::UserState;

/// Wraps `$f(&ctx, user)` into a Goose transaction holding the shared context.
macro_rules! with_ctx {
    ($ctx:expr, $f:path) => {{
        let ctx = Arc::clone($ctx);
        Transaction::new(Arc::new(move |user: &mut GooseUser| {
            let ctx = Arc::clone(&ctx);
            Box::pin(async move { $f(&ctx, user).await })
        }))
    }};
}

/// The scenario names that run on `route` (the others need the proxy).
pub fn runnable(name: &str, proxied: bool) -> bool {
    proxied || !matches!(name, "browse_blocked" | "identity_check")
}

/// Users per scenario for `users` simultaneous users: the weights' shares, rounded by
/// largest remainder so the counts add up to `users` exactly (a scenario whose share rounds
/// to no user is left out).
///
/// Why not hand Goose the mix's weights: Goose gives users to scenarios round-robin, one per
/// scenario per round until each has had its weight. With fewer users than the weights add
/// up to, the largest scenarios lose their share: the `ci` profile's 60 users of the school
/// day (weights 55/12/15/8/5/5) ran browse_allowed on 15 users instead of 33 and measured a
/// different mix than the one it names. Weights equal to the counts make Goose's rounds give
/// each scenario exactly its count.
pub fn apportion(weights: &[(String, u64)], users: u64) -> UserCounts {
    let total: u64 = weights.iter().map(|(_, w)| w).sum();
    if total == 0 || users == 0 {
        return Vec::new();
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|(_, w)| *w as f64 * users as f64 / total as f64)
        .collect();
    let mut counts: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut left = users - counts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; ties to the larger weight, then the name (deterministic).
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra)
            .then(weights[b].1.cmp(&weights[a].1))
            .then(weights[a].0.cmp(&weights[b].0))
    });
    for i in order {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    weights
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c > 0)
        .map(|((n, _), c)| (n.clone(), c))
        .collect()
}

/// The scenarios of a mix that run on this route, with their weights.
fn runnable_weights(ctx: &RunContext, mix: &Mix) -> Vec<(String, u64)> {
    mix.weights
        .iter()
        .filter(|(name, w)| {
            **w > 0 && runnable(name, ctx.proxied()) && SCENARIO_NAMES.contains(&name.as_str())
        })
        .map(|(n, w)| (n.clone(), *w))
        .collect()
}

/// Users per scenario, in mix order.
pub type UserCounts = Vec<(String, u64)>;

/// The scenario names this module builds.
const SCENARIO_NAMES: [&str; 6] = [
    "browse_allowed",
    "browse_blocked",
    "https_tunnel",
    "cors_xhr",
    "identity_check",
    "large_download",
];

/// Builds the Goose scenarios of a mix for `users` simultaneous users, each weighted with
/// its user count (see [`apportion`]); returns them with the counts.
pub fn build(
    ctx: &Arc<RunContext>,
    mix: &Mix,
    users: u64,
) -> Result<(Vec<Scenario>, UserCounts), GooseError> {
    let counts = apportion(&runnable_weights(ctx, mix), users);
    let mut out = Vec::new();
    for (name, count) in &counts {
        let main = match name.as_str() {
            "browse_allowed" => with_ctx!(ctx, browse_allowed::run),
            "browse_blocked" => with_ctx!(ctx, browse_blocked::run),
            "https_tunnel" => with_ctx!(ctx, https_tunnel::run),
            "cors_xhr" => with_ctx!(ctx, cors_xhr::run),
            "identity_check" => with_ctx!(ctx, identity_check::run),
            "large_download" => with_ctx!(ctx, large_download::run),
            _ => continue,
        };
        let mut scenario = Scenario::new(name)
            .set_weight(*count as usize)?
            .register_transaction(with_ctx!(ctx, user::start).set_name("start").set_on_start())
            .register_transaction(main.set_name(name));
        if ctx.pace_interval.is_none() && mix.think_max > Duration::ZERO {
            scenario = scenario.set_wait_time(mix.think_min, mix.think_max)?;
        }
        out.push(scenario);
    }
    Ok((out, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn school_day() -> Vec<(String, u64)> {
        [
            ("browse_allowed", 55),
            ("browse_blocked", 12),
            ("https_tunnel", 15),
            ("cors_xhr", 8),
            ("identity_check", 5),
            ("large_download", 5),
        ]
        .iter()
        .map(|(n, w)| (n.to_string(), *w))
        .collect()
    }

    #[test]
    fn sixty_users_get_the_mix_s_shares_and_add_up() {
        let got = apportion(&school_day(), 60);
        let want: Vec<(String, u64)> = [
            ("browse_allowed", 33),
            ("browse_blocked", 7),
            ("https_tunnel", 9),
            ("cors_xhr", 5),
            ("identity_check", 3),
            ("large_download", 3),
        ]
        .iter()
        .map(|(n, c)| (n.to_string(), *c))
        .collect();
        assert_eq!(got, want);
        assert_eq!(got.iter().map(|(_, c)| c).sum::<u64>(), 60);
    }

    #[test]
    fn every_user_count_adds_up_and_tiny_shares_drop_out() {
        for users in [1, 2, 7, 10, 99, 100, 101, 600, 1000] {
            let got = apportion(&school_day(), users);
            assert_eq!(got.iter().map(|(_, c)| c).sum::<u64>(), users, "{users}");
        }
        assert_eq!(
            apportion(&school_day(), 1),
            vec![("browse_allowed".to_string(), 1)]
        );
        assert_eq!(
            apportion(&school_day(), 600)[0],
            ("browse_allowed".to_string(), 330)
        );
        assert!(apportion(&[], 10).is_empty());
    }
}
