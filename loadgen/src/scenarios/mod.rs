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

/// Builds the weighted Goose scenarios of a mix.
pub fn build(ctx: &Arc<RunContext>, mix: &Mix) -> Result<Vec<Scenario>, GooseError> {
    let mut out = Vec::new();
    for (name, weight) in &mix.weights {
        if *weight == 0 || !runnable(name, ctx.proxied()) {
            continue;
        }
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
            .set_weight(*weight as usize)?
            .register_transaction(with_ctx!(ctx, user::start).set_name("start").set_on_start())
            .register_transaction(main.set_name(name));
        if ctx.pace_interval.is_none() && mix.think_max > Duration::ZERO {
            scenario = scenario.set_wait_time(mix.think_min, mix.think_max)?;
        }
        out.push(scenario);
    }
    Ok(out)
}
