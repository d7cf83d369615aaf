//! Where a run came from: commit, toolchain, build and machine.
//!
//! A number without provenance cannot be compared with another: two runs are only
//! comparable when their commit, build profile and machine are known. Every field is
//! best effort (a checkout without git still produces a run), recorded as `null` when
//! it cannot be found.

use std::path::Path;
use std::process::Command;

/// The `provenance` object of `run.json` (typed in `rundir`). The run's wall-clock times
/// are the document's own `started_at`/`ended_at`.
pub use rundir::run::Provenance;

/// Collects provenance for a run of the sources in `repo_dir` with the proxy binary at
/// `proxy_bin`.
pub fn collect(repo_dir: &Path, proxy_bin: &Path) -> Provenance {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Provenance {
        git_commit: run_text(
            Command::new("git")
                .arg("-C")
                .arg(repo_dir)
                .args(["rev-parse", "HEAD"]),
        ),
        git_dirty: git_dirty(repo_dir),
        rustc: run_text(Command::new("rustc").arg("-V")),
        build_profile: build_profile_of(proxy_bin),
        cpu_model: cpu_model(&cpuinfo),
        cores: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_owned()),
    }
}

/// The cargo profile a binary was built with, from its place in a target directory
/// (`target/<profile>/bin` or `target/<profile>/deps/bin`); `None` for a binary
/// elsewhere, whose profile cannot be told from its path.
pub fn build_profile_of(bin: &Path) -> Option<String> {
    let mut dir = bin.parent()?;
    if dir.file_name()? == "deps" {
        dir = dir.parent()?;
    }
    let name = dir.file_name()?.to_str()?;
    let in_target = dir.parent()?.file_name().is_some_and(|n| n == "target");
    (in_target || name == "debug" || name == "release").then(|| name.to_owned())
}

/// The first `model name` of a `/proc/cpuinfo` text.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// Time stamps as the run directory spells them (one owner: `rundir::time`).
pub use rundir::time::{compact_timestamp, rfc3339};

/// Whether tracked files differ from HEAD; `None` without git.
fn git_dirty(repo_dir: &Path) -> Option<bool> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo_dir)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()?;
    out.status.success().then_some(!out.stdout.is_empty())
}

fn run_text(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn build_profile_from_the_binary_path() {
        assert_eq!(
            build_profile_of(Path::new("target/release/filter-proxy")).as_deref(),
            Some("release")
        );
        assert_eq!(
            build_profile_of(Path::new("target/debug/deps/x-123")).as_deref(),
            Some("debug")
        );
        assert_eq!(
            build_profile_of(Path::new("/w/target/bench/x")).as_deref(),
            Some("bench")
        );
        assert_eq!(build_profile_of(Path::new("/tmp/.tmpAbc/x")), None);
    }

    #[test]
    fn cpu_model_from_cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nprocessor\t: 1\n";
        assert_eq!(cpu_model(text).as_deref(), Some("Some CPU @ 2.0GHz"));
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn collects_from_this_checkout() {
        let p = collect(Path::new("."), Path::new("target/debug/x"));
        assert!(p.rustc.is_some());
        assert!(p.cores.unwrap_or(0) >= 1);
        assert_eq!(p.build_profile.as_deref(), Some("debug"));
    }
}
