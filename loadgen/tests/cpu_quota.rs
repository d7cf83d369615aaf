//! The cgroup CPU quota the capacity rig puts on the proxy, on a real process: a busy
//! shell loop (bounded in count, killed by pid) held to a fifth of a core uses about that, and the
//! kernel counts the periods it was throttled in. Removing the quota leaves no cgroup.
//!
//! Needs a writable cgroup hierarchy with the cpu controller, which root has on this
//! machine kind (CI runs as root); elsewhere the test says why it did not run.

use std::process::Command;
use std::time::{Duration, Instant};

use loadgen::rig::children::ChildGuard;
use loadgen::rig::cpu_quota::{cpu_hierarchies, CpuQuota, QuotaError};
use loadgen::rig::sample;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn a_busy_process_held_to_a_fifth_of_a_core_uses_about_that() {
    // The loop is the shell itself (no fork), bounded in count, and the guard kills it
    // by pid when the test ends, passes or panics.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "i=0; while [ $i -lt 200000000 ]; do i=$((i+1)); done"]);
    let child = ChildGuard::spawn("busy loop", cmd, None).expect("sh runs");
    let busy = child.pid();
    let quota = match CpuQuota::apply(busy, 0.2) {
        Ok(q) => q,
        Err(e @ QuotaError::NoController { .. }) | Err(e @ QuotaError::Io { .. }) if !is_root() => {
            eprintln!("not run: no writable cgroup cpu controller without root ({e})");
            return;
        }
        Err(e) => panic!("root can set a CPU quota on this machine kind: {e}"),
    };
    let name = format!("loadgen-quota-{}-{busy}", std::process::id());
    let dir_count = || {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        cpu_hierarchies(&info)
            .iter()
            .filter_map(|(root, _)| std::fs::read_dir(root).ok())
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy() == name)
            .count()
    };
    assert_eq!(dir_count(), 1, "the quota's cgroup exists");
    let ticks = sample::clock_ticks_per_second();
    let before = quota.throttling().unwrap();
    let cpu0 = sample::cpu_ms(busy, ticks).unwrap();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    let cores =
        (sample::cpu_ms(busy, ticks).unwrap() - cpu0) as f64 / 1000.0 / t0.elapsed().as_secs_f64();
    let after = quota.throttling().unwrap();
    assert!(
        cores < 0.35,
        "a fifth of a core allowed, {cores:.2} cores used"
    );
    assert!(cores > 0.05, "the loop still ran: {cores:.2} cores");
    let share = after
        .throttled_share_since(&before)
        .expect("periods with work");
    assert!(share > 0.5, "a busy loop runs out of its quota: {share:.2}");
    assert!(after.throttled_us > before.throttled_us);
    drop(quota);
    assert_eq!(dir_count(), 0, "the cgroup is removed with the quota");
    child.kill();
}
