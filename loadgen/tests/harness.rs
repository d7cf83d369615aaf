//! End-to-end tests of `loadgen run`: the real `filter-proxy` binary, the real test
//! origin and load generator, short runs of the `ci` profile.
//!
//! They check what the harness promises: a complete run directory, children that never
//! outlive an interrupted harness, and a clear error when `redis-server` is missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod built;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

fn loadgen_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadgen"))
}

/// The `filter-proxy` binary, built from the current sources (see `built`).
fn proxy_bin() -> PathBuf {
    built::workspace_bin("filter-proxy")
}

/// `loadgen run` on the ci profile, shortened, writing into `out`.
fn run_command(out: &Path, duration_s: u64, extra: &[&str]) -> Command {
    let mut cmd = Command::new(loadgen_bin());
    cmd.arg("run")
        .arg("--profile")
        .arg(repo_root().join("profiles/ci.toml"))
        .arg("--out")
        .arg(out)
        .arg("--duration")
        .arg(duration_s.to_string())
        .arg("--users")
        .arg("4")
        .arg("--proxy-bin")
        .arg(proxy_bin())
        .arg("--quiet")
        .args(extra)
        .stdin(Stdio::null());
    cmd
}

/// Polls `f` every 50 ms until it returns `Some` or `timeout` passes.
fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parent pid of `pid` from `/proc/PID/stat`.
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    stat[close + 1..].split_whitespace().nth(1)?.parse().ok()
}

/// Live children of `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| ppid(pid) == Some(parent))
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s[s.rfind(')').map_or(0, |i| i + 1)..]
                .split_whitespace()
                .next();
            !matches!(state, Some("Z") | Some("X"))
        })
        .unwrap_or(false)
}

fn signal(pid: i64, sig: &str) {
    let status = Command::new("kill")
        .args([&format!("-{sig}"), "--", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed");
}

/// Kills the child on drop, so a failing test leaves nothing behind.
struct Harness(Child);

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The command line of `pid`, arguments joined by spaces.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Starts a harness and waits until its children include one whose command line
/// contains each of `expected` (e.g. the proxy, the attack); returns it with the pids
/// of those children.
fn start_and_wait_for_children(mut cmd: Command, expected: &[&str]) -> (Harness, Vec<u32>) {
    let harness = Harness(
        cmd.stdout(Stdio::null())
            .spawn()
            .expect("spawn loadgen run"),
    );
    let pid = harness.0.id();
    let kids = eventually(Duration::from_secs(60), "the harness's children", || {
        let kids: Vec<(u32, String)> = children_of(pid)
            .into_iter()
            .map(|k| (k, cmdline(k)))
            .collect();
        let found: Option<Vec<u32>> = expected
            .iter()
            .map(|want| kids.iter().find(|(_, c)| c.contains(want)).map(|(k, _)| *k))
            .collect();
        found
    });
    (harness, kids)
}

/// Validates `run` against the committed run.json schema.
fn check_schema(run: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rundir/schemas/run.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(run)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "run.json does not match its schema: {errors:#?}"
    );
    let typed =
        rundir::run::RunJson::from_json(run.clone()).expect("the reports can read run.json");
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        run,
        "run.json is written in the layout it is read in: read and written again, it is unchanged"
    );
}

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

