//! `cors_xhr`: a web application's cross-origin requests: a preflight
//! `OPTIONS`, then the POST or GET, to allowed hosts (the origin answers, with
//! its CORS headers) and to blocked ones (the proxy grants the preflight, then
//! answers the request with a readable JSON 403, with CORS headers so the page's
//! script can show why).

use goose::prelude::*;
use http::{header, Method};
use rand::Rng;

use super::context::RunContext;
use super::exchange::{fetch, finish, BodyCheck, Done, Via};
use super::user::{pace, state};
use crate::record::{Class, Outcome};

/// Share of CORS exchanges aimed at blocked hosts (proxied runs only).
const BLOCKED_SHARE: f64 = 0.25;

/// One preflight and request.
pub async fn run(ctx: &RunContext, user: &mut GooseUser) -> TransactionResult {
    let (intended, paced) = pace(ctx, user).await;
    let (blocked, i) = {
        let rng = &mut state(user).rng;
        let blocked = ctx.proxied() && rng.random_bool(BLOCKED_SHARE);
        let list = if blocked {
            &ctx.corpus.cors_blocked
        } else {
            &ctx.corpus.cors_allowed
        };
        (blocked, rng.random_range(0..list.len()))
    };
    let url = if blocked {
        &ctx.corpus.cors_blocked[i]
    } else {
        &ctx.corpus.cors_allowed[i]
    };
    let origin = &ctx.cors_origin;

    let preflight = user
        .client
        .request(Method::OPTIONS, url)
        .header(header::ORIGIN, origin.clone())
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type");
    let name = if blocked {
        "cors-preflight-blocked"
    } else {
        "cors-preflight"
    };
    // Allowed: the origin's 204. Blocked: the proxy grants the preflight with a 204, so a
    // browser sends the request and its script can read the block (a 403 here reaches the
    // script as an opaque network error). Proxies before that change answered a blocked
    // preflight with the JSON 403; it is accepted too, because the gate drives the
    // baseline commit's proxy with these scenarios. The proxy's own tests and the browser
    // checks hold the 204.
    let mut done = fetch(
        user,
        preflight,
        name,
        Via::Custom("OPTIONS"),
        204,
        BodyCheck::Keep,
    )
    .await?;
    let earlier_403 = blocked && done.status == 403;
    if earlier_403 && done.outcome == Outcome::Status {
        done.outcome = Outcome::Ok;
    }
    check_cors(&mut done, origin, earlier_403);
    done.require(
        done.header("access-control-allow-methods").contains("POST"),
        Outcome::Headers,
    );
    finish(ctx, user, Class::Cors, done, paced.then_some(intended)).await?;

    // Paced runs schedule every request, not every transaction.
    let (sent, paced) = pace(ctx, user).await;
    let request = user
        .client
        .post(url)
        .header(header::ORIGIN, origin.clone())
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-mode", "cors")
        .body("{\"lesson\":42}");
    let expect = if blocked { 403 } else { 200 };
    let name = if blocked {
        "cors-xhr-blocked"
    } else {
        "cors-xhr"
    };
    let mut done = fetch(user, request, name, Via::Goose, expect, BodyCheck::Keep).await?;
    check_cors(&mut done, origin, blocked);
    let body = String::from_utf8_lossy(&done.body);
    let json_ok = if blocked {
        body.contains("\"blocked\":true")
    } else {
        body.contains("\"cors\":true")
    };
    done.require(json_ok, Outcome::Body);
    finish(ctx, user, Class::Cors, done, paced.then_some(sent)).await
}

/// The allow-origin header must name the page's origin; a block answer must be JSON.
/// The answer names the page's origin; a block's answer is JSON (`blocked_json`).
fn check_cors(done: &mut Done, origin: &http::HeaderValue, blocked_json: bool) {
    let allow = done.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN) == Some(origin);
    done.require(allow, Outcome::Headers);
    if blocked_json {
        let json = done.header("content-type").starts_with("application/json");
        done.require(json, Outcome::Headers);
    }
}
