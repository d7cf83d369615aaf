//! `browse_allowed`: page loads of allowed sites, popularity Zipf-distributed
//! over the corpus, body sizes from the mix; expects the exact payload.

use goose::prelude::*;
use http::header;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Via};
use super::user::{pace, state};
use crate::record::Class;

/// One page load.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let rank = ctx.corpus.zipf_rank(&mut state(user).rng);
    let target = &ctx.corpus.allowed[rank];
    let rb = user
        .client
        .get(&target.url)
        .header(
            header::ACCEPT,
            "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
        )
        .header("sec-fetch-mode", "navigate");
    let done = fetch(
        user,
        rb,
        "allowed",
        Via::Goose,
        200,
        BodyCheck::Payload(target.size),
    )
    .await?;
    finish(ctx, user, Class::Allowed, done, paced.then_some(intended)).await
}
