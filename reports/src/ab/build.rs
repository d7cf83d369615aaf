//! Building the two proxies of an A/B session: the baseline's commit in a git worktree,
//! cached by commit, and the candidate from the work tree.
//!
//! Why a worktree with the shared target directory: the control must be the code the
//! baseline measured, not today's code with today's dependencies rebuilt from scratch.
//! A worktree checks the commit out beside the work tree without touching it, and
//! building it with the main `CARGO_TARGET_DIR` reuses every compiled dependency whose
//! version did not change, so the extra cost is the proxy crate. The binary is copied to
//! `bin/<commit>/` because the shared target directory's `filter-proxy` is overwritten by
//! the next build of either tree; the next session with the same baseline reuses the copy.
//!
//! The trap: cargo names a workspace member's build units by a hash that does not include
//! the checkout's location, and judges them up to date by the modification times of the
//! sources their last build read. Built plainly, the worktree's proxy and the work tree's
//! proxy would be the *same* units in the shared target directory, and whichever tree
//! builds second could be taken as up to date and get the other's binary (for everyone
//! sharing the target). Three measures keep each binary its own checkout's:
//!
//! - The control build overrides one setting for each of the worktree's workspace members
//!   (their debug info level, which does not change generated code): their units get their
//!   own hash, apart from the work tree's, while every crates.io dependency is still
//!   shared. Every member, not only the proxy: a member the proxy depends on (its PROXY
//!   protocol and appliance crates) would otherwise be one unit for both trees, and the
//!   candidate would link the control's copy (caught below as a binary naming a worktree).
//! - Worktrees live outside the target directory (`<repo>/.gate-worktrees/`). Cargo
//!   records sources inside the target directory relative to it, so a worktree there made
//!   every later build of the same unit check *that worktree's* unchanging files and
//!   reuse its binary: a work tree's `cargo build -p filter-proxy` kept handing out a
//!   control built hours earlier. Worktrees left there by earlier versions, and the
//!   binaries cached from them, are removed.
//! - Controls of different commits share one unit hash, so the worktree's member sources
//!   are stamped with the current time before each control build, and the built binary
//!   must name its own worktree (the path is in its line tables) before it is kept.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary's file name.
pub const PROXY_BIN: &str = "filter-proxy";

/// Compiles the proxy of a source tree. The real one runs cargo; tests count calls.
pub trait Compiler {
    /// Builds the proxy in `src_dir` into `target_dir` with extra cargo `features`;
    /// `isolated` gives the tree's workspace members their own hash and fresh source
    /// stamps (for a tree other than the work tree). Returns the path of the built binary,
    /// or the build's error output.
    fn build(
        &self,
        src_dir: &Path,
        target_dir: &Path,
        features: &[String],
        isolated: bool,
    ) -> Result<PathBuf, String>;
}

/// The cargo `--config` that separates an isolated build's units of workspace member
/// `package` from the work tree's (see the module documentation).
pub fn isolate_config(package: &str) -> String {
    format!("profile.release.package.{package}.debug=\"limited\"")
}

/// Prepares an isolated build of the checkout at `src_dir`: stamps every workspace
/// member's sources with the current time and returns the `--config` overrides that give
/// their units their own hash.
pub fn isolate(src_dir: &Path) -> Result<Vec<String>, String> {
    let mut configs = Vec::new();
    for (package, dir) in workspace_members(src_dir)? {
        // A root package is the whole checkout: only members are stamped.
        if dir != src_dir {
            touch_tree(&dir).map_err(|e| format!("cannot stamp {}: {e}", dir.display()))?;
        }
        configs.push(isolate_config(&package));
    }
    Ok(configs)
}

/// The workspace members of the checkout at `src_dir`, name and directory, as its own
/// manifest lists them (a baseline's commit may have fewer or other members than today).
pub fn workspace_members(src_dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(src_dir)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed in {}: {}",
            src_dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    members_of_metadata(&out.stdout)
}

fn members_of_metadata(json: &[u8]) -> Result<Vec<(String, PathBuf)>, String> {
    let meta: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("cargo metadata output: {e}"))?;
    let packages = meta["packages"]
        .as_array()
        .ok_or("cargo metadata output has no packages")?;
    packages
        .iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("a package without a name")?;
            let manifest = p["manifest_path"]
                .as_str()
                .ok_or("a package without a manifest path")?;
            let dir = Path::new(manifest)
                .parent()
                .ok_or("a manifest path without a directory")?;
            Ok((name.to_owned(), dir.to_owned()))
        })
        .collect()
}

