//! CPU placement: the proxy on a core of its own, the load generator and origin on the
//! others, so the proxy's CPU cost is measured without competing with the load that
//! drives it.
//!
//! Pinning uses `taskset` (util-linux) instead of `sched_setaffinity` bindings: children
//! are started as `taskset -c LIST program ...` (taskset execs the program, so the pid
//! is the program's), and the harness pins itself with `taskset -a -p`. That keeps the
//! crate free of unsafe code and of a libc binding for one system call.

use std::process::{Command, Stdio};

/// Where the harness placed the processes it runs (recorded in `run.json` as
/// `placement`, typed in `rundir`).
pub use rundir::run::Placement;

/// Parses a kernel CPU list such as `0-3,6,8-9`.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Formats CPUs as a list `taskset -c` accepts.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`).
pub fn allowed_cpus() -> Vec<usize> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(parse_cpu_list)
        })
        .unwrap_or_default()
}

/// The placement for these CPUs: `None` with fewer than two (nothing to separate).
/// The proxy gets the last CPU, everything else the rest.
pub fn plan(cpus: &[usize]) -> Option<Placement> {
    let (last, rest) = cpus.split_last()?;
    if rest.is_empty() {
        return None;
    }
    Some(Placement {
        proxy_cpus: vec![*last],
        loadgen_cpus: rest.to_vec(),
    })
}

/// Whether `taskset` can be run.
pub fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// A command that runs `program` pinned to `cpus`, or unpinned when `cpus` is `None`.
pub fn command(program: &std::ffi::OsStr, cpus: Option<&[usize]>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(format_cpu_list(cpus)).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Pins every thread of process `pid` to `cpus` (threads started later inherit it).
pub fn pin_process(pid: u32, cpus: &[usize]) -> std::io::Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", &format_cpu_list(cpus), &pid.to_string()])
        .stdout(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "taskset failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_and_format() {
        assert_eq!(
            parse_cpu_list("0-3,6,8-9\n"),
            Some(vec![0, 1, 2, 3, 6, 8, 9])
        );
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(format_cpu_list(&[0, 2, 3]), "0,2,3");
    }

    #[test]
    fn plan_separates_the_proxy() {
        assert_eq!(plan(&[0]), None);
        assert_eq!(plan(&[]), None);
        let p = plan(&[0, 1]).unwrap();
        assert_eq!(p.proxy_cpus, vec![1]);
        assert_eq!(p.loadgen_cpus, vec![0]);
        let p = plan(&[0, 1, 2, 3]).unwrap();
        assert_eq!(p.proxy_cpus, vec![3]);
        assert_eq!(p.loadgen_cpus, vec![0, 1, 2]);
    }

    #[test]
    fn this_process_has_cpus() {
        assert!(!allowed_cpus().is_empty());
    }
}
