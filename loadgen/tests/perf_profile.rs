//! The CPU profile the harness takes of a real proxy under a short load: with perf
//! (kernel stacks included) where perf can record here, else from the proxy's pprof
//! endpoint. Either way the collapsed stacks must parse, hold samples, and agree with
//! the `cpu-profile.json` sidecar written beside them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadgen::rig::perf::{self, ProfileSource, ProfileTarget};
use loadgen::rig::{Rig, RigSpec};

mod built;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

/// Requests through the proxy until `until` or `max` requests, whichever comes first.
async fn load(proxy: std::net::SocketAddr, until: Instant, max: u64, sent: Arc<AtomicU64>) {
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{proxy}")).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for i in 0..max {
        if Instant::now() >= until {
            break;
        }
        // Allowed and blocked hosts alike keep the proxy busy; the answer does not matter.
        let host = ["www.wikipedia.org", "example.com", "news.example.org"][i as usize % 3];
        let _ = client.get(format!("http://{host}/page/{i}")).send().await;
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loaded_proxy_is_profiled_and_the_sidecar_matches_the_stacks() {
    let dir = tempfile::tempdir().unwrap();
    let rig = Rig::start(&RigSpec {
        run_dir: dir.path().to_path_buf(),
        proxy_bin: built::workspace_bin("filter-proxy"),
        base_config: repo_root().join("scenarios/demo/proxy.toml"),
        redis_bin: None,
        overrides: toml::Table::new(),
        proxy_cpus: None,
        loadgen_cpus: None,
        origin_threads: 1,
        seed_redis: false,
        ready_timeout: Duration::from_secs(60),
    })
    .await
    .expect("the rig starts");
    let seconds = 3;
    let sent = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds + 2);
    let loaders: Vec<_> = (0..4)
        .map(|_| tokio::spawn(load(rig.listen, until, 100_000, sent.clone())))
        .collect();
    let target = ProfileTarget {
        pid: rig.proxy_pid(),
        admin: rig.admin.clone(),
        dir: dir.path().to_path_buf(),
        keep_data: false,
    };
    let cores = perf::busy_cores(target.pid).await;
    let (profile, fallback) = perf::profile(&target, seconds, cores)
        .await
        .expect("the profile is taken");
    for l in loaders {
        l.await.unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 0, "the load ran");

    eprintln!(
        "profile: {:?}, {} samples at {} Hz, {} with a kernel frame",
        profile.meta.source,
        profile.meta.samples,
        profile.meta.frequency_hz,
        perf::kernel_samples(&profile.folded)
    );
    match perf::perf_available() {
        Ok(_) => {
            assert_eq!(fallback, None);
            assert_eq!(profile.meta.source, ProfileSource::Perf);
            assert!(profile.meta.kernel_stacks);
            assert!(
                perf::kernel_samples(&profile.folded) > 0,
                "a proxy serving requests spends time in the kernel:\n{}",
                &profile.folded[..profile.folded.len().min(2000)]
            );
            assert!(
                !dir.path().join("perf.data").exists(),
                "perf.data is deleted unless kept"
            );
        }
        Err(why) => {
            eprintln!("perf cannot record here ({why}): checking the pprof fallback");
            assert_eq!(profile.meta.source, ProfileSource::Pprof);
            assert!(!profile.meta.kernel_stacks);
            assert!(fallback
                .expect("the fallback says why")
                .contains("user space only"));
        }
    }
    let stacks: Vec<_> = rundir::folded::parse(&profile.folded).collect();
    assert!(!stacks.is_empty(), "the folded stacks parse");
    assert!(
        stacks.iter().all(|s| !s.thread.is_empty()),
        "every line starts with its thread"
    );
    assert!(
        stacks.iter().any(|s| s.frames.len() > 2),
        "stacks are unwound past their leaf"
    );
    assert!(profile.meta.samples > 0, "samples were taken");
    // Counts are samples (not a period in nanoseconds): no more than every CPU sampled
    // at the frequency for the whole profile.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    assert!(
        profile.meta.samples <= profile.meta.frequency_hz * seconds * cpus,
        "{} samples at {} Hz for {seconds} s on {cpus} CPUs",
        profile.meta.samples,
        profile.meta.frequency_hz
    );

    perf::write_profile(dir.path(), &profile).unwrap();
    let folded = std::fs::read_to_string(dir.path().join("cpu.folded")).unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("cpu-profile.json")).unwrap())
            .unwrap();
    let total: u64 = rundir::folded::parse(&folded).map(|s| s.count).sum();
    assert_eq!(sidecar["samples"].as_u64(), Some(total));
    assert_eq!(sidecar["seconds"].as_u64(), Some(seconds));
    assert_eq!(
        sidecar["kernel_stacks"].as_bool(),
        Some(profile.meta.source == ProfileSource::Perf)
    );
    drop(rig);
}