/// `cargo build --release -p filter-proxy` with a given target directory.
#[derive(Debug, Clone, Default)]
pub struct Cargo;

impl Compiler for Cargo {
    fn build(
        &self,
        src_dir: &Path,
        target_dir: &Path,
        features: &[String],
        isolated: bool,
    ) -> Result<PathBuf, String> {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(src_dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .args([
                "build",
                "--release",
                "-p",
                "filter-proxy",
                "--bin",
                PROXY_BIN,
            ]);
        if !features.is_empty() {
            cmd.args(["--features", &features.join(",")]);
        }
        if isolated {
            for config in isolate(src_dir)? {
                cmd.args(["--config", &config]);
            }
        }
        let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            return Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        Ok(target_dir.join("release").join(PROXY_BIN))
    }
}

/// Where builds happen and binaries are kept.
#[derive(Debug, Clone)]
pub struct BuildDirs {
    /// The checkout (git work tree) the candidate is built from.
    pub repo: PathBuf,
    /// The shared cargo target directory.
    pub target_dir: PathBuf,
    /// The gate's own directory (`<target>/gate`): `bin/<commit>`, `sessions/`.
    pub gate_dir: PathBuf,
    /// Worktrees of baseline commits, outside the target directory (see the module
    /// documentation): `<repo>/.gate-worktrees/<commit>`.
    pub worktrees_dir: PathBuf,
}

impl BuildDirs {
    /// The usual layout: `<repo>/target` (or `CARGO_TARGET_DIR`) and `<target>/gate`.
    pub fn for_repo(repo: &Path) -> Self {
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"));
        Self {
            repo: repo.to_owned(),
            gate_dir: target_dir.join("gate"),
            worktrees_dir: repo.join(WORKTREES_DIR),
            target_dir,
        }
    }

    /// The cached binary of a commit.
    pub fn cached_bin(&self, commit: &str) -> PathBuf {
        self.gate_dir.join("bin").join(commit).join(PROXY_BIN)
    }

    /// The worktree of a commit.
    pub fn worktree(&self, commit: &str) -> PathBuf {
        self.worktrees_dir.join(commit)
    }

    /// Where earlier versions kept worktrees: inside the target directory.
    fn legacy_worktrees(&self) -> PathBuf {
        self.gate_dir.join("worktrees")
    }
}

/// The worktrees directory's name under the checkout (ignored by git).
pub const WORKTREES_DIR: &str = ".gate-worktrees";

/// Removes worktrees that earlier versions kept inside the target directory, and every
/// binary cached while they existed: builds there could have handed one checkout's binary
/// to another. Returns what was removed, for the log.
fn remove_legacy_worktrees(dirs: &BuildDirs) -> Option<String> {
    let legacy = dirs.legacy_worktrees();
    if !legacy.exists() {
        return None;
    }
    let _ = std::fs::remove_dir_all(&legacy);
    let _ = std::fs::remove_dir_all(dirs.gate_dir.join("bin"));
    let _ = git(&dirs.repo).args(["worktree", "prune"]).output();
    Some(format!(
        "removed {} and the binaries cached beside it (built where cargo could mix checkouts)",
        legacy.display()
    ))
}

/// Stamps every file under `dir` with the current time, so cargo rebuilds the units that
/// read them whatever an earlier build of another checkout left recorded.
fn touch_tree(dir: &Path) -> std::io::Result<()> {
    let now = std::time::SystemTime::now();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                std::fs::File::options()
                    .write(true)
                    .open(entry.path())?
                    .set_modified(now)?;
            }
        }
    }
    Ok(())
}

/// The first of `paths` that the file at `bin` contains (source paths its line tables
/// name); the binary is read once.
fn named_path<'a>(bin: &Path, paths: &'a [PathBuf]) -> std::io::Result<Option<&'a PathBuf>> {
    let bytes = std::fs::read(bin)?;
    Ok(paths.iter().find(|p| {
        let needle = p.as_os_str().as_encoded_bytes();
        !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle)
    }))
}

/// The control's build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlBuild {
    /// A binary of the baseline's commit.
    Ready {
        /// The full commit id.
        commit: String,
        /// The binary.
        bin: PathBuf,
        /// Whether it came from the cache (no build this time).
        reused: bool,
    },
    /// No control today: the session falls back to the document (the weaker check).
    Unavailable {
        /// The commit asked for, if the baseline recorded one.
        commit: Option<String>,
        /// Why, in plain words.
        reason: String,
    },
}

