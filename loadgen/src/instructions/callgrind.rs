//! Driving callgrind: starting the proxy under it, zeroing and dumping its counters from
//! outside (`callgrind_control`, which talks to the process through valgrind's gdbserver),
//! and reading the instruction total from a dump.
//!
//! Why zero and dump rather than count the whole process: start-up (loading the category
//! database) costs more instructions than thousands of requests, and shutdown some more;
//! counting only between the marks leaves the requests alone in the figure.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::rig::RigError;

/// Longest a `callgrind_control` call may take (it waits for the process to answer).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);

/// `valgrind --version`, or an error saying how to get valgrind.
pub fn version() -> Result<String, RigError> {
    for program in ["valgrind", "callgrind_control"] {
        let found = Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(RigError::MissingProgram {
                program: program.into(),
                hint: "the instruction pass needs valgrind (Debian package `valgrind`), or \
                       set `[harness] instructions = 0` in the profile"
                    .into(),
            });
        }
    }
    let out = Command::new("valgrind")
        .arg("--version")
        .output()
        .map_err(|source| RigError::Io {
            what: "run valgrind --version".into(),
            cause: source,
        })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(format!("callgrind ({version})"))
}

/// The command that runs `proxy --config CONFIG` under callgrind, pinned to `cpus`.
pub fn command(proxy: &Path, config: &Path, out_pattern: &Path, cpus: Option<&[usize]>) -> Command {
    let mut out_file = OsString::from("--callgrind-out-file=");
    out_file.push(out_pattern);
    let mut cmd = crate::rig::pin::command("valgrind".as_ref(), cpus);
    cmd.arg("--tool=callgrind")
        .arg(out_file)
        // Only the totals are read: no per-line or per-instruction data to write.
        .arg("--dump-line=no")
        .arg("--dump-instr=no")
        .arg(proxy)
        .arg("--config")
        .arg(config)
        // The gate's self-test delays its latency candidate (a `gate-selftest` build of the
        // proxy) by this variable. A delay is waiting, not work: the count would otherwise
        // gain the wait's hand-off, and the calibration could not show that the latency
        // rules alone catch it.
        .env_remove("FILTER_PROXY_SELFTEST_DELAY_US");
    cmd
}

async fn control(args: &[&str], pid: u32) -> Result<String, RigError> {
    let mut cmd = tokio::process::Command::new("callgrind_control");
    cmd.args(args).arg(pid.to_string()).kill_on_drop(true);
    let out = tokio::time::timeout(CONTROL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| RigError::Config {
            detail: format!(
                "callgrind_control {} {pid} did not answer in {} s",
                args.join(" "),
                CONTROL_TIMEOUT.as_secs()
            ),
        })?
        .map_err(|source| RigError::Io {
            what: "run callgrind_control".into(),
            cause: source,
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !text.contains("OK") {
        return Err(RigError::Config {
            detail: format!(
                "callgrind_control {} {pid} failed ({}): {}",
                args.join(" "),
                out.status,
                text.trim()
            ),
        });
    }
    Ok(text)
}

/// Zeroes the process's counters.
pub async fn zero(pid: u32) -> Result<(), RigError> {
    control(&["--zero"], pid).await.map(|_| ())
}

/// Dumps the counters and returns the new dump file (in `dir`).
pub async fn dump(pid: u32, dir: &Path) -> Result<PathBuf, RigError> {
    let before = dumps_of(pid, dir);
    control(&["--dump"], pid).await?;
    // The dump is written by the process itself, right after it answers.
    for _ in 0..100 {
        let now = dumps_of(pid, dir);
        if let Some(new) = now.into_iter().find(|p| !before.contains(p)) {
            return Ok(new);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(RigError::Config {
        detail: format!(
            "callgrind dumped no file for pid {pid} in {}",
            dir.display()
        ),
    })
}

/// Numbered dump files of `pid` in `dir` (`callgrind.out.PID.N`).
fn dumps_of(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("callgrind.out.{pid}.");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The instruction total of a dump (its `totals:` line, else its `summary:` line).
pub fn totals(dump: &Path) -> Result<u64, RigError> {
    let text = std::fs::read_to_string(dump).map_err(|source| RigError::Io {
        what: format!("read {}", dump.display()),
        cause: source,
    })?;
    parse_totals(&text).ok_or_else(|| RigError::Config {
        detail: format!("{} has no `totals:` line", dump.display()),
    })
}

/// Parses the first event count of the `totals:` (or `summary:`) line.
pub fn parse_totals(text: &str) -> Option<u64> {
    ["totals:", "summary:"].iter().find_map(|key| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_line_wins_over_summary_and_bad_files_have_none() {
        let dump = "version: 1\nevents: Ir\nsummary: 10\nfn=(1) main\n1 5\ntotals: 12\n";
        assert_eq!(parse_totals(dump), Some(12));
        assert_eq!(parse_totals("events: Ir\nsummary: 7 3\n"), Some(7));
        assert_eq!(parse_totals("events: Ir\ntotals: many\n"), None);
        assert_eq!(parse_totals(""), None);
    }

    #[test]
    fn the_counted_proxy_runs_without_the_self_tests_wait() {
        let cmd = command(
            Path::new("filter-proxy"),
            Path::new("proxy.toml"),
            Path::new("callgrind.out.%p"),
            None,
        );
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_owned())
            .collect();
        assert_eq!(removed, ["FILTER_PROXY_SELFTEST_DELAY_US"]);
    }
}
