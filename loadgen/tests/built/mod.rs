//! The workspace's binaries for end-to-end tests, built from the current sources and
//! copied into a directory of this test process (a concurrent build cannot swap them
//! mid-test). Shared by the loadgen tests and, by path, the reports tests.
//!
//! They are built exactly as `make test` has just built them (`cargo test --workspace
//! --all-targets --no-run`), so under `make test` the build is a no-op. A narrower build
//! (`cargo build -p filter-proxy`) resolves dependency features differently and
//! recompiled a dozen crates (four minutes in CI) only to overwrite the same binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binaries copied.
const BINARIES: [&str; 3] = ["filter-proxy", "loadgen", "perf-report"];

/// The path of the copy of `name` (`filter-proxy`, `loadgen` or `perf-report`).
pub fn workspace_bin(name: &str) -> PathBuf {
    assert!(BINARIES.contains(&name), "{name} is not a workspace binary");
    static COPIES: OnceLock<tempfile::TempDir> = OnceLock::new();
    COPIES.get_or_init(build_and_copy).path().join(name)
}

fn build_and_copy() -> tempfile::TempDir {
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
    let dir = tempfile::tempdir().expect("temp dir");
    for name in BINARIES {
        std::fs::copy(built.join(name), dir.path().join(name))
            .unwrap_or_else(|e| panic!("copy {name}: {e}"));
    }
    dir
}
