//! Bodies stream through the proxy: a 100 MiB download never sits in the proxy's memory.
//! The library makes jemalloc the global allocator, so allocated bytes can be sampled while the
//! body flows (origin, proxy and client share the process; only buffering would grow it).
//!
//! Allocated bytes are the whole process's, so the tests here take turns: the upload test's
//! echo origin holds its 4 MiB body several times over (collected, copied, in JSON, parsed),
//! and run beside the download it once read as 21 MB of "growth".

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tikv_jemalloc_ctl::{epoch, stats};
use util::{Origin, TestProxy, ALLOWED};

/// Held by each test for its whole run, so no other test's allocations are counted.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn allocated() -> usize {
    epoch::advance().expect("jemalloc epoch");
    stats::allocated::read().expect("jemalloc allocated")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_download_streams_with_flat_memory() {
    const SIZE: usize = 100 * 1024 * 1024;
    let _turn = ONE_AT_A_TIME.lock().await;
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let client = proxy.client();
    // Warm up: connections, pools, buffers.
    let warm = client
        .get(format!("http://{ALLOWED}/bytes/1048576"))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.bytes().await.unwrap().len(), 1 << 20);

    let baseline = allocated();
    let peak = Arc::new(AtomicUsize::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(allocated(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let resp = client
        .get(format!("http://{ALLOWED}/bytes/{SIZE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(SIZE as u64));
    let mut stream = resp.bytes_stream();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len(); // read and discarded
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(total, SIZE);
    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    eprintln!("allocated-bytes growth while streaming {SIZE} bytes: {growth}");
    assert!(
        growth < 4 * 1024 * 1024,
        "allocated bytes grew by {growth} while streaming {SIZE} bytes"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn large_upload_streams_to_the_origin() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let origin = Origin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'u'; 64 * 1024])));
    let resp = proxy
        .client()
        .post(format!("http://{ALLOWED}/echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let echo: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echo["body_len"], 64 * 64 * 1024);
    assert_eq!(
        echo["headers"]["transfer-encoding"][0], "chunked",
        "re-framed upstream"
    );
    proxy.stop().await;
}
