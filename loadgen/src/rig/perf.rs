//! CPU profiles of the proxy under test: `perf` with kernel stacks when it can run here,
//! the proxy's own pprof endpoint when it cannot.
//!
//! # Why perf
//! The proxy's pprof endpoint (`proxy/src/admin/pprof.rs`) samples from a `setitimer`
//! that Linux checks on scheduler ticks, so it gets at most about `CONFIG_HZ` samples per
//! CPU-second, and it drops every sample whose interrupted instruction is in libc or the
//! vDSO, which for a proxy is every sample on the way into or out of a syscall. Kernel
//! time, often most of a proxy's CPU, is not in it at all. A ten-second window of a busy
//! proxy held a few hundred samples. `perf record -p PID` samples the process from the
//! kernel's perf events whatever it is doing, kernel stacks included.
//!
//! # Why DWARF unwinding
//! Release builds keep line tables but not frame pointers, so `--call-graph fp` would
//! stop after a frame or two. `--call-graph dwarf,SIZE` copies the top [`STACK_BYTES`]
//! of the user stack with each sample and `perf script` unwinds it from the binary's
//! CFI afterwards; 16 KiB reaches the runtime's worker loop in the proxy's stacks.
//!
//! # The size bound
//! Each sample then costs about 16.6 KiB in `perf.data`, and perf samples on-CPU time
//! only, so the samples a window yields are frequency x seconds x cores busy. The
//! frequency is chosen per window from the proxy's CPU use in the second before it, so
//! the window yields about [`SAMPLE_BUDGET`] samples (about 100 MB) whatever its length
//! and the proxy's load: 100 Hz for 60 s of one busy core, 1000 Hz for 10 s of 0.6
//! core, within [`MIN_FREQUENCY_HZ`]..=[`MAX_FREQUENCY_HZ`]. A proxy much busier in the
//! window than before it would exceed that, so `--max-size` stops recording at
//! [`MAX_DATA_BYTES`] (190 MiB). A proxy nearly idle yields fewer samples than aimed
//! at even at the highest frequency, and the run's notes say so. `perf.data` is deleted
//! once collapsed, unless the caller keeps it; perf's own output stays beside it
//! (`perf-record.log`, `perf-script.log`: lost chunks, unwinding warnings).
//!
//! # The fallback
//! When `perf` is missing or cannot record here (probed once: a short `perf record` of
//! `true`), the pprof endpoint is asked for the whole window (at most its 60 s); its
//! profile shows user space only, and [`CpuProfileMeta::kernel_stacks`] says so.
//!
//! Both give collapsed stacks in one format, `thread;outermost;...;innermost count`
//! (the thread's name first, as `rundir::folded` expects); perf's kernel frames carry
//! inferno's `_[k]` suffix so a reader can tell them from user frames.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::admin::AdminClient;
use super::children::ChildGuard;
use super::error::RigError;
use super::files;
use super::redis::find_program;

/// Bytes of user stack copied with each sample for DWARF unwinding.
pub const STACK_BYTES: u64 = 16 * 1024;
/// Samples a window aims at (about 100 MB of `perf.data`).
pub const SAMPLE_BUDGET: f64 = 6000.0;
/// Highest sampling frequency (odd, so it does not beat against millisecond timers). At
/// this rate each busy core copies about 65 MB/s of stacks.
pub const MAX_FREQUENCY_HZ: u64 = 3999;
/// The least CPU use a frequency is planned for (a proxy that looked idle before the
/// window may not be idle in it).
const MIN_PLANNED_CORES: f64 = 0.05;
/// Lowest sampling frequency.
pub const MIN_FREQUENCY_HZ: u64 = 49;
/// `perf record --max-size`: recording stops there (a proxy on several cores).
pub const MAX_DATA_BYTES: u64 = 190 * 1024 * 1024;
/// Samples per steady window below which a run's notes say the profile is thin.
pub const SAMPLE_TARGET: u64 = 2000;
/// Longest profile the proxy's pprof endpoint serves (its `MAX_SECONDS`).
pub const PPROF_MAX_SECONDS: u64 = 60;
/// The frequency the pprof endpoint asks for (its `FREQUENCY_HZ`; the effective rate is
/// capped near the kernel's `CONFIG_HZ`).
pub const PPROF_FREQUENCY_HZ: u64 = 999;
/// The Debian package that provides `perf`.
pub const PERF_PACKAGE: &str = "linux-perf";

