//! Shared by the fault and capacity tests: the real `filter-proxy` binary, profile
//! variants written into a temp dir, and one run at a time.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Runs share two cores and real timing: one at a time.
pub static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

/// The `filter-proxy` binary, built from the current sources (see `built`).
pub fn proxy_bin() -> PathBuf {
    super::built::workspace_bin("filter-proxy")
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
