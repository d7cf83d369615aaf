//! A CPU quota on one process (the proxy), through a cgroup of its own: `cpu.max` on the
//! unified hierarchy (v2), `cpu.cfs_quota_us` on a v1 `cpu` hierarchy.
//!
//! Why: on a two-core machine the proxy, the load generator and the origin share the
//! CPUs with whatever else runs, so an unconstrained capacity staircase breaks where the
//! *machine's* tail breaks (a p99 at 5000 req/s with the proxy half a core busy). With the
//! proxy held to a fraction of a core it saturates first, at a rate the load generator
//! drives with room to spare, and the knee divided by the quota is the proxy's requests
//! per second per core. The kernel's throttling counters (`cpu.stat`) then show whether
//! the proxy really hit its quota at the knee.
//!
//! The cgroup is made directly under the hierarchy's root, named for this process and
//! the proxy's pid, and removed on drop (its processes moved back to the root first), so
//! a run leaves nothing behind even when the proxy is still alive.

use std::path::{Path, PathBuf};

/// Scheduling period of the quota: the kernel's default, 100 ms.
pub const PERIOD_US: u64 = 100_000;

/// Smallest quota accepted, in cores (the kernel's floor is 1 ms per period).
pub const MIN_CORES: f64 = 0.01;

/// Which cgroup interface holds the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// The unified hierarchy: `cpu.max`, `cpu.stat` in µs.
    V2,
    /// A v1 hierarchy with the `cpu` controller: `cpu.cfs_*`, `throttled_time` in ns.
    V1,
}

impl Hierarchy {
    /// How the quota was set, for reports.
    pub fn mechanism(self) -> &'static str {
        match self {
            Hierarchy::V2 => "cgroup v2 cpu.max",
            Hierarchy::V1 => "cgroup v1 cpu.cfs_quota_us",
        }
    }
}

/// Why a quota could not be set.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// The requested share of a core is not usable.
    #[error("CPU quota of {0} cores: must be at least {MIN_CORES} and at most 1024")]
    Cores(f64),
    /// No cgroup hierarchy with a usable `cpu` controller is mounted.
    #[error(
        "no cgroup hierarchy with the cpu controller is mounted and writable (tried: {tried})"
    )]
    NoController {
        /// What was tried, and why each failed.
        tried: String,
    },
    /// A cgroup file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        cause: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QuotaError + '_ {
    move |source| QuotaError::Io {
        path: path.display().to_string(),
        cause: source,
    }
}

/// The kernel's throttling counters of the cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Throttling {
    /// Enforcement periods that had runnable work.
    pub periods: u64,
    /// Periods in which the quota ran out.
    pub throttled_periods: u64,
    /// Time the group spent throttled, µs.
    pub throttled_us: u64,
}

impl Throttling {
    /// The share of periods, between `earlier` and `self`, in which the quota ran out
    /// (`None` when no period had work).
    pub fn throttled_share_since(&self, earlier: &Throttling) -> Option<f64> {
        let periods = self.periods.saturating_sub(earlier.periods);
        (periods > 0).then(|| {
            self.throttled_periods
                .saturating_sub(earlier.throttled_periods) as f64
                / periods as f64
        })
    }
}

/// A process held to a CPU quota; the cgroup is removed on drop.
#[derive(Debug)]
pub struct CpuQuota {
    dir: PathBuf,
    root: PathBuf,
    hierarchy: Hierarchy,
    cores: f64,
}