/// Resolves `commit` to a full id, or says why it is not usable.
pub fn resolve_commit(repo: &Path, commit: &str) -> Result<String, String> {
    let out = git(repo)
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("{commit}^{{commit}}"))
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "commit {commit} is not in this repository's history (shallow clone, or a commit that was never pushed)"
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The control binary for the baseline's commit: cached, or built in a worktree and
/// cached. Never an error: every failure becomes [`ControlBuild::Unavailable`].
pub fn control(dirs: &BuildDirs, commit: Option<&str>, compiler: &dyn Compiler) -> ControlBuild {
    let Some(asked) = commit else {
        return ControlBuild::Unavailable {
            commit: None,
            reason: "the baseline does not record the commit it measured".to_owned(),
        };
    };
    let unavailable = |reason: String| ControlBuild::Unavailable {
        commit: Some(asked.to_owned()),
        reason,
    };
    let full = match resolve_commit(&dirs.repo, asked) {
        Ok(full) => full,
        Err(reason) => return unavailable(reason),
    };
    if let Some(note) = remove_legacy_worktrees(dirs) {
        eprintln!("gate: {note}");
    }
    let cached = dirs.cached_bin(&full);
    if cached.is_file() {
        return ControlBuild::Ready {
            commit: full,
            bin: cached,
            reused: true,
        };
    }
    let tree = dirs.worktree(&full);
    if !tree.join(".git").exists() {
        let _ = std::fs::remove_dir_all(&tree);
        let out = git(&dirs.repo)
            .args(["worktree", "add", "--detach", "--force"])
            .arg(&tree)
            .arg(&full)
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return unavailable(format!(
                    "cannot check out {full} in a worktree: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return unavailable(format!("cannot run git: {e}")),
        }
    }
    let built = match compiler.build(&tree, &dirs.target_dir, &[], true) {
        Ok(bin) => bin,
        Err(log) => return unavailable(format!("commit {full} does not build:\n{log}")),
    };
    match named_path(&built, std::slice::from_ref(&tree)) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return unavailable(format!(
                "the binary built for {full} does not name its worktree {}: cargo handed out \
                 another checkout's build, or the commit's release profile has no line tables",
                tree.display()
            ))
        }
        Err(e) => return unavailable(format!("cannot read the built binary: {e}")),
    }
    match copy_binary(&built, &cached) {
        Ok(()) => ControlBuild::Ready {
            commit: full,
            bin: cached,
            reused: false,
        },
        Err(e) => unavailable(format!("cannot keep the built binary: {e}")),
    }
}

/// Builds the candidate from the work tree and copies it to `bin/<name>/`, so a later
/// build of another tree into the shared target directory cannot swap it mid-session.
pub fn candidate(
    dirs: &BuildDirs,
    name: &str,
    features: &[String],
    compiler: &dyn Compiler,
) -> Result<PathBuf, String> {
    if let Some(note) = remove_legacy_worktrees(dirs) {
        eprintln!("gate: {note}");
    }
    let built = compiler.build(&dirs.repo, &dirs.target_dir, features, false)?;
    let worktrees = [dirs.worktrees_dir.clone(), dirs.legacy_worktrees()];
    if let Some(other) =
        named_path(&built, &worktrees).map_err(|e| format!("cannot read the built binary: {e}"))?
    {
        return Err(format!(
            "cargo handed out a build of a baseline worktree ({}) as the work tree's \
             proxy; run `cargo clean -p filter-proxy --release` and try again",
            other.display()
        ));
    }
    let kept = dirs.cached_bin(name);
    copy_binary(&built, &kept).map_err(|e| format!("cannot keep the built binary: {e}"))?;
    Ok(kept)
}

/// The work tree's commit and whether it has uncommitted changes.
pub fn head(repo: &Path) -> (Option<String>, bool) {
    let commit = git(repo)
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let dirty = git(repo)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    (commit, dirty)
}

fn git(repo: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(repo);
    cmd
}

