//! The CPU profile endpoint: parameter validation (400), one profile at a time (409),
//! and profiles taken under in-process load that name the proxy's own functions in all
//! three formats.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use filter_proxy::admin::pprof::{is_profiling, profile_response};
use filter_proxy::tunnel;
use http_body_util::BodyExt;
use pprof::protos::Message as _;

/// The profiler is one per process and the tests of this file run on parallel threads:
/// each takes this lock, so "not profiling" is never read while the other test profiles.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn call(query: &str) -> (u16, Vec<u8>) {
    let response = profile_response(Some(query)).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, body.to_vec())
}

#[tokio::test]
async fn bad_parameters_get_400_with_a_reason() {
    let _one = ONE_AT_A_TIME.lock().await;
    for (query, reason) in [
        ("format=xml", "format"),
        ("seconds=0", "seconds"),
        ("seconds=61", "seconds"),
        ("seconds=ten", "seconds"),
        ("seconds=1&colour=red", "unknown parameter"),
    ] {
        let (status, body) = call(query).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(reason), "{query}: {body}");
    }
    assert!(
        !is_profiling(),
        "a rejected request must not start the profiler"
    );
}

/// A ClientHello the load loop parses: real proxy code on the CPU while profiling.
fn sample_hello() -> Vec<u8> {
    let host = b"load.example";
    let mut sni = vec![0, 0];
    sni.extend_from_slice(&((host.len() + 5) as u16).to_be_bytes());
    sni.extend_from_slice(&((host.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend_from_slice(&(host.len() as u16).to_be_bytes());
    sni.extend_from_slice(host);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[1; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(sni.len() as u16).to_be_bytes());
    body.extend_from_slice(&sni);
    let mut msg = vec![1];
    msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    record.extend_from_slice(&msg);
    record
}

/// Parses ClientHellos on a plain thread until stopped (bounded in time and count).
fn run_load(stop: &AtomicBool) -> u64 {
    let hello = sample_hello();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut parsed = 0u64;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && parsed < 500_000_000 {
        for _ in 0..1000 {
            black_box(tunnel::inspect(black_box(&hello)));
        }
        parsed += 1000;
    }
    parsed
}

/// Runs `f` while a load thread keeps the CPU busy with proxy code.
async fn under_load<T>(f: impl std::future::Future<Output = T>) -> T {
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || run_load(&stop))
    };
    let out = f.await;
    stop.store(true, Ordering::Relaxed);
    let parsed = load.join().expect("load thread");
    assert!(parsed > 0, "the load loop ran");
    out
}

/// Waits (with a deadline) until a profile is running.
async fn until_profiling() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !is_profiling() {
        assert!(Instant::now() < deadline, "profile never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_under_load_name_proxy_functions_in_every_format() {
    let _one = ONE_AT_A_TIME.lock().await;
    // folded, with a concurrent request refused while it runs
    let (status, body) = under_load(async {
        let first = tokio::spawn(call("seconds=2&format=folded"));
        until_profiling().await;
        let (busy, reason) = call("seconds=1&format=folded").await;
        assert_eq!(busy, 409, "{}", String::from_utf8_lossy(&reason));
        first.await.expect("first profile task")
    })
    .await;
    assert_eq!(status, 200);
    let folded = String::from_utf8(body).expect("folded stacks are text");
    let inspect_stacks: Vec<&str> = folded
        .lines()
        .filter(|l| l.contains("filter_proxy::tunnel::hello::inspect"))
        .collect();
    assert!(
        !inspect_stacks.is_empty(),
        "no sample names the proxy's hello parser:\n{folded}"
    );
    // Whole stacks: from the load thread's entry point down to the parser.
    assert!(
        inspect_stacks
            .iter()
            .any(|l| l.contains("profiling_pprof::run_load")),
        "stacks are cut short:\n{}",
        inspect_stacks.join("\n")
    );
    for line in folded.lines() {
        let count = line.rsplit(' ').next().and_then(|c| c.parse::<u64>().ok());
        assert!(count.is_some_and(|c| c > 0), "bad folded line {line:?}");
    }
    assert!(
        !is_profiling(),
        "the profiler is released after the profile"
    );

    let (status, svg) = under_load(call("seconds=1&format=svg")).await;
    assert_eq!(status, 200);
    let svg = String::from_utf8(svg).expect("svg is text");
    assert!(
        svg.contains("<svg"),
        "not an svg: {}",
        &svg[..svg.len().min(200)]
    );
    assert!(
        svg.contains("inspect"),
        "flame graph lacks the parser frame"
    );

    let (status, pb) = under_load(call("seconds=1&format=pb")).await;
    assert_eq!(status, 200);
    let profile = pprof::protos::Profile::decode(pb.as_slice()).expect("valid pprof protobuf");
    assert!(!profile.sample.is_empty(), "protobuf profile has samples");
    assert!(
        profile
            .string_table
            .iter()
            .any(|s| s.contains("filter_proxy::tunnel")),
        "protobuf profile names proxy functions"
    );
}
