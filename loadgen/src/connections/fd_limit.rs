//! This process's open-file limit, raised for a storm: a storm of thousands of connections
//! holds a socket per connection on the client side (and the bundled proxy, started after,
//! inherits the limit), while the default soft limit is 1,024.

/// The (soft, hard) `Max open files` of a `/proc/PID/limits` text; `None` when the line is
/// missing or not numbers (`unlimited` included: nothing to raise then).
pub fn parse_limits(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next()?.parse().ok()?;
    let hard = fields.next()?.parse().ok()?;
    Some((soft, hard))
}

/// This process's fd limit (soft, hard), from `/proc/self/limits`.
pub fn current() -> Option<(u64, u64)> {
    parse_limits(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// Raises this process's fd limit to `want` with util-linux `prlimit` (children started
/// after inherit it; root may raise the hard limit too, anyone the soft one up to the
/// hard one); returns the soft limit in force afterwards. A tool rather than a system call
/// because the crate forbids unsafe code, as the rig's pinning uses `taskset`.
pub fn raise(want: u64) -> u64 {
    let Some((soft, hard)) = current() else {
        return 0;
    };
    if soft >= want {
        return soft;
    }
    let pid = std::process::id().to_string();
    let run = |limit: String| {
        std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={limit}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !run(format!("{want}:{}", want.max(hard))) {
        run(format!("{}:{hard}", want.min(hard)));
    }
    current().map_or(soft, |l| l.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_files_line_gives_soft_and_hard() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max cpu time              unlimited            unlimited            seconds   \n\
                    Max open files            1024                 524288               files     \n";
        assert_eq!(parse_limits(text), Some((1024, 524_288)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_limits(unlimited), None);
        assert_eq!(parse_limits("Max processes 10 10 processes\n"), None);
    }
}
