//! The workspace's binaries for end-to-end tests, built from the current sources and
//! linked into a directory of this test process (a concurrent build cannot swap them
//! mid-test). Shared by the loadgen tests and, by path, the reports tests.
//!
//! They are built exactly as `make test` has just built them (`cargo test --workspace
//! --all-targets --no-run`), so under `make test` the build is a no-op. A narrower build
//! (`cargo build -p filter-proxy`) resolves dependency features differently and
//! recompiled a dozen crates (four minutes in CI) only to overwrite the same binary.
//!
//! The copies are hard links under `target/<profile>/e2e-bins/<pid>/`: the linker and
//! cargo replace a rebuilt binary by a new file, so a link keeps this process's binary
//! intact at no disk cost. (Full copies into never-deleted temp dirs cost 376 MB per test
//! process and filled CI's disk.) Directories of processes that have exited are removed
//! by the next test process, so at most one stale set of binaries outlives a run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binaries linked.
const BINARIES: [&str; 3] = ["filter-proxy", "loadgen", "perf-report"];

/// The path of this process's link to `name` (`filter-proxy`, `loadgen` or `perf-report`).
pub fn workspace_bin(name: &str) -> PathBuf {
    assert!(BINARIES.contains(&name), "{name} is not a workspace binary");
    static LINKS: OnceLock<PathBuf> = OnceLock::new();
    LINKS.get_or_init(build_and_link).join(name)
}

fn build_and_link() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "test",
            "--workspace",
            "--all-targets",
            "--no-run",
            "--quiet",
        ])
        .current_dir(&root)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the workspace failed");
    // Test executables live in target/<profile>/deps; the binaries one level up.
    let exe = std::env::current_exe().expect("test executable path");
    let built = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps");
    let parent = built.join("e2e-bins");
    std::fs::create_dir_all(&parent).expect("create e2e-bins");
    remove_exited(&parent);
    let dir = parent.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("create this process's e2e-bins dir");
    for name in BINARIES {
        let (from, to) = (built.join(name), dir.join(name));
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {name}: {e}"));
        }
    }
    dir
}

/// Removes the directories of test processes that are no longer running.
fn remove_exited(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
