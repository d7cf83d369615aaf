//! Child processes the harness starts (origin helpers, redis, proxy, load generator),
//! each held by a guard that kills it by pid when dropped.
//!
//! Why a guard rather than explicit cleanup: the harness can leave its happy path in
//! many ways (an error from any step, a panic, Ctrl-C turning into a dropped future);
//! every one of them drops the guards, so no run leaves an orphan behind. Children stay
//! in the harness's process group on purpose: a supervisor that kills that group with
//! SIGKILL (which no handler can catch) takes the children down too.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::RigError;

/// A running child process, killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Option<Child>,
    stderr_path: Option<PathBuf>,
}

impl ChildGuard {
    /// Spawns `cmd`, naming it `name` in errors. When `stderr_path` is given, the child's
    /// stderr and stdout go to that file (logs go to either, depending on the program) so
    /// they can be quoted when the child fails.
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        stderr_path: Option<PathBuf>,
    ) -> Result<Self, RigError> {
        cmd.stdin(Stdio::null());
        if let Some(path) = &stderr_path {
            let file = std::fs::File::create(path).map_err(|e| RigError::Io {
                what: format!("create {}", path.display()),
                cause: e,
            })?;
            let out = file.try_clone().map_err(|e| RigError::Io {
                what: format!("open {}", path.display()),
                cause: e,
            })?;
            cmd.stdout(out).stderr(file);
        }
        let child = cmd.spawn().map_err(|e| RigError::Spawn {
            name: name.to_owned(),
            program: cmd.get_program().to_string_lossy().into_owned(),
            cause: e,
        })?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            stderr_path,
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .expect("the child is only taken by kill, which consumes the guard")
    }

    /// The name given at spawn time.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The exit status if the child has already exited, without waiting.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits up to `timeout` for the child to exit by itself; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `max_bytes` of what the child wrote to stderr (empty when not captured).
    pub fn stderr_tail(&self, max_bytes: usize) -> String {
        let Some(path) = &self.stderr_path else {
            return String::new();
        };
        let text = std::fs::read(path).unwrap_or_default();
        let start = text.len().saturating_sub(max_bytes);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    /// Kills and reaps the child now.
    pub fn kill(mut self) {
        self.stop();
    }

    /// Kills and reaps the child now, keeping the guard (for a part held in a larger
    /// struct); [`ChildGuard::pid`] must not be asked afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means the child is already gone, which is what we want.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            super::sample::parse_stat(&stat).map(|s| s.state),
            Ok('Z') | Ok('X')
        ),
        Err(_) => false,
    }
}

/// Runs a child to its end (polling, so a Ctrl-C that drops the caller kills it at
/// once), failing when it fails or outlives `limit`.
pub async fn run_to_end(
    name: &str,
    cmd: Command,
    log: PathBuf,
    limit: Duration,
) -> Result<(), RigError> {
    let mut child = ChildGuard::spawn(name, cmd, Some(log))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_exit_status() {
            break status;
        }
        if Instant::now() >= deadline {
            return Err(RigError::ChildFailed {
                name: name.into(),
                status: format!("no exit after {} s (killed)", limit.as_secs()),
                stderr: child.stderr_tail(4000),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if status.success() {
        Ok(())
    } else {
        Err(RigError::ChildFailed {
            name: name.into(),
            status: status.to_string(),
            stderr: child.stderr_tail(4000),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_kills_the_child() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let guard = ChildGuard::spawn("sleep", cmd, None).unwrap();
        let pid = guard.pid();
        assert!(pid_alive(pid));
        drop(guard);
        assert!(!pid_alive(pid), "pid {pid} survived its guard");
    }

    #[test]
    fn stderr_is_captured_and_exit_observed() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom >&2; exit 3"]);
        let mut guard = ChildGuard::spawn("sh", cmd, Some(dir.path().join("err.log"))).unwrap();
        let status = guard.wait_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert_eq!(guard.stderr_tail(100).trim(), "boom");
        assert_eq!(guard.stderr_tail(2).trim(), "m");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error_naming_it() {
        let err = ChildGuard::spawn("ghost", Command::new("/nonexistent/ghost"), None).unwrap_err();
        assert!(err.to_string().contains("ghost"), "{err}");
    }
}
