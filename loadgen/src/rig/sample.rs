//! Per-second resource samples of a process, read from `/proc`.
//!
//! The parsers are pure functions over the files' text so they are tested on captured
//! text; [`sample_pid`] does the reading. Reading `/proc` directly (rather than running
//! `ps`) costs microseconds, so sampling once a second does not disturb the run.

use std::path::Path;

/// Errors reading or parsing `/proc` files.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The file could not be read (usually: the process has exited).
    #[error("read {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The text did not have the expected shape.
    #[error("parse {what}: {detail}")]
    Parse {
        /// Which file.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// The fields of `/proc/PID/stat` the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Process state letter (R, S, D, Z, ...).
    pub state: char,
    /// User-mode CPU time in clock ticks.
    pub utime_ticks: u64,
    /// Kernel-mode CPU time in clock ticks.
    pub stime_ticks: u64,
    /// Number of threads.
    pub num_threads: u64,
}

/// Parses `/proc/PID/stat`. The command name may contain spaces and parentheses, so
/// the fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<ProcStat, SampleError> {
    let err = |detail: &str| SampleError::Parse {
        what: "stat",
        detail: detail.to_owned(),
    };
    let close = text
        .rfind(')')
        .ok_or_else(|| err("no ')' after the command name"))?;
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // Field numbers in proc(5) are 1-based and count pid and comm: state is field 3,
    // so field n is fields[n - 3].
    let field = |n: usize| -> Result<u64, SampleError> {
        fields
            .get(n - 3)
            .ok_or_else(|| err(&format!("missing field {n}")))?
            .parse::<u64>()
            .map_err(|e| err(&format!("field {n}: {e}")))
    };
    let state = fields
        .first()
        .and_then(|s| s.chars().next())
        .ok_or_else(|| err("missing state"))?;
    Ok(ProcStat {
        state,
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        num_threads: field(20)?,
    })
}

/// The fields of `/proc/PID/status` the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStatus {
    /// Resident set size now, bytes (`VmRSS`).
    pub rss_bytes: u64,
    /// Peak resident set size, bytes (`VmHWM`).
    pub hwm_bytes: u64,
}

/// Parses `/proc/PID/status` (`VmRSS` and `VmHWM`, given in kB).
pub fn parse_status(text: &str) -> Result<ProcStatus, SampleError> {
    let kb = |key: &str| -> Result<u64, SampleError> {
        let line = text
            .lines()
            .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
            .ok_or_else(|| SampleError::Parse {
                what: "status",
                detail: format!("no {key} line"),
            })?;
        let value = line[key.len() + 1..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| SampleError::Parse {
                what: "status",
                detail: format!("bad {key} line: {line}"),
            })?;
        Ok(value * 1024)
    };
    Ok(ProcStatus {
        rss_bytes: kb("VmRSS")?,
        hwm_bytes: kb("VmHWM")?,
    })
}

/// One sample of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ProcSample {
    /// Cumulative user CPU, milliseconds.
    pub cpu_user_ms: u64,
    /// Cumulative system CPU, milliseconds.
    pub cpu_sys_ms: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Peak resident set size so far, bytes.
    pub hwm_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// Converts clock ticks to milliseconds.
pub fn ticks_to_ms(ticks: u64, ticks_per_second: u64) -> u64 {
    ticks * 1000 / ticks_per_second.max(1)
}

/// Samples process `pid` from `/proc`. `ticks_per_second` is `CLK_TCK`
/// (see [`clock_ticks_per_second`]).
pub fn sample_pid(pid: u32, ticks_per_second: u64) -> Result<ProcSample, SampleError> {
    let base = format!("/proc/{pid}");
    let stat = parse_stat(&read(&format!("{base}/stat"))?)?;
    let status = parse_status(&read(&format!("{base}/status"))?)?;
    let fds = count_dir(&format!("{base}/fd"))?;
    Ok(ProcSample {
        cpu_user_ms: ticks_to_ms(stat.utime_ticks, ticks_per_second),
        cpu_sys_ms: ticks_to_ms(stat.stime_ticks, ticks_per_second),
        rss_bytes: status.rss_bytes,
        hwm_bytes: status.hwm_bytes,
        threads: stat.num_threads,
        fds,
    })
}

/// Cumulative CPU (user + system) of `pid` in milliseconds.
pub fn cpu_ms(pid: u32, ticks_per_second: u64) -> Result<u64, SampleError> {
    let stat = parse_stat(&read(&format!("/proc/{pid}/stat"))?)?;
    Ok(ticks_to_ms(
        stat.utime_ticks + stat.stime_ticks,
        ticks_per_second,
    ))
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked:
/// that is the value on every mainstream Linux architecture.
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

pub fn read(path: &str) -> Result<String, SampleError> {
    std::fs::read_to_string(path).map_err(|source| SampleError::Read {
        path: path.to_owned(),
        cause: source,
    })
}

fn count_dir(path: &str) -> Result<u64, SampleError> {
    let entries = std::fs::read_dir(Path::new(path)).map_err(|source| SampleError::Read {
        path: path.to_owned(),
        cause: source,
    })?;
    Ok(entries.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (filter proxy) S 1 4242 4242 0 -1 4194560 2104 0 0 0 \
        1234 567 0 0 20 0 9 0 123456 987654321 5000 18446744073709551615 1 1 0 0 0 0 0 \
        4096 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_paren() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.state, 'S');
        assert_eq!(s.utime_ticks, 1234);
        assert_eq!(s.stime_ticks, 567);
        assert_eq!(s.num_threads, 9);
        let tricky = STAT.replace("(filter proxy)", "(a) b (c)");
        assert_eq!(parse_stat(&tricky).unwrap(), s);
    }

    #[test]
    fn truncated_stat_is_an_error() {
        assert!(parse_stat("4242 (x) S 1 2 3").is_err());
        assert!(parse_stat("garbage").is_err());
    }

    #[test]
    fn status_reads_rss_and_hwm_in_bytes() {
        let text = "Name:\tfilter-proxy\nVmPeak:\t  999 kB\nVmHWM:\t   20480 kB\n\
                    VmRSS:\t   10240 kB\nThreads:\t9\n";
        let s = parse_status(text).unwrap();
        assert_eq!(s.rss_bytes, 10240 * 1024);
        assert_eq!(s.hwm_bytes, 20480 * 1024);
        assert!(parse_status("Name:\tx\n").is_err());
    }

    #[test]
    fn samples_this_process() {
        let s = sample_pid(std::process::id(), clock_ticks_per_second()).unwrap();
        assert!(s.rss_bytes > 0 && s.hwm_bytes >= s.rss_bytes);
        assert!(s.threads >= 1 && s.fds >= 3);
    }

    #[test]
    fn ticks_convert_to_ms() {
        assert_eq!(ticks_to_ms(250, 100), 2500);
        assert_eq!(ticks_to_ms(7, 0), 7000);
    }
}
