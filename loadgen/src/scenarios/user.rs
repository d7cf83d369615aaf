//! Per-user state: identity, HTTP client, random source, pacing and recorder.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::context::{Route, RunContext};
use crate::record::UserRecorder;
use crate::roster::Identity;

/// What one simulated user keeps between transactions (Goose session data).
#[derive(Debug, Clone)]
pub struct UserState {
    /// Who the user browses as.
    pub identity: Arc<Identity>,
    /// The user's random source (URL choice).
    pub rng: SmallRng,
    /// The user's recorder.
    pub recorder: UserRecorder,
    /// Intended start of the next paced transaction.
    pub next_send: Option<Instant>,
}

/// The state of `user` (set by [`start`], which every scenario runs first).
pub fn state(user: &mut GooseUser) -> &mut UserState {
    user.get_session_data_unchecked_mut::<UserState>()
}

/// Waits for the user's next intended send time when the run is paced and
/// returns it; unpaced, returns now.
///
/// A user's first send is at a random phase within one interval. Without it, users started
/// by a ramp whose step divides the interval (20 users/s and 200 ms: one user every 50 ms)
/// fall into a few phases and fire together: the `ci` profile sent bursts of 15 requests at
/// once every 50 ms instead of 300 requests spread over each second, and measured the
/// bursts' queueing as latency.
pub async fn pace(ctx: &RunContext, user: &mut GooseUser) -> (Instant, bool) {
    let Some(interval) = ctx.pace_interval else {
        return (Instant::now(), false);
    };
    let st = state(user);
    if st.next_send.is_none() {
        let phase = interval.mul_f64(st.rng.random::<f64>());
        st.next_send = Some(Instant::now() + phase);
    }
    let intended = st.next_send.expect("set above");
    st.next_send = Some(intended + interval);
    let now = Instant::now();
    if intended > now {
        tokio::time::sleep(intended - now).await;
    }
    (intended, true)
}

/// On-start transaction: take an identity and build this user's client.
pub async fn start(ctx: &Arc<RunContext>, user: &mut GooseUser) -> TransactionResult {
    let n = ctx.next_identity.fetch_add(1, Ordering::Relaxed);
    let identity = ctx.roster.get(n);
    let ca = reqwest::Certificate::from_pem(&ctx.ca_pem)
        .map_err(|e| Box::new(TransactionError::Custom(format!("origin CA: {e}"))))?;
    let mut builder = reqwest::Client::builder()
        .timeout(ctx.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .tls_certs_only([ca])
        .http1_only()
        .no_gzip()
        // reqwest pools per destination host, so a user keeps a connection per
        // host it browses: keep few and briefly, as a browser does, so thousands
        // of users stay within the proxy's connection limit.
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    builder = match ctx.route {
        Route::Proxy(addr) => {
            let proxy = reqwest::Proxy::all(format!("http://{addr}"))
                .map_err(|e| Box::new(TransactionError::Custom(format!("proxy URL: {e}"))))?
                .custom_http_auth(identity.proxy_authorization.clone());
            builder.proxy(proxy)
        }
        Route::Direct => builder.no_proxy().dns_resolver(Arc::new(Loopback)),
    };
    user.set_client_builder(builder).await?;
    // Distinct, reproducible streams per user.
    let seed = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    user.set_session_data(UserState {
        identity,
        rng: SmallRng::seed_from_u64(seed),
        recorder: UserRecorder::new(ctx.clock, ctx.samples.clone()),
        next_send: None,
    });
    Ok(())
}

/// Resolves every name to 127.0.0.1 (direct runs: the URL carries the
/// origin's port, which wins over the resolved one).
#[derive(Debug)]
struct Loopback;

impl reqwest::dns::Resolve for Loopback {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        Box::pin(std::future::ready(Ok(
            Box::new(std::iter::once(addr)) as reqwest::dns::Addrs
        )))
    }
}
