//! `GET /debug/pprof/profile?seconds=N&format=folded|svg|pb`: a CPU profile of the proxy.
//! One profile at a time; a concurrent request gets 409.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

/// Answers `/debug/pprof/profile`; `query` is the raw query string (may be empty).
pub async fn profile_response(_query: Option<&str>) -> Response<Full<Bytes>> {
    unimplemented!("admin::pprof::profile_response")
}
