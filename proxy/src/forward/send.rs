//! The upstream exchange of a forwarded request: a pooled connection, the response head
//! within `upstream.response_header_timeout`, hop-by-hop headers stripped and `Via` added,
//! the body streamed back with the connection travelling along. A request that never left
//! because a reused connection turned out dead is retried once on a fresh one.

use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::state::Shared;
use crate::{headers, upstream};

/// Whose fault a failed exchange was: a broken request body (hyper reports the client
/// connection's error as the "user body" error of the upstream exchange) is the
/// client's; anything else is the origin's.
fn upstream_or_client(e: hyper::Error) -> ProxyError {
    let from_client_body = e.is_user()
        && std::error::Error::source(&e)
            .is_some_and(|s| s.downcast_ref::<hyper::Error>().is_some());
    if from_client_body {
        ProxyError::ClientBody(e)
    } else {
        ProxyError::Protocol(e)
    }
}

/// Sends `req` over a pooled connection; a request that never left because a reused
/// connection turned out dead is retried once on a fresh one.
pub(super) async fn send(
    shared: &Shared,
    host: &str,
    port: u16,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let up = &shared.config.upstream;
    let mut retried = false;
    loop {
        let mut lease = shared
            .pool
            .acquire(host, port, || {
                upstream::connect(host, port, &up.resolve, up.connect_timeout)
            })
            .await?;
        let exchange = lease.sender().try_send_request(req);
        match tokio::time::timeout(up.response_header_timeout, exchange).await {
            Err(_) => return Err(ProxyError::ResponseTimeout),
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                headers::strip_hop_by_hop(&mut parts.headers);
                parts.headers.append(http::header::VIA, shared.via.clone());
                let body = ProxyBody::upstream(body, lease, None);
                return Ok(Response::from_parts(parts, body));
            }
            Ok(Err(mut e)) => match e.take_message() {
                Some(unsent) if lease.was_reused() && !retried => {
                    shared.metrics.pool.stale.inc();
                    retried = true;
                    req = unsent;
                }
                _ => return Err(upstream_or_client(e.into_error())),
            },
        }
    }
}
