//! The framing check on a long-lived keep-alive connection: after the connection has read
//! many requests (several times the head limit, which an earlier version kept as a window
//! of recent bytes), a request carrying both Content-Length and Transfer-Encoding must
//! still be refused, with every earlier request served.

mod util;

use std::sync::atomic::Ordering;

use util::{raw_exchange, status_of, Origin, TestProxy};

/// Requests sent before the smuggling attempt; with the padding below they add up to
/// several times the window (`2 * max_header_bytes`).
const EARLIER: usize = 60;

#[tokio::test]
async fn cl_te_is_refused_after_the_window_has_wrapped_many_times() {
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "[server]\nmax_header_bytes = 8192\n").await;
    let pad = "p".repeat(1000);
    let mut pipelined = Vec::new();
    for i in 0..EARLIER {
        pipelined.extend_from_slice(
            format!(
                "GET http://allowed.example/echo?n={i} HTTP/1.1\r\nHost: allowed.example\r\n\
                 X-Pad: {pad}\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    let window = 2 * 8192;
    assert!(
        pipelined.len() > 3 * window,
        "the earlier requests wrap the window several times"
    );
    pipelined.extend_from_slice(
        b"POST http://allowed.example/echo HTTP/1.1\r\nHost: allowed.example\r\n\
          Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
    );
    let raw = raw_exchange(proxy.addr, &pipelined).await;
    let statuses: Vec<u16> = raw
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| status_of(&raw[at..]))
        .collect();
    assert_eq!(
        statuses.len(),
        EARLIER + 1,
        "one answer per request: {statuses:?}"
    );
    assert!(
        statuses[..EARLIER].iter().all(|&s| s == 200),
        "earlier requests served: {statuses:?}"
    );
    assert_eq!(statuses[EARLIER], 400, "the CL+TE request is refused");
    assert!(raw.contains("Content-Length and Transfer-Encoding"));
    assert_eq!(
        origin.requests.load(Ordering::SeqCst),
        EARLIER,
        "the refused request never reached the origin"
    );
    proxy.stop().await;
}
