//! Every browser check through the real proxy, the real test origin and headless
//! Chromium (`make test` installs `chromium` and `certutil` through `make deps`).
//! A failing check prints what the page saw and the browser's network log and console.

#[path = "../../loadgen/tests/built/mod.rs"]
mod built;

use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_script_sees_blocks_cors_and_tunnels_as_designed() {
    let out = tempfile::tempdir().unwrap();
    let setup = browser::Setup {
        proxy_bin: built::workspace_bin("filter-proxy"),
        repo: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf(),
        out: out.path().join("run"),
    };
    let results = browser::run_checks(&setup).await.unwrap();
    let table = browser::report::table(&results);
    println!("{table}");
    browser::report::write_json(&setup.out, &results).unwrap();
    assert!(setup.out.join("navigation-blocked.png").is_file());
    assert!(results.len() >= 20, "{table}");
    assert!(
        results.iter().any(|r| r.name == "auth-preflight-no-407"),
        "{table}"
    );
    assert!(results.iter().all(|r| r.passed()), "{table}");
}
