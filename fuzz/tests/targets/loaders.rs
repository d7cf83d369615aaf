//! Targets `proxy_config`, `appliance_config` and `profile`: the files operators and
//! engineers write (the proxy's and the appliance's TOML configs, load profiles), parsed
//! and validated as at start-up, relative paths against a directory of small data files.
//!
//! Properties: no panic, bounded time and memory; a config that validates reports itself
//! (the summary `check-config` prints).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use appliance::config::RawApplianceConfig;
use filter_proxy::config::Config;
use loadgen::profile::Profile;

/// A directory with small versions of the files the configs name.
fn base() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in [
            ("categories.txt", "school.example education\ngames.example games\ngames.example/learn education\n"),
            ("policy.toml", "[groups.default]\nblocked_categories = [\"games\"]\nalways_allow = [\"ok.example\"]\n\n[groups.students]\nblocked_categories = [\"games\"]\n"),
            ("users.csv", "user,group,password\nstudent0001,students,pw-student0001\n"),
            ("appliance.key", "fuzz-key-0123456789abcdef\n"),
            ("admin.token", "fuzz-admin-token-0123456789\n"),
        ] {
            std::fs::write(dir.path().join(name), text).expect("write data file");
        }
        dir
    })
    .path()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn proxy_config(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Ok(config) = Config::from_toml_str(&text, base()) {
        assert!(!config.summary().is_empty());
    }
}

fn appliance_config(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Ok(raw) = toml::from_str::<RawApplianceConfig>(&text) {
        let _ = raw.validate(base());
    }
}

fn profile(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Ok(p) = Profile::parse(&text, &repo().join("profiles"), "fuzz") {
        let _ = p.goose_test_plan();
    }
}

#[test]
fn proxy_config_target() {
    fuzz_targets::fuzz_bytes("proxy_config", proxy_config);
}

#[test]
fn appliance_config_target() {
    fuzz_targets::fuzz_bytes("appliance_config", appliance_config);
}

#[test]
fn profile_target() {
    fuzz_targets::fuzz_bytes("profile", profile);
}

/// Seeds: the committed configs and profiles, as written.
pub fn seeds() -> Vec<(&'static str, PathBuf)> {
    let mut out = vec![
        ("proxy_config", repo().join("scenarios/demo/proxy.toml")),
        ("proxy_config", repo().join("proxy/compose/proxy.toml")),
        (
            "appliance_config",
            repo().join("proxy/compose/appliance.toml"),
        ),
    ];
    let mut profiles: Vec<PathBuf> = std::fs::read_dir(repo().join("profiles"))
        .expect("profiles dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    profiles.sort();
    out.extend(profiles.into_iter().map(|p| ("profile", p)));
    out
}