impl CpuQuota {
    /// Moves `pid` (every thread of it) into a new cgroup limited to `cores` CPUs.
    pub fn apply(pid: u32, cores: f64) -> Result<CpuQuota, QuotaError> {
        if !(MIN_CORES..=1024.0).contains(&cores) {
            return Err(QuotaError::Cores(cores));
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(io(Path::new("/proc/self/mountinfo")))?;
        let mut tried = Vec::new();
        for (root, hierarchy) in cpu_hierarchies(&mountinfo) {
            match Self::apply_in(&root, hierarchy, pid, cores) {
                Ok(q) => return Ok(q),
                Err(e) => tried.push(format!("{}: {e}", root.display())),
            }
        }
        Err(QuotaError::NoController {
            tried: if tried.is_empty() {
                "no cgroup mount with cpu in /proc/self/mountinfo".into()
            } else {
                tried.join("; ")
            },
        })
    }

    fn apply_in(
        root: &Path,
        hierarchy: Hierarchy,
        pid: u32,
        cores: f64,
    ) -> Result<CpuQuota, QuotaError> {
        if hierarchy == Hierarchy::V2 {
            // The controller must be enabled for the root's children; the root cgroup may
            // enable it whatever processes it holds.
            let control = root.join("cgroup.subtree_control");
            let enabled = std::fs::read_to_string(&control).map_err(io(&control))?;
            if !enabled.split_whitespace().any(|c| c == "cpu") {
                std::fs::write(&control, "+cpu").map_err(io(&control))?;
            }
        }
        let dir = root.join(format!("loadgen-quota-{}-{pid}", std::process::id()));
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        // From here on the guard removes the directory, whatever fails next.
        let quota = CpuQuota {
            dir,
            root: root.to_owned(),
            hierarchy,
            cores,
        };
        let quota_us = ((cores * PERIOD_US as f64).round() as u64).max(1000);
        match hierarchy {
            Hierarchy::V2 => quota.write("cpu.max", &format!("{quota_us} {PERIOD_US}"))?,
            Hierarchy::V1 => {
                quota.write("cpu.cfs_period_us", &PERIOD_US.to_string())?;
                quota.write("cpu.cfs_quota_us", &quota_us.to_string())?;
            }
        }
        quota.write("cgroup.procs", &pid.to_string())?;
        Ok(quota)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), QuotaError> {
        let path = self.dir.join(file);
        std::fs::write(&path, value).map_err(io(&path))
    }

    /// The quota, in cores.
    pub fn cores(&self) -> f64 {
        self.cores
    }

    /// Which interface holds it.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// The throttling counters now.
    pub fn throttling(&self) -> Result<Throttling, QuotaError> {
        let path = self.dir.join("cpu.stat");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(parse_cpu_stat(&text, self.hierarchy))
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        // A cgroup with processes cannot be removed: move whatever is left back to the
        // root (the proxy may still run when the caller drops the quota first).
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The mounted hierarchies that can hold a CPU quota, v2 first, from the text of
/// `/proc/self/mountinfo`.
pub fn cpu_hierarchies(mountinfo: &str) -> Vec<(PathBuf, Hierarchy)> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split(' ').nth(4) else {
            continue;
        };
        let mut right = right.split(' ');
        let (fstype, _source, options) = (right.next(), right.next(), right.next());
        let path = PathBuf::from(unescape_octal(mount_point));
        match fstype {
            Some("cgroup2") => {
                let controllers =
                    std::fs::read_to_string(path.join("cgroup.controllers")).unwrap_or_default();
                if controllers.split_whitespace().any(|c| c == "cpu") {
                    found.push((path, Hierarchy::V2));
                }
            }
            Some("cgroup") if options.is_some_and(|o| o.split(',').any(|c| c == "cpu")) => {
                found.push((path, Hierarchy::V1));
            }
            _ => {}
        }
    }
    found.sort_by_key(|(_, h)| *h == Hierarchy::V1);
    found
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' && octal.is_some_and(|o| o.iter().all(|b| (b'0'..=b'7').contains(b))) {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads the throttling counters of a `cpu.stat` file.
pub fn parse_cpu_stat(text: &str, hierarchy: Hierarchy) -> Throttling {
    let mut t = Throttling::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (
            parts.next(),
            parts.next().and_then(|v| v.parse::<u64>().ok()),
        ) else {
            continue;
        };
        match (key, hierarchy) {
            ("nr_periods", _) => t.periods = value,
            ("nr_throttled", _) => t.throttled_periods = value,
            ("throttled_usec", Hierarchy::V2) => t.throttled_us = value,
            ("throttled_time", Hierarchy::V1) => t.throttled_us = value / 1000,
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_cpu_mounts_are_found_and_other_controllers_are_not() {
        let info = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
32 25 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 25 0:29 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
34 25 0:30 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,cpu
";
        let found = cpu_hierarchies(info);
        assert_eq!(
            found,
            vec![
                (PathBuf::from("/sys/fs/cgroup/cpu"), Hierarchy::V1),
                (PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"), Hierarchy::V1),
                (PathBuf::from("/sys/fs/cgroup/with space"), Hierarchy::V1),
            ]
        );
    }

    #[test]
    fn cpu_stat_is_read_in_each_hierarchys_units() {
        let v1 = "nr_periods 200\nnr_throttled 50\nthrottled_time 7000000\nnr_bursts 0\n";
        assert_eq!(
            parse_cpu_stat(v1, Hierarchy::V1),
            Throttling {
                periods: 200,
                throttled_periods: 50,
                throttled_us: 7000
            }
        );
        let v2 = "usage_usec 10\nnr_periods 10\nnr_throttled 10\nthrottled_usec 900\n";
        let now = parse_cpu_stat(v2, Hierarchy::V2);
        assert_eq!(now.throttled_us, 900);
        let before = Throttling {
            periods: 6,
            throttled_periods: 8,
            throttled_us: 0,
        };
        assert_eq!(now.throttled_share_since(&before), Some(0.5));
        assert_eq!(now.throttled_share_since(&now), None);
    }

    #[test]
    fn a_quota_outside_the_kernels_range_is_refused_before_touching_anything() {
        assert!(matches!(
            CpuQuota::apply(1, 0.001),
            Err(QuotaError::Cores(_))
        ));
        assert!(matches!(
            CpuQuota::apply(1, f64::NAN),
            Err(QuotaError::Cores(_))
        ));
    }
}
