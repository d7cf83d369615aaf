//! Where a command finds what it runs and where it writes: the checkout a profile belongs
//! to, the `filter-proxy` binary (with the one hint for building it), the demo config
//! every run's proxy config is generated from, and a fresh run directory.
//!
//! One place, because `run`, `faults`, `capacity`, the appliance run and the parity rig
//! each resolved these on their own and had started to word their refusals differently.

use std::path::{Path, PathBuf};

use super::error::RigError;

/// The hint when the proxy binary is missing.
pub const BUILD_PROXY_HINT: &str =
    "build it first: cargo build --release -p filter-proxy (or pass --proxy-bin)";

/// The demo config, relative to the checkout: the base of every run's generated config.
pub const DEMO_CONFIG: &str = "scenarios/demo/proxy.toml";

/// The checkout a profile belongs to: the nearest ancestor of its directory holding a
/// `scenarios/` directory, else the current directory. (Every command that reads a
/// profile finds the checkout's data and `runs/` this way.)
pub fn repo_dir_of(profile: &Path) -> PathBuf {
    profile
        .ancestors()
        .skip(1)
        .find(|d| d.join("scenarios").is_dir())
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The profile file as an absolute path (every command finds the checkout's data from
/// it), or the error naming the profile.
pub fn canonical_profile(profile: &Path) -> Result<PathBuf, RigError> {
    std::fs::canonicalize(profile).map_err(|cause| RigError::Io {
        what: format!("profile {}", profile.display()),
        cause,
    })
}

/// The workspace binary `name` beside this executable (same cargo profile): the load
/// generator re-running itself as workers, the judge it calls.
pub fn beside_exe(name: &str) -> Result<PathBuf, RigError> {
    std::env::current_exe()
        .map(|exe| exe.with_file_name(name))
        .map_err(|cause| RigError::Io {
            what: "locate this executable".into(),
            cause,
        })
}

/// The proxy binary beside this executable (same cargo profile).
pub fn default_proxy_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("filter-proxy")))
        .unwrap_or_else(|| PathBuf::from("filter-proxy"))
}

/// The proxy binary to run: `given`, else the one beside this executable; refused with
/// the build hint when it is not there.
pub fn proxy_bin(given: Option<&Path>) -> Result<PathBuf, RigError> {
    let bin = given.map_or_else(default_proxy_bin, Path::to_path_buf);
    if !bin.is_file() {
        return Err(RigError::MissingProgram {
            program: bin.display().to_string(),
            hint: BUILD_PROXY_HINT.into(),
        });
    }
    Ok(bin)
}

/// The base config: `given`, else the checkout's demo config.
pub fn base_config(given: Option<&Path>, repo: &Path) -> PathBuf {
    given.map_or_else(|| repo.join(DEMO_CONFIG), Path::to_path_buf)
}

/// Creates a fresh run directory: `out`, else `runs/<name>-<stamp>` in the checkout.
/// A non-empty directory is refused: merging into an old run would mix two runs'
/// numbers in one run directory.
pub fn fresh_run_dir(
    out: Option<&Path>,
    repo: &Path,
    name: &str,
    stamp: &str,
) -> Result<PathBuf, RigError> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => repo.join("runs").join(format!("{name}-{stamp}")),
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RigError::Config {
            detail: format!(
                "run directory {} is not empty; choose a new --out",
                dir.display()
            ),
        });
    }
    std::fs::create_dir_all(&dir).map_err(|source| RigError::Io {
        what: format!("create run directory {}", dir.display()),
        cause: source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_run_directory_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("run");
        let made = fresh_run_dir(Some(&out), tmp.path(), "x", "t").unwrap();
        assert_eq!(made, out);
        std::fs::write(out.join("run.json"), "{}").unwrap();
        let err = fresh_run_dir(Some(&out), tmp.path(), "x", "t").unwrap_err();
        assert!(err.to_string().contains("is not empty"), "{err}");
        assert_eq!(std::fs::read_to_string(out.join("run.json")).unwrap(), "{}");
        let default = fresh_run_dir(None, tmp.path(), "peak", "20261206T000000Z").unwrap();
        assert_eq!(default, tmp.path().join("runs/peak-20261206T000000Z"));
    }

    #[test]
    fn a_missing_proxy_binary_names_the_build_command() {
        let err = proxy_bin(Some(Path::new("/nonexistent/filter-proxy"))).unwrap_err();
        assert!(
            err.to_string()
                .contains("cargo build --release -p filter-proxy"),
            "{err}"
        );
    }
}
