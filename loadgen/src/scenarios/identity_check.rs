//! `identity_check`: the origin's `/echo/headers` must show the identity
//! headers of the user the request was sent as, and never the client's
//! credentials; a second request tries to spoof the identity headers and
//! expects them replaced.

use goose::prelude::*;
use rand::Rng;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Done, Via};
use super::user::{pace, state};
use crate::record::{Class, Outcome};
use crate::roster::Identity;

/// Identity header names the proxy injects upstream.
const USER_HEADER: &str = "x-filter-user";
const GROUP_HEADER: &str = "x-filter-group";

/// An honest request, then a spoofing one.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let (identity, i) = {
        let st = state(user);
        (
            st.identity.clone(),
            st.rng.random_range(0..ctx.corpus.identity.len()),
        )
    };
    let url = &ctx.corpus.identity[i];

    let rb = user.client.get(url).header("accept", "application/json");
    let mut done = fetch(user, rb, "identity", Via::Goose, 200, BodyCheck::Keep).await?;
    check(&mut done, &identity);
    finish(ctx, user, Class::Identity, done, paced.then_some(intended)).await?;

    // Paced runs schedule every request, not every transaction.
    let (sent, paced) = pace(ctx, user).await;
    let rb = user
        .client
        .get(url)
        .header("accept", "application/json")
        .header(USER_HEADER, "spoofed-admin")
        .header(GROUP_HEADER, "staff");
    let mut done = fetch(user, rb, "identity-spoof", Via::Goose, 200, BodyCheck::Keep).await?;
    check(&mut done, &identity);
    finish(ctx, user, Class::Identity, done, paced.then_some(sent)).await
}

/// The echoed headers must carry exactly this user and group, and no
/// `Proxy-Authorization`.
fn check(done: &mut Done, identity: &Identity) {
    let Ok(echo) = serde_json::from_slice::<serde_json::Value>(&done.body) else {
        done.require(false, Outcome::Body);
        return;
    };
    let headers = &echo["headers"];
    let user_ok = headers[USER_HEADER].as_str() == Some(identity.user.as_str());
    let group_ok = headers[GROUP_HEADER].as_str() == Some(identity.group.as_str());
    let no_credentials = headers.get("proxy-authorization").is_none();
    done.require(user_ok && group_ok && no_credentials, Outcome::Headers);
}
