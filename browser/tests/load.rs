//! A smoke run of the `browser` load class (one browser per path, two loads each): real
//! Chromium through the real proxy and straight to the real origin. The full class
//! (`make browser`) runs more browsers and loads, outside CI's time budget.

#[path = "../../loadgen/tests/built/mod.rs"]
mod built;

use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_class_times_both_paths_and_writes_its_results() {
    let out = tempfile::tempdir().unwrap();
    let setup = browser::Setup {
        proxy_bin: built::workspace_bin("filter-proxy"),
        repo: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf(),
        out: out.path().join("run"),
    };
    let spec = browser::load::LoadSpec {
        browsers: 1,
        repetitions: 2,
        max: Duration::from_secs(60),
    };
    let load = browser::load::run_load(&setup, &spec).await.unwrap();
    browser::load::write(&setup.out, &load).unwrap();
    let md = load.markdown();
    println!("{md}");
    for path in ["proxy", "direct"] {
        let p = load.paths.iter().find(|p| p.path == path).unwrap();
        assert_eq!((p.loads, p.failed), (2, 0), "{path}: {md}");
        for s in &p.samples {
            assert!(s.ttfb > 0.0 && s.xhr > 0.0, "{path}: {s:?}");
            assert!(s.ttfb <= s.dom_content_loaded, "{path}: {s:?}");
            assert!(s.dom_content_loaded <= s.load, "{path}: {s:?}");
        }
        assert_eq!(p.figures.len(), rundir::browser::FIGURES.len(), "{md}");
    }
    assert_eq!(load.proxy_adds.len(), rundir::browser::FIGURES.len());
    assert!(load.machine.cpus >= 1);
    let read = rundir::browser::BrowserLoad::read_from(&setup.out)
        .unwrap()
        .expect("browser-load.json written");
    assert_eq!(read, load);
    let written = std::fs::read_to_string(setup.out.join("browser-load.md")).unwrap();
    assert!(written.contains("## Browser") && written.contains("time to first byte"));
}