/// Copies through a temporary name and renames, so a reader never sees half a binary.
fn copy_binary(from: &Path, to: &Path) -> std::io::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{PROXY_BIN}.partial"));
    std::fs::copy(from, &tmp)?;
    std::fs::rename(&tmp, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Writes a fake binary and counts builds.
    struct Counting(Cell<usize>);

    impl Compiler for Counting {
        fn build(
            &self,
            src: &Path,
            target: &Path,
            _: &[String],
            isolated: bool,
        ) -> Result<PathBuf, String> {
            // Only the worktree build is isolated from the work tree's units.
            assert_eq!(
                isolated,
                src.components().any(|c| c.as_os_str() == WORKTREES_DIR)
            );
            self.0.set(self.0.get() + 1);
            if src.join("broken").exists() {
                return Err("error[E0425]: cannot find value".into());
            }
            let bin = target.join("release").join(PROXY_BIN);
            std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
            std::fs::write(&bin, format!("built from {}", src.display())).unwrap();
            Ok(bin)
        }
    }

    #[test]
    fn every_workspace_member_of_this_checkout_is_isolated() {
        // The real manifest: the proxy's own path dependencies must be among the members
        // whose units an isolated build separates, or the candidate links the control's.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let members = workspace_members(repo).unwrap();
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        for needed in ["filter-proxy", "proxy-protocol", "appliance"] {
            assert!(names.contains(&needed), "{needed} missing from {names:?}");
        }
        for (_, dir) in &members {
            assert!(dir.join("Cargo.toml").is_file(), "{}", dir.display());
        }
        assert_eq!(
            isolate_config("proxy-protocol"),
            "profile.release.package.proxy-protocol.debug=\"limited\""
        );
    }

    #[test]
    fn members_read_from_metadata_and_bad_metadata_refused() {
        let json = br#"{"packages":[{"name":"a","manifest_path":"/w/a/Cargo.toml"},
            {"name":"b","manifest_path":"/w/b/Cargo.toml"}]}"#;
        assert_eq!(
            members_of_metadata(json).unwrap(),
            vec![
                ("a".to_owned(), PathBuf::from("/w/a")),
                ("b".to_owned(), PathBuf::from("/w/b"))
            ]
        );
        assert!(members_of_metadata(b"{}").is_err());
        assert!(members_of_metadata(br#"{"packages":[{"manifest_path":"/x"}]}"#).is_err());
        assert!(members_of_metadata(b"not json").is_err());
    }

    fn repo_with_commit(dir: &Path, file: &str) -> String {
        let run = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        if !dir.join(".git").exists() {
            run(&["init", "-q"]);
        }
        std::fs::write(dir.join(file), "x").unwrap();
        run(&["add", file]);
        run(&["commit", "-q", "-m", file]);
        run(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn dirs(tmp: &Path) -> BuildDirs {
        let repo = tmp.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        BuildDirs {
            target_dir: tmp.join("target"),
            gate_dir: tmp.join("target/gate"),
            worktrees_dir: repo.join(WORKTREES_DIR),
            repo,
        }
    }

    /// Hands out a binary of another checkout, as cargo did when it judged a unit built
    /// from another worktree up to date.
    struct Stale(PathBuf);

    impl Compiler for Stale {
        fn build(&self, _: &Path, target: &Path, _: &[String], _: bool) -> Result<PathBuf, String> {
            let bin = target.join("release").join(PROXY_BIN);
            std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
            std::fs::write(&bin, format!("built from {}", self.0.display())).unwrap();
            Ok(bin)
        }
    }

    #[test]
    fn a_control_that_names_another_checkout_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let commit = repo_with_commit(&dirs.repo, "a.txt");
        let stale = Stale(dirs.worktree("0000000000000000000000000000000000000000"));
        match control(&dirs, Some(&commit), &stale) {
            ControlBuild::Unavailable { reason, .. } => {
                assert!(reason.contains("does not name its worktree"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert!(!dirs.cached_bin(&commit).exists(), "nothing cached");
    }

    #[test]
    fn a_candidate_that_names_a_worktree_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let stale = Stale(dirs.worktree("0123"));
        let err = candidate(&dirs, "candidate", &[], &stale).unwrap_err();
        assert!(err.contains("baseline worktree"), "{err}");
        assert!(!dirs.cached_bin("candidate").exists());
    }

    #[test]
    fn legacy_worktrees_and_their_cached_binaries_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let commit = repo_with_commit(&dirs.repo, "a.txt");
        let legacy = dirs.gate_dir.join("worktrees").join(&commit);
        std::fs::create_dir_all(&legacy).unwrap();
        let suspect = dirs.cached_bin(&commit);
        std::fs::create_dir_all(suspect.parent().unwrap()).unwrap();
        std::fs::write(&suspect, "built from the legacy worktree").unwrap();
        let compiler = Counting(Cell::new(0));
        let built = control(&dirs, Some(&commit), &compiler);
        assert!(
            matches!(built, ControlBuild::Ready { reused: false, .. }),
            "{built:?}"
        );
        assert!(!dirs.gate_dir.join("worktrees").exists());
        let text = std::fs::read_to_string(&suspect).unwrap();
        assert!(
            text.contains(WORKTREES_DIR),
            "rebuilt in the new place: {text}"
        );
    }

    #[test]
    fn an_isolated_build_stamps_every_member_and_separates_its_units() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().canonicalize().unwrap();
        std::fs::write(
            tree.join("Cargo.toml"),
            "[workspace]\nmembers = [\"proxy\", \"proxy-protocol\"]\nresolver = \"2\"\n",
        )
        .unwrap();
        for (dir, name) in [
            ("proxy", "filter-proxy"),
            ("proxy-protocol", "proxy-protocol"),
        ] {
            std::fs::create_dir_all(tree.join(dir).join("src")).unwrap();
            std::fs::write(
                tree.join(dir).join("Cargo.toml"),
                format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"),
            )
            .unwrap();
            std::fs::write(tree.join(dir).join("src/lib.rs"), "").unwrap();
        }
        // Checked out, then aged: the build must see every member newer than any earlier
        // build of another checkout.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
        for dir in ["proxy", "proxy-protocol"] {
            std::fs::File::options()
                .write(true)
                .open(tree.join(dir).join("src/lib.rs"))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let before = std::time::SystemTime::now() - std::time::Duration::from_secs(5);
        let mut configs = isolate(&tree).unwrap();
        configs.sort();
        assert_eq!(
            configs,
            vec![
                isolate_config("filter-proxy"),
                isolate_config("proxy-protocol")
            ]
        );
        for dir in ["proxy", "proxy-protocol"] {
            let stamped = std::fs::metadata(tree.join(dir).join("src/lib.rs"))
                .unwrap()
                .modified()
                .unwrap();
            assert!(stamped >= before, "{dir} was not stamped");
        }
        // Not a cargo workspace: refused with cargo's reason, nothing built.
        let empty = tempfile::tempdir().unwrap();
        assert!(isolate(empty.path())
            .unwrap_err()
            .contains("cargo metadata"));
    }

    #[test]
    fn the_binary_of_a_commit_is_built_once_then_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let commit = repo_with_commit(&dirs.repo, "a.txt");
        let compiler = Counting(Cell::new(0));
        let short = &commit[..10];
        let first = control(&dirs, Some(short), &compiler);
        let ControlBuild::Ready { bin, reused, .. } = &first else {
            panic!("{first:?}");
        };
        assert!(!reused);
        assert_eq!(*bin, dirs.cached_bin(&commit));
        assert!(dirs.worktree(&commit).join("a.txt").is_file());
        let second = control(&dirs, Some(&commit), &compiler);
        assert_eq!(
            second,
            ControlBuild::Ready {
                commit: commit.clone(),
                bin: dirs.cached_bin(&commit),
                reused: true
            }
        );
        assert_eq!(compiler.0.get(), 1, "the cached binary must be reused");
    }

    #[test]
    fn an_unknown_commit_or_none_falls_back_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        repo_with_commit(&dirs.repo, "a.txt");
        let compiler = Counting(Cell::new(0));
        let unknown = "0123456789abcdef0123456789abcdef01234567";
        match control(&dirs, Some(unknown), &compiler) {
            ControlBuild::Unavailable { commit, reason } => {
                assert_eq!(commit.as_deref(), Some(unknown));
                assert!(
                    reason.contains("not in this repository's history"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            control(&dirs, None, &compiler),
            ControlBuild::Unavailable { commit: None, .. }
        ));
        assert_eq!(compiler.0.get(), 0);
    }

    #[test]
    fn a_commit_that_does_not_build_falls_back_with_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let commit = repo_with_commit(&dirs.repo, "broken");
        let compiler = Counting(Cell::new(0));
        match control(&dirs, Some(&commit), &compiler) {
            ControlBuild::Unavailable { reason, .. } => {
                assert!(reason.contains("does not build"), "{reason}");
                assert!(reason.contains("E0425"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!dirs.cached_bin(&commit).exists());
    }

    #[test]
    fn the_candidate_is_kept_apart_from_the_shared_target() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = dirs(tmp.path());
        let compiler = Counting(Cell::new(0));
        let kept = candidate(&dirs, "candidate", &[], &compiler).unwrap();
        assert_eq!(kept, dirs.cached_bin("candidate"));
        assert!(std::fs::read_to_string(&kept)
            .unwrap()
            .starts_with("built from"));
    }
}
