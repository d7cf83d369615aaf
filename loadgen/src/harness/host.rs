//! Machine-wide CPU, sampled once a second beside the proxy and the load generator.
//!
//! On a small shared machine a latency tail is often not the proxy's: another process
//! took the cores, or the hypervisor did (steal). The run records, per second, how busy
//! the whole machine was, how long runnable tasks waited for a CPU (the kernel's pressure
//! stall information), and the steal and I/O wait, so the report can say whether the
//! slowest seconds were seconds in which the machine itself was contended.
//!
//! The parsers are pure functions over the files' text; [`sample`] does the reading.

use crate::rig::sample::{read, ticks_to_ms, SampleError};

/// Cumulative machine-wide CPU counters, milliseconds summed over all CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostCpu {
    /// Time spent running anything: user, nice, system, irq and softirq.
    pub busy_ms: u64,
    /// Time idle while I/O was outstanding.
    pub iowait_ms: u64,
    /// Time the hypervisor ran something else while this machine wanted a CPU.
    pub steal_ms: u64,
    /// Wall time during which at least one runnable task waited for a CPU
    /// (`/proc/pressure/cpu`, "some"), when the kernel reports it.
    pub cpu_pressure_ms: Option<u64>,
}

/// Parses the aggregate `cpu` line of `/proc/stat` (fields in clock ticks).
pub fn parse_proc_stat(text: &str, ticks_per_second: u64) -> Result<HostCpu, SampleError> {
    let err = |detail: String| SampleError::Parse {
        what: "/proc/stat",
        detail,
    };
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| err("no aggregate `cpu` line".to_owned()))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("`cpu` line: {e}")))?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]: guest time is
    // already counted in user and nice.
    if fields.len() < 8 {
        return Err(err(format!(
            "`cpu` line has {} fields, expected at least 8",
            fields.len()
        )));
    }
    let ms = |ticks: u64| ticks_to_ms(ticks, ticks_per_second);
    Ok(HostCpu {
        busy_ms: ms(fields[0] + fields[1] + fields[2] + fields[5] + fields[6]),
        iowait_ms: ms(fields[4]),
        steal_ms: ms(fields[7]),
        cpu_pressure_ms: None,
    })
}

/// Parses the `some` line of `/proc/pressure/cpu`: cumulative stall time, in ms.
pub fn parse_pressure(text: &str) -> Result<u64, SampleError> {
    let err = |detail: &str| SampleError::Parse {
        what: "/proc/pressure/cpu",
        detail: detail.to_owned(),
    };
    let line = text
        .lines()
        .find(|l| l.starts_with("some "))
        .ok_or_else(|| err("no `some` line"))?;
    let total_us = line
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("total="))
        .ok_or_else(|| err("no total= field"))?
        .parse::<u64>()
        .map_err(|_| err("total= is not a number"))?;
    Ok(total_us / 1000)
}

/// Reads the machine's counters now. Pressure is optional: kernels built without PSI,
/// or booted with `psi=0`, have no `/proc/pressure`.
pub fn sample(ticks_per_second: u64) -> Result<HostCpu, SampleError> {
    let mut host = parse_proc_stat(&read("/proc/stat")?, ticks_per_second)?;
    host.cpu_pressure_ms = read("/proc/pressure/cpu")
        .ok()
        .and_then(|t| parse_pressure(&t).ok());
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  2694068 41884 724015 924652 61333 7 133273 4440 12 0\n\
                        cpu0 1347034 20942 362007 462326 30666 3 66636 2220 6 0\n\
                        intr 1 2 3\n";

    #[test]
    fn stat_sums_busy_fields_and_keeps_steal_and_iowait_apart() {
        let h = parse_proc_stat(STAT, 100).unwrap();
        assert_eq!(h.busy_ms, (2694068 + 41884 + 724015 + 7 + 133273) * 10);
        assert_eq!(h.iowait_ms, 613330);
        assert_eq!(h.steal_ms, 44400);
        assert_eq!(h.cpu_pressure_ms, None);
    }

    #[test]
    fn short_or_garbled_stat_is_an_error() {
        assert!(parse_proc_stat("cpu  1 2 3 4\n", 100).is_err());
        assert!(parse_proc_stat("cpu  1 2 x 4 5 6 7 8\n", 100).is_err());
        assert!(parse_proc_stat("cpu0 1 2 3 4 5 6 7 8\n", 100).is_err());
    }

    #[test]
    fn pressure_reads_the_some_total_in_ms() {
        let text = "some avg10=0.10 avg60=5.46 avg300=7.30 total=9492855579\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(text).unwrap(), 9492855);
        assert!(parse_pressure("full avg10=0.00 total=5\n").is_err());
        assert!(parse_pressure("some avg10=0.10\n").is_err());
    }

    #[test]
    fn samples_this_machine() {
        let tps = crate::rig::sample::clock_ticks_per_second();
        let a = sample(tps).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = sample(tps).unwrap();
        assert!(a.busy_ms > 0);
        assert!(b.busy_ms >= a.busy_ms && b.steal_ms >= a.steal_ms);
    }
}
