//! `GET /debug/jemalloc`: allocator statistics as JSON, so a run can compute
//! allocations and bytes allocated per request.

use bytes::Bytes;
use http::Response;
use http_body_util::Full;

/// Answers `/debug/jemalloc`.
pub fn stats_response() -> Response<Full<Bytes>> {
    unimplemented!("admin::jemalloc::stats_response")
}
