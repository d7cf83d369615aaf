//! Each fault profile, shortened to a few seconds, against the real proxy binary, a
//! real `redis-server` and the test origin: it reaches its verdict, and a proxy
//! configured wrongly on purpose makes the run fail.

mod built;
mod faults_support;

use std::path::Path;
use std::process::Command;

use faults_support::{profile_variant, proxy_bin, repo_root, ONE_RUN};
use loadgen::faults::{self, FaultArgs, FaultOutcome};

async fn run(profile: &Path, out: &Path, seconds: f64) -> FaultOutcome {
    let _one = ONE_RUN.lock().await;
    let args = FaultArgs {
        profile: profile.to_path_buf(),
        out: Some(out.to_path_buf()),
        duration: Some(seconds),
        proxy_bin: Some(proxy_bin()),
        proxy_config: Some(repo_root().join("scenarios/demo/proxy.toml")),
        redis_bin: "redis-server".into(),
    };
    let outcome = faults::execute(&args).await.expect("the fault run is made");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("faults.json")).unwrap()).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["held"], outcome.held);
    assert!(out.join("faults.md").is_file());
    outcome
}

fn failed_checks(o: &FaultOutcome) -> Vec<&'static str> {
    o.results
        .iter()
        .flat_map(|r| r.checks.iter().filter(|c| !c.held).map(|c| c.name))
        .collect()
}

fn explain(o: &FaultOutcome) -> String {
    format!(
        "{:#?}",
        o.results.iter().map(|r| &r.checks).collect::<Vec<_>>()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_slow_holds_and_a_store_timeout_longer_than_expected_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = profile_variant(dir.path(), "faults-redis-slow.toml", &[]);
    let o = run(&good, &dir.path().join("good"), 5.0).await;
    assert!(o.held, "{}", explain(&o));
    assert!(o.facts.proxy_survived);
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad = profile_variant(
        &bad_dir,
        "faults-redis-slow.toml",
        &[("timeout = \"200ms\"", "timeout = \"3s\"")],
    );
    let o = run(&bad, &dir.path().join("bad-run"), 5.0).await;
    assert!(!o.held);
    assert!(failed_checks(&o).contains(&"max_wait"), "{}", explain(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_closed_with_retry_after_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile_variant(dir.path(), "faults-redis-down.toml", &[]);
    let o = run(&p, &dir.path().join("run"), 5.0).await;
    assert!(o.held, "{}", explain(&o));
    let r = &o.results[0];
    assert!(r.inside.errors.get("503").copied().unwrap_or(0) > 0);
    assert!(r.recovery_s.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_slow_answers_503_and_a_huge_acquire_timeout_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A shorter delay drains sooner, so a shortened run still sees the recovery.
    let delay = ("delay_ms = 3000", "delay_ms = 1500");
    let good = profile_variant(dir.path(), "faults-origin-slow.toml", &[delay]);
    let o = run(&good, &dir.path().join("good"), 6.0).await;
    assert!(o.held, "{}", explain(&o));
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let bad = profile_variant(
        &bad_dir,
        "faults-origin-slow.toml",
        &[
            delay,
            ("acquire_timeout = \"500ms\"", "acquire_timeout = \"60s\""),
        ],
    );
    let o = run(&bad, &dir.path().join("bad-run"), 5.0).await;
    assert!(!o.held);
    assert!(
        failed_checks(&o).contains(&"window_status"),
        "{}",
        explain(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_reset_counts_502s_and_the_proxy_survives() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile_variant(dir.path(), "faults-origin-reset.toml", &[]);
    let o = run(&p, &dir.path().join("run"), 4.0).await;
    assert!(o.held, "{}", explain(&o));
    assert!(o.facts.proxy_survived);
    assert!(o.results[0].inside.errors.get("502").copied().unwrap_or(0) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_and_a_long_header_timeout_fails() {
    let dir = tempfile::tempdir().unwrap();
    // The p99 bound is for release builds; here only a hang would break it.
    let edits = [
        ("clients = 2000", "clients = 300"),
        ("max_p99 = \"250ms\"", "max_p99 = \"2s\""),
        (
            "header_read_timeout = \"2s\"",
            "header_read_timeout = \"1s\"",
        ),
        ("slow_cut_within = \"4s\"", "slow_cut_within = \"3s\""),
    ];
    let good = profile_variant(dir.path(), "faults-slow-clients.toml", &edits);
    let o = run(&good, &dir.path().join("good"), 6.0).await;
    assert!(o.held, "{}", explain(&o));
    let slow = o.results[0].slow_clients.clone().unwrap();
    assert_eq!((slow.opened, slow.cut), (300, 300));
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).unwrap();
    let mut bad_edits = edits.to_vec();
    bad_edits[2] = (
        "header_read_timeout = \"2s\"",
        "header_read_timeout = \"30s\"",
    );
    let bad = profile_variant(&bad_dir, "faults-slow-clients.toml", &bad_edits);
    let o = run(&bad, &dir.path().join("bad-run"), 5.0).await;
    assert!(!o.held);
    assert!(
        failed_checks(&o).contains(&"slow_cut_within"),
        "{}",
        explain(&o)
    );
}

#[test]
fn bad_input_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile_variant(
        dir.path(),
        "faults-origin-reset.toml",
        &[("rate = 200", "rate = -1")],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("faults")
        .arg("--profile")
        .arg(&p)
        .arg("--out")
        .arg(dir.path().join("run"))
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate:"), "{err}");
}