#[test]
fn a_short_ci_run_produces_a_complete_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run_command(&out, 12, &["--direct-pass", "2", "--instructions", "0"])
        .output()
        .expect("run loadgen run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen run failed:\n{stderr}\n{stdout}"
    );
    assert!(
        stdout.contains(&out.display().to_string()),
        "summary names the run dir:\n{stdout}"
    );

    let run = read_json(&out.join("run.json"));
    assert_eq!(run["complete"], true, "{run:#}");
    check_schema(&run);
    assert!(run["proxy_added_latency_us"]["p50"].is_number(), "{run:#}");
    assert!(
        run["totals"]["requests"].as_u64().unwrap_or(0) > 0,
        "{run:#}"
    );
    for key in ["git_commit", "git_dirty", "rustc", "cores", "kernel"] {
        assert!(
            !run["provenance"][key].is_null(),
            "provenance.{key} missing: {run:#}"
        );
    }
    for key in ["started_at", "ended_at"] {
        assert!(run[key].is_string(), "{key} missing: {run:#}");
    }
    let res = &run["resources"];
    assert!(
        res["proxy_cpu_us_per_request"].as_f64().unwrap_or(0.0) > 0.0,
        "{res:#}"
    );
    assert!(
        res["peak_rss_bytes"].as_f64().unwrap_or(0.0) > 0.0,
        "{res:#}"
    );
    assert!(res["threads_max"].as_f64().unwrap_or(0.0) >= 1.0, "{res:#}");
    assert!(
        res["allocs_per_request"].as_f64().unwrap_or(0.0) > 0.0,
        "{res:#}"
    );
    assert!(run["load_generator_saturated"].is_boolean());
    assert!(run["steady_window"]["end"].as_f64() > run["steady_window"]["start"].as_f64());
    if run["placement"].is_object() {
        assert_eq!(
            run["placement"]["proxy_cpus"].as_array().map(Vec::len),
            Some(1)
        );
    }

    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let header = csv.lines().next().unwrap_or_default();
    for col in [
        "proxy_cpu_user_ms",
        "proxy_rss_bytes",
        "proxy_fds",
        "pool_in_use",
        "loadgen_cpu_ms",
    ] {
        assert!(header.split(',').any(|c| c == col), "no {col} in {header}");
    }
    let rss_col = header
        .split(',')
        .position(|c| c == "proxy_rss_bytes")
        .unwrap();
    let sampled_rows = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(rss_col).is_some_and(|v| !v.is_empty()))
        .count();
    assert!(sampled_rows >= 3, "too few sampled rows:\n{csv}");

    let hists: Vec<_> = std::fs::read_dir(out.join("hist"))
        .expect("hist directory")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "hdr"))
        .filter(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false))
        .collect();
    assert!(!hists.is_empty(), "no non-empty histogram");
    for file in [
        "cpu.folded",
        "cpu-profile.json",
        "flamegraph.svg",
        "jemalloc.json",
        "metrics-end.txt",
        "proxy.toml",
    ] {
        let len = std::fs::metadata(out.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} missing or empty");
    }
    let svg = std::fs::read_to_string(out.join("flamegraph.svg")).unwrap();
    assert!(svg.contains("<svg"), "not an SVG");
    assert!(run.get("instructions").is_none(), "no pass was asked for");
}

/// The instruction pass: a copy of the proxy under callgrind serves a fixed, checked
/// request sequence, one phase per request class of the mix, and `run.json` gets each
/// class's count per request and the mix-weighted headline.
#[test]
fn the_instruction_pass_counts_the_proxy_per_request_of_every_class() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let output = run_command(&out, 4, &["--direct-pass", "0", "--instructions", "60"])
        .output()
        .expect("run loadgen run");
    assert!(
        output.status.success(),
        "loadgen run failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let run = read_json(&out.join("run.json"));
    check_schema(&run);
    let pass = &run["instructions"];
    assert_eq!(pass["unexpected"], 0, "{pass:#}");
    assert_eq!(pass["weighting"], "mix_weighted", "{pass:#}");
    assert_eq!(
        pass["policy_store"], "memory",
        "the ci profile keeps policy in memory"
    );
    let per_class = pass["per_class"].as_object().expect("per_class");
    let mut names: Vec<&str> = per_class.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["allowed", "blocked", "cors", "download", "identity", "tunnel"],
        "every class of the school-day mix is counted: {pass:#}"
    );
    let (mut requests, mut instructions, mut weighted, mut weights) = (0, 0, 0.0, 0.0);
    for (class, c) in per_class {
        let n = c["requests"].as_u64().unwrap_or(0);
        let i = c["instructions"].as_u64().unwrap_or(0);
        let per = c["per_request"].as_f64().unwrap_or(0.0);
        let w = c["weight"].as_u64().unwrap_or(0) as f64;
        // A proxied request parses, categorises, decides and answers: thousands of
        // instructions at the very least, and the figure is the class's total over its
        // count.
        assert!(n > 0 && w > 0.0, "{class}: {c:#}");
        assert!(per > 1000.0, "{class}: {c:#}");
        assert!(
            (per * n as f64 - i as f64).abs() < n as f64,
            "{class}: {c:#}"
        );
        requests += n;
        instructions += i;
        weighted += w * per;
        weights += w;
    }
    assert_eq!(pass["requests"].as_u64(), Some(requests), "{pass:#}");
    assert_eq!(
        pass["instructions"].as_u64(),
        Some(instructions),
        "{pass:#}"
    );
    let headline = pass["per_request"].as_f64().unwrap_or(0.0);
    let expected = weighted / weights;
    assert!(
        (headline - expected).abs() <= expected * 1e-9,
        "the headline is the mix-weighted figure: {headline} vs {expected}"
    );
    let kinds = pass["kinds"].as_object().expect("kinds");
    assert_eq!(
        kinds.values().filter_map(Value::as_u64).sum::<u64>(),
        requests
    );
    for kind in ["tunnel", "download", "preflight", "blocked_xhr"] {
        assert!(
            kinds.get(kind).and_then(Value::as_u64).unwrap_or(0) > 0,
            "{kinds:?}"
        );
    }
    // A dump per class, each taken after its own zeroing.
    let dumps = std::fs::read_dir(out.join("instructions"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("callgrind.out."))
                .is_some_and(|rest| rest.contains('.'))
        })
        .count();
    assert_eq!(dumps, per_class.len());
    assert!(out.join("instructions/proxy.toml").is_file());
}