/// Which profiler produced a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileSource {
    /// `perf record` of the proxy's pid, kernel stacks included.
    Perf,
    /// The proxy's `/debug/pprof/profile` endpoint: user space only.
    Pprof,
}

/// `cpu-profile.json`, beside `cpu.folded`: how the profile was taken and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuProfileMeta {
    /// The profiler.
    pub source: ProfileSource,
    /// Requested sampling frequency, Hz (per CPU-second on CPU).
    pub frequency_hz: u64,
    /// Length of the profile, seconds.
    pub seconds: u64,
    /// Samples in `cpu.folded` (the sum of its counts).
    pub samples: u64,
    /// Whether kernel stacks could be in the profile (perf: yes; pprof: never).
    pub kernel_stacks: bool,
}

/// A profile: collapsed stacks and how they were taken.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuProfile {
    /// `thread;outermost;...;innermost count` lines.
    pub folded: String,
    /// The sidecar.
    pub meta: CpuProfileMeta,
}

impl CpuProfile {
    fn new(folded: String, source: ProfileSource, frequency_hz: u64, seconds: u64) -> Self {
        let samples = folded_samples(&folded);
        Self {
            folded,
            meta: CpuProfileMeta {
                source,
                frequency_hz,
                seconds,
                samples,
                kernel_stacks: source == ProfileSource::Perf,
            },
        }
    }

    /// Why the profile holds fewer than [`SAMPLE_TARGET`] samples, for the run's notes;
    /// `None` when it holds enough.
    pub fn thin_note(&self) -> Option<String> {
        let m = &self.meta;
        if m.samples >= SAMPLE_TARGET {
            return None;
        }
        let why = match m.source {
            ProfileSource::Perf => format!(
                "perf samples on-CPU time only: the proxy was on CPU about {:.1} s of the {} s \
                 window; a longer window or a higher frequency gives more",
                m.samples as f64 / m.frequency_hz.max(1) as f64,
                m.seconds
            ),
            ProfileSource::Pprof => "pprof (perf unavailable) is capped near the kernel's HZ, \
                 drops samples taken at syscall edges and shows user space only"
                .to_owned(),
        };
        Some(format!(
            "the CPU profile holds {} samples, below the {SAMPLE_TARGET} aimed at ({} s at {} Hz): {why}",
            m.samples, m.seconds, m.frequency_hz
        ))
    }
}

/// The samples in collapsed stacks: the sum of the counts of the lines that parse.
pub fn folded_samples(folded: &str) -> u64 {
    rundir::folded::parse(folded).map(|s| s.count).sum()
}

/// Samples whose stack holds a kernel frame (perf's `_[k]` annotation).
pub fn kernel_samples(folded: &str) -> u64 {
    rundir::folded::parse(folded)
        .filter(|s| s.frames.iter().any(|f| f.ends_with("_[k]")))
        .map(|s| s.count)
        .sum()
}

/// The sampling frequency for a window of `seconds` of a process busy on `cores` (one
/// when unknown): [`SAMPLE_BUDGET`] samples, within
/// [`MIN_FREQUENCY_HZ`]..=[`MAX_FREQUENCY_HZ`], odd.
pub fn frequency_for(seconds: u64, cores: Option<f64>) -> u64 {
    let cores = cores
        .filter(|c| c.is_finite())
        .unwrap_or(1.0)
        .max(MIN_PLANNED_CORES);
    let hz = (SAMPLE_BUDGET / (seconds.max(1) as f64 * cores)).floor() as u64;
    let hz = hz.clamp(MIN_FREQUENCY_HZ, MAX_FREQUENCY_HZ);
    if hz % 2 == 0 {
        hz - 1
    } else {
        hz
    }
}

