//! jemalloc is the allocator of everything linking the library, and its counters move
//! with the work done: `counters()` and the `/debug/jemalloc` JSON.

use std::hint::black_box;

use filter_proxy::admin::jemalloc::{counters, stats_response, try_counters};
use http_body_util::BodyExt;

const BOXES: u64 = 20_000;
const BOX_BYTES: u64 = 96;

#[test]
fn counters_rise_with_allocations() {
    let before = try_counters().expect("jemalloc statistics readable");
    let held: Vec<Box<[u8; BOX_BYTES as usize]>> = (0..BOXES)
        .map(|i| Box::new([i as u8; BOX_BYTES as usize]))
        .collect();
    let during = counters();
    drop(black_box(held));
    let after = counters();

    // Thread caches fold into the arena counters lazily, so allow a bounded lag.
    let min_allocs = BOXES / 2;
    assert!(
        after.allocations >= before.allocations + min_allocs,
        "allocations {} -> {}",
        before.allocations,
        after.allocations
    );
    assert!(
        after.bytes_allocated_total >= before.bytes_allocated_total + min_allocs * BOX_BYTES,
        "bytes {} -> {}",
        before.bytes_allocated_total,
        after.bytes_allocated_total
    );
    assert!(
        during.allocated >= before.allocated + BOXES * BOX_BYTES / 2,
        "live bytes {} -> {}",
        before.allocated,
        during.allocated
    );
    assert!(after.small_nmalloc > before.small_nmalloc);
    assert!(
        after.small_ndalloc > before.small_ndalloc,
        "frees are counted too"
    );
    assert!(after.resident >= after.active && after.active >= after.allocated);
}

#[tokio::test]
async fn stats_endpoint_returns_the_counters_as_json() {
    let response = stats_response();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "content type"
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    for key in [
        "allocated",
        "active",
        "resident",
        "mapped",
        "retained",
        "metadata",
        "small_nmalloc",
        "small_ndalloc",
        "large_nmalloc",
        "large_ndalloc",
        "allocations",
        "bytes_allocated_total",
    ] {
        let value = json[key].as_u64();
        assert!(value.is_some(), "{key} missing or not a number in {json}");
    }
    assert!(json["allocated"].as_u64() > Some(0));
    assert!(json["allocations"].as_u64() > Some(0));
}