#[test]
fn sigint_mid_run_leaves_no_children_and_an_incomplete_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let (mut harness, kids) = start_and_wait_for_children(
        run_command(&out, 60, &["--redis"]),
        &["redis-server", "filter-proxy --config", "loadgen attack"],
    );
    signal(i64::from(harness.0.id()), "INT");
    let status = eventually(Duration::from_secs(30), "the harness to exit", || {
        harness.0.try_wait().ok().flatten()
    });
    for pid in &kids {
        assert!(!alive(*pid), "child {pid} outlived the interrupted harness");
    }
    let _ = status;
    let run = read_json(&out.join("run.json"));
    assert_eq!(run["complete"], false, "{run:#}");
    assert!(run["ended_at"].is_string(), "{run:#}");
    assert_eq!(run["harness"]["error"], "interrupted", "{run:#}");
    check_schema(&run);
}

#[test]
fn sigkill_of_the_process_group_leaves_no_children() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = run_command(&dir.path().join("run"), 60, &[]);
    cmd.process_group(0);
    let (mut harness, kids) =
        start_and_wait_for_children(cmd, &["filter-proxy --config", "loadgen attack"]);
    let pgid = i64::from(harness.0.id());
    signal(-pgid, "KILL");
    eventually(Duration::from_secs(10), "the harness to die", || {
        harness.0.try_wait().ok().flatten()
    });
    for pid in &kids {
        eventually(Duration::from_secs(10), "children to die", || {
            (!alive(*pid)).then_some(())
        });
    }
}

#[test]
fn a_proxy_that_cannot_start_is_reported_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("broken.toml");
    std::fs::write(&config, "[server]\nlisten_typo = 1\n").unwrap();
    let config_arg = config.display().to_string();
    let output = run_command(
        &dir.path().join("run"),
        5,
        &["--proxy-config", &config_arg, "--ready-timeout", "20"],
    )
    .output()
    .expect("run loadgen run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("filter-proxy exited"), "{stderr}");
    assert!(
        stderr.contains("listen_typo"),
        "the proxy's own message is quoted: {stderr}"
    );
    let run = read_json(&dir.path().join("run/run.json"));
    assert_eq!(run["complete"], false);
}

#[test]
fn an_occupied_run_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("run.json"), "{}").unwrap();
    let output = run_command(dir.path(), 5, &[])
        .output()
        .expect("run loadgen run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("run.json")).unwrap(),
        "{}"
    );
}

#[test]
fn a_missing_redis_server_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_command(
        &dir.path().join("run"),
        5,
        &["--redis", "--redis-bin", "/nonexistent/redis-server"],
    )
    .output()
    .expect("run loadgen run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("redis-server"), "{stderr}");
    assert!(stderr.contains("apt-get install redis-server"), "{stderr}");
    let run = read_json(&dir.path().join("run/run.json"));
    assert_eq!(run["complete"], false);
}