/// `perf`, when it is on the PATH and can record a process here; otherwise why not.
/// Probed once per process: a `perf record` of `true`, bounded to 20 s.
pub fn perf_available() -> Result<PathBuf, String> {
    static PROBE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Result<PathBuf, String> {
    let perf = find_program(Path::new("perf"))
        .ok_or_else(|| format!("perf not on the PATH (Debian package `{PERF_PACKAGE}`)"))?;
    let dir = std::env::temp_dir().join(format!("loadgen-perf-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let data = dir.join("probe.data");
    let mut cmd = Command::new(&perf);
    cmd.args(["record", "-q", "-F", "99", "--call-graph"])
        .arg(format!("dwarf,{STACK_BYTES}"))
        .arg("-o")
        .arg(&data)
        .args(["--", "true"]);
    let result = ChildGuard::spawn("perf record (probe)", cmd, Some(dir.join("probe.log")))
        .map_err(|e| e.to_string())
        .and_then(
            |mut child| match child.wait_timeout(Duration::from_secs(20)) {
                Some(s) if s.success() && data.is_file() => Ok(perf.clone()),
                Some(s) => Err(format!(
                    "perf record exited with {s}: {}",
                    child.stderr_tail(400).trim()
                )),
                None => Err("perf record did not finish in 20 s".into()),
            },
        );
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Records the process `pid` with perf for `seconds` into `dir/perf.data`, collapses it
/// into `thread;...;leaf count` lines with kernel frames marked `_[k]`, and deletes
/// `perf.data` unless `keep_data`. `perf record` is bounded to `seconds + 30` s and
/// `perf script` to 10 minutes; both are killed by pid on error or when dropped.
pub async fn record_perf(
    perf: &Path,
    pid: u32,
    seconds: u64,
    cores: Option<f64>,
    dir: &Path,
    keep_data: bool,
) -> Result<CpuProfile, RigError> {
    let frequency = frequency_for(seconds, cores);
    let data = dir.join("perf.data");
    let mut cmd = Command::new(perf);
    cmd.args(["record", "-F", &frequency.to_string(), "--call-graph"])
        .arg(format!("dwarf,{STACK_BYTES}"))
        .arg(format!("--max-size={}K", MAX_DATA_BYTES / 1024))
        .args(["-p", &pid.to_string(), "-o"])
        .arg(&data)
        .args(["--", "sleep", &seconds.to_string()]);
    let result = async {
        wait_child(
            "perf record",
            cmd,
            Some(dir.join("perf-record.log")),
            Duration::from_secs(seconds + 30),
        )
        .await?;
        let script = dir.join("perf-script.txt");
        let folded = collapse(perf, &data, &script, dir).await;
        let _ = std::fs::remove_file(&script);
        folded
    }
    .await;
    if !keep_data {
        let _ = std::fs::remove_file(&data);
    }
    Ok(CpuProfile::new(
        result?,
        ProfileSource::Perf,
        frequency,
        seconds,
    ))
}

/// `perf script` of `data` into `script`, then inferno's perf collapser over it.
async fn collapse(perf: &Path, data: &Path, script: &Path, dir: &Path) -> Result<String, RigError> {
    let io = |what: String| move |cause| RigError::Io { what, cause };
    let out = std::fs::File::create(script).map_err(io(format!("create {}", script.display())))?;
    let log = dir.join("perf-script.log");
    let err = std::fs::File::create(&log).map_err(io(format!("create {}", log.display())))?;
    let mut cmd = Command::new(perf);
    // No inline frames: resolving them runs addr2line per address and took minutes.
    // No period field: inferno weights a stack by the period when it is there, which for
    // a cpu-clock event is nanoseconds, not samples.
    cmd.args([
        "script",
        "--no-inline",
        "-F",
        "comm,pid,tid,time,event,ip,sym,dso",
        "-i",
    ])
    .arg(data)
    .stdout(out)
    .stderr(err);
    wait_child("perf script", cmd, None, Duration::from_secs(600))
        .await
        .map_err(|e| match e {
            RigError::ChildFailed { name, status, .. } => RigError::ChildFailed {
                name,
                status,
                stderr: tail(&log, 2000),
            },
            other => other,
        })?;
    let script = script.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<String, RigError> {
        use inferno::collapse::Collapse as _;
        let file =
            std::fs::File::open(&script).map_err(io(format!("open {}", script.display())))?;
        let mut options = inferno::collapse::perf::Options::default();
        options.annotate_kernel = true;
        options.nthreads = 1;
        let mut folder = inferno::collapse::perf::Folder::from(options);
        let mut folded = Vec::new();
        folder
            .collapse(BufReader::new(file), &mut folded)
            .map_err(io("collapse the perf script output".into()))?;
        Ok(String::from_utf8_lossy(&folded).into_owned())
    })
    .await
    .map_err(|e| RigError::Config {
        detail: format!("the perf collapse task failed: {e}"),
    })?
}

fn tail(path: &Path, max_bytes: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let start = text.len().saturating_sub(max_bytes);
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// Runs `cmd` to its end, polling (so dropping the future kills it by pid), failing when
/// it fails or outlives `limit`.
async fn wait_child(
    name: &str,
    cmd: Command,
    log: Option<PathBuf>,
    limit: Duration,
) -> Result<(), RigError> {
    let mut child = ChildGuard::spawn(name, cmd, log)?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_exit_status() {
            if status.success() {
                return Ok(());
            }
            return Err(RigError::ChildFailed {
                name: name.into(),
                status: status.to_string(),
                stderr: child.stderr_tail(2000),
            });
        }
        if Instant::now() >= deadline {
            return Err(RigError::ChildFailed {
                name: name.into(),
                status: format!("no exit after {} s (killed)", limit.as_secs()),
                stderr: child.stderr_tail(2000),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A profile from the proxy's pprof endpoint for `seconds` (at most its 60 s): user
/// space only.
pub async fn record_pprof(admin: &AdminClient, seconds: u64) -> Result<CpuProfile, RigError> {
    let seconds = seconds.clamp(1, PPROF_MAX_SECONDS);
    let folded = admin.cpu_profile(seconds, "folded").await?;
    Ok(CpuProfile::new(
        folded,
        ProfileSource::Pprof,
        PPROF_FREQUENCY_HZ,
        seconds,
    ))
}

/// How to profile the proxy.
#[derive(Debug, Clone)]
pub struct ProfileTarget {
    /// The proxy's pid (for perf).
    pub pid: u32,
    /// Its admin client (for the pprof fallback).
    pub admin: AdminClient,
    /// Where `perf.data` and perf's logs go (the run directory).
    pub dir: PathBuf,
    /// Keep `perf.data` after collapsing it.
    pub keep_data: bool,
}

/// The cores `pid` keeps busy over the next second (`None` when `/proc` cannot tell).
pub async fn busy_cores(pid: u32) -> Option<f64> {
    let tps = super::sample::clock_ticks_per_second();
    let t0 = Instant::now();
    let before = super::sample::cpu_ms(pid, tps).ok()?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = super::sample::cpu_ms(pid, tps).ok()?;
    Some(after.saturating_sub(before) as f64 / 1000.0 / t0.elapsed().as_secs_f64())
}

/// Profiles the proxy for `seconds`: with perf when [`perf_available`] (its frequency
/// planned from `cores`, the proxy's recent CPU use), else with pprof. Returns the
/// profile and, when perf was not used, a note saying why.
pub async fn profile(
    target: &ProfileTarget,
    seconds: u64,
    cores: Option<f64>,
) -> Result<(CpuProfile, Option<String>), RigError> {
    match perf_available() {
        Ok(perf) => {
            let dir = &target.dir;
            let p = record_perf(&perf, target.pid, seconds, cores, dir, target.keep_data).await?;
            Ok((p, None))
        }
        Err(why) => {
            let p = record_pprof(&target.admin, seconds).await?;
            let note = format!(
                "CPU profile from pprof, user space only (no kernel stacks): perf unavailable: {why}"
            );
            Ok((p, Some(note)))
        }
    }
}

/// Writes `cpu.folded` and its sidecar `cpu-profile.json` into `dir`, atomically.
pub fn write_profile(dir: &Path, profile: &CpuProfile) -> Result<(), RigError> {
    files::write_atomic(&dir.join("cpu.folded"), profile.folded.as_bytes())?;
    let meta = serde_json::to_vec_pretty(&profile.meta).expect("the sidecar always serialises");
    files::write_atomic(&dir.join("cpu-profile.json"), &meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_keeps_a_busy_core_near_the_budget() {
        assert_eq!(frequency_for(60, None), 99);
        assert_eq!(frequency_for(60, Some(1.0)), 99);
        assert_eq!(frequency_for(10, Some(0.6)), 999);
        assert_eq!(frequency_for(10, Some(0.0)), MAX_FREQUENCY_HZ);
        assert_eq!(frequency_for(0, Some(f64::NAN)), MAX_FREQUENCY_HZ);
        assert_eq!(frequency_for(3600, Some(1.0)), MIN_FREQUENCY_HZ);
        // The size bound the module doc promises: the budget, wherever it is reached.
        for (s, c) in [(60, 1.0), (10, 0.3), (10, 2.0), (30, 0.5)] {
            let f = frequency_for(s, Some(c));
            let bytes = (f * s) as f64 * c * (STACK_BYTES + 600) as f64;
            assert!(
                bytes < 120.0 * 1024.0 * 1024.0,
                "{s} s at {c} cores: {bytes}"
            );
        }
    }

    #[test]
    fn samples_and_kernel_samples_are_counted_from_the_folded_lines() {
        let folded = "w;main;read;sys_read_[k] 5\nw;main;parse 7\nbad line\n";
        assert_eq!(folded_samples(folded), 12);
        assert_eq!(kernel_samples(folded), 5);
        let p = CpuProfile::new(folded.into(), ProfileSource::Perf, 599, 10);
        assert_eq!(p.meta.samples, 12);
        assert!(p.meta.kernel_stacks);
        let note = p.thin_note().expect("12 samples are thin");
        assert!(
            note.contains("12 samples") && note.contains("on-CPU"),
            "{note}"
        );
        let p = CpuProfile::new(folded.into(), ProfileSource::Pprof, 999, 10);
        assert!(!p.meta.kernel_stacks);
        assert!(p.thin_note().unwrap().contains("user space only"));
        let many = format!("w;main;parse {SAMPLE_TARGET}\n");
        assert_eq!(
            CpuProfile::new(many, ProfileSource::Perf, 599, 10).thin_note(),
            None
        );
    }

    #[test]
    fn the_sidecar_is_written_beside_the_folded_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let p = CpuProfile::new("t;a;b 3\n".into(), ProfileSource::Perf, 599, 10);
        write_profile(dir.path(), &p).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("cpu-profile.json")).unwrap())
                .unwrap();
        assert_eq!(doc["source"], "perf");
        assert_eq!(doc["samples"], 3);
        assert_eq!(doc["kernel_stacks"], true);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("cpu.folded")).unwrap(),
            "t;a;b 3\n"
        );
    }
}
