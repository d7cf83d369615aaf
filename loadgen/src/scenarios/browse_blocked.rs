//! `browse_blocked`: page loads of sites in categories blocked for every
//! group; expects the proxy's 403 HTML block page.

use goose::prelude::*;
use http::header;
use rand::Rng;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Via};
use super::user::{pace, state};
use crate::record::{Class, Outcome};

/// One blocked page load.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let i = state(user).rng.random_range(0..ctx.corpus.blocked.len());
    let rb = user
        .client
        .get(&ctx.corpus.blocked[i])
        .header(
            header::ACCEPT,
            "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
        )
        .header("sec-fetch-mode", "navigate");
    let mut done = fetch(user, rb, "blocked", Via::Goose, 403, BodyCheck::Keep).await?;
    let html = done.header("content-type").starts_with("text/html");
    done.require(html, Outcome::Headers);
    let page = String::from_utf8_lossy(&done.body).to_ascii_lowercase();
    done.require(page.contains("blocked"), Outcome::Body);
    finish(ctx, user, Class::Blocked, done, paced.then_some(intended)).await
}
