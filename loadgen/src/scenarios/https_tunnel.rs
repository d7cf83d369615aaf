//! `https_tunnel`: HTTPS page loads through CONNECT to the TLS origin (the
//! client trusts the run's test CA); expects the exact payload.

use goose::prelude::*;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Via};
use super::user::{pace, state};
use crate::record::Class;

/// One HTTPS page load.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let rank = ctx.corpus.zipf_rank(&mut state(user).rng);
    let target = &ctx.corpus.allowed_https[rank];
    let rb = user.client.get(&target.url);
    let done = fetch(
        user,
        rb,
        "tunnel",
        Via::Goose,
        200,
        BodyCheck::Payload(target.size),
    )
    .await?;
    finish(ctx, user, Class::Tunnel, done, paced.then_some(intended)).await
}
