//! Shared by the fault and capacity tests: the real `filter-proxy` binary, profile
//! variants written into a temp dir, and one run at a time.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// How a test builds the other packages' binaries: exactly the build `make test` has just
/// made (`cargo test --workspace --all-targets`), so under `make test` it is a no-op. A
/// narrower build (`cargo build -p filter-proxy`) resolves dependency features differently
/// and recompiled a dozen crates (four minutes in CI) only to overwrite the same binary.
const WORKSPACE_TEST_BUILD: [&str; 5] = [
    "test",
    "--workspace",
    "--all-targets",
    "--no-run",
    "--quiet",
];

/// Runs share two cores and real timing: one at a time.
pub static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

/// The `filter-proxy` binary, built from the current sources and copied into a
/// directory of this test process, so a concurrent build cannot swap it mid-test.
pub fn proxy_bin() -> PathBuf {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(WORKSPACE_TEST_BUILD)
                .current_dir(repo_root())
                .status()
                .expect("run cargo build");
            assert!(status.success(), "building filter-proxy failed");
            let built = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"))
                .parent()
                .expect("binaries live in a directory")
                .join("filter-proxy");
            let dir = tempfile::tempdir().expect("temp dir");
            let bin = dir.path().join("filter-proxy");
            std::fs::copy(&built, &bin).expect("copy filter-proxy");
            (dir, bin)
        })
        .1
        .clone()
}

/// Copies `profiles/<name>` into `dir` with each `(from, to)` replacement applied
/// (each must match) and the base load profile made absolute; returns the copy.
pub fn profile_variant(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let profiles = repo_root().join("profiles");
    let mut text = std::fs::read_to_string(profiles.join(name)).expect("read profile");
    for (from, to) in edits {
        assert!(text.contains(from), "{name} has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    let ci = profiles.join("ci.toml");
    text = text.replace(
        "load_profile = \"ci.toml\"",
        &format!("load_profile = \"{}\"", ci.display()),
    );
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write profile variant");
    path
}
