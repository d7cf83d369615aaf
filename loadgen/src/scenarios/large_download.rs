//! `large_download`: multi-MiB chunked downloads from allowed sites; expects
//! every byte.

use goose::prelude::*;
use rand::Rng;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Via};
use super::user::{pace, state};
use crate::record::Class;

/// One download.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let i = state(user).rng.random_range(0..ctx.corpus.downloads.len());
    let target = &ctx.corpus.downloads[i];
    let rb = user.client.get(&target.url);
    let done = fetch(
        user,
        rb,
        "download",
        Via::Goose,
        200,
        BodyCheck::Payload(target.size),
    )
    .await?;
    finish(ctx, user, Class::Download, done, paced.then_some(intended)).await
}
