//! `promote`: writes the three baseline files atomically, refuses unfit runs unless forced
//! with a note, and never leaves a half-written or stale-mixed baseline.

mod common;

use common::{committed_gates, run_dir};
use reports::fixtures::Fixture;
use reports::promote::{promote, PromoteOptions};
use reports::ReportError;
use std::path::Path;

fn opts(run: &Path, out: &Path) -> PromoteOptions {
    PromoteOptions {
        run_dir: run.to_owned(),
        profile: "ci".into(),
        note: None,
        force: false,
        out_dir: out.to_owned(),
        gates: Some(committed_gates()),
        suggest: Default::default(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn promotes_a_fit_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), "run", &Fixture::default());
    let out = tmp.path().join("baselines");
    let done = promote(&opts(&run, &out)).unwrap();
    assert_eq!(
        names(&out),
        vec!["ci.folded", "ci.json", "ci.md"],
        "no temp files left behind"
    );
    assert_eq!(
        done.replaced, None,
        "a fresh checkout has nothing to replace"
    );
    let b = reports::baseline::read(&done.json).unwrap();
    assert_eq!(b.profile, "ci");
    assert!(!b.forced);
    assert_eq!(b.folded.as_deref(), Some("ci.folded"));
    assert_eq!(b.histograms.len(), 6);
    let hists = reports::baseline::histograms(&b, &done.json).unwrap();
    assert!(hists["allowed"].len() > 1000);
    let cpu = &b.metrics["proxy_cpu_us_per_request"];
    assert_eq!(cpu.point, Some(120.0));
    assert!(
        cpu.samples.len() >= 40,
        "per-second samples kept for the test"
    );
    assert!(b.metrics.contains_key("p99_us.download"));
    assert_eq!(b.provenance.git_commit.as_deref(), Some("0123456789abcdef"));
    assert!(b.machine_fingerprint.contains("Synthetic CPU"));
    assert_eq!(b.top_frames[0].name, "filter::match_host");
    let md = std::fs::read_to_string(&done.markdown).unwrap();
    for needle in [
        "# Baseline: profile ci",
        "## What was run and how",
        "## Service level objectives",
        "| objective | rule | this baseline | verdict | enforced |",
        "| failure_rate.allowed | lower is better; hotfix if > 0, rollback if > 0.001 | 0% | PASS | yes |",
        // Reported, not enforced, in ci: the document says which is which.
        "| achieved_rate_ratio | higher is better; hotfix if < 0.98, rollback if < 0.95 | 100% | PASS | reported only |",
        "## Pass, hotfix and rollback criteria",
        "proxy_instructions_per_request",
        "proxy_cpu_us_per_request",
        "counted in instructions under callgrind",
        "40 allocations",
        "filter::match_host",
    ] {
        assert!(md.contains(needle), "baseline document lacks {needle:?}");
    }
}

#[test]
fn refuses_unfit_runs_unless_forced_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let cases = [
        (
            "incomplete",
            Fixture {
                complete: false,
                ..Fixture::default()
            },
            "incomplete",
        ),
        (
            "failing",
            Fixture {
                failures: 3,
                ..Fixture::default()
            },
            "18 failed requests",
        ),
        (
            "saturated",
            Fixture {
                saturated: true,
                ..Fixture::default()
            },
            "saturated",
        ),
        (
            "direct",
            Fixture {
                direct: true,
                ..Fixture::default()
            },
            "route: direct",
        ),
        (
            "contended",
            Fixture {
                contended: true,
                ..Fixture::default()
            },
            // Seconds 5 to 55: 16 of them are the fifth or sixth of seven.
            "the machine was contended in 16 of 51 steady seconds (31%, more than 10%)",
        ),
    ];
    for (name, fixture, reason) in cases {
        let run = run_dir(tmp.path(), name, &fixture);
        let err = promote(&opts(&run, &out)).unwrap_err();
        assert!(matches!(err, ReportError::UnfitRun { .. }), "{name}: {err}");
        assert!(err.to_string().contains(reason), "{name}: {err}");
        assert!(err.is_bad_input());
        assert_eq!(names(&out), Vec::<String>::new(), "{name}: nothing written");

        let forced_without_note = PromoteOptions {
            force: true,
            ..opts(&run, &out)
        };
        let err = promote(&forced_without_note).unwrap_err();
        assert!(matches!(err, ReportError::Usage(_)), "{name}: {err}");
        assert!(err.to_string().contains("--force needs --note"), "{err}");
        assert_eq!(names(&out), Vec::<String>::new(), "{name}: nothing written");

        let forced = PromoteOptions {
            force: true,
            note: Some("first run on new hardware".into()),
            ..opts(&run, &out)
        };
        let done = promote(&forced).unwrap();
        let b = reports::baseline::read(&done.json).unwrap();
        assert!(
            b.forced && b.overridden.iter().any(|r| r.contains(reason)),
            "{name}"
        );
        assert_eq!(b.note.as_deref(), Some("first run on new hardware"));
        let md = std::fs::read_to_string(&done.markdown).unwrap();
        assert!(md.contains("Forced over") && md.contains("first run on new hardware"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}

#[test]
fn refuses_another_profile_and_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), "run", &Fixture::default());
    let out = tmp.path().join("b");
    let other = PromoteOptions {
        profile: "peak".into(),
        ..opts(&run, &out)
    };
    assert!(promote(&other)
        .unwrap_err()
        .to_string()
        .contains("profile 'ci', not 'peak'"));
    let traversal = PromoteOptions {
        profile: "../ci".into(),
        ..opts(&run, &out)
    };
    assert!(matches!(promote(&traversal), Err(ReportError::Usage(_))));
}

#[test]
fn a_failed_promotion_keeps_the_previous_baseline_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let first = run_dir(tmp.path(), "first", &Fixture::default());
    promote(&opts(&first, &out)).unwrap();
    let before = std::fs::read(out.join("ci.json")).unwrap();
    // A second promotion that cannot write its document (a directory is in the way of the
    // rename) fails; the earlier files stay readable and nothing temporary remains.
    let second = run_dir(
        tmp.path(),
        "second",
        &Fixture {
            cpu_us_per_request: 300.0,
            seed: 2,
            ..Fixture::default()
        },
    );
    let blocked = tmp.path().join("blocked");
    std::fs::create_dir_all(blocked.join("ci.md")).unwrap();
    std::fs::write(blocked.join("ci.md").join("keep"), b"x").unwrap();
    let err = promote(&opts(&second, &blocked)).unwrap_err();
    assert!(matches!(err, ReportError::Write { .. }), "{err}");
    assert!(
        !blocked.join("ci.json").exists(),
        "the JSON is renamed last"
    );
    assert!(
        names(&blocked).iter().all(|n| !n.ends_with(".tmp")),
        "{:?}",
        names(&blocked)
    );
    assert_eq!(std::fs::read(out.join("ci.json")).unwrap(), before);
    reports::baseline::read(&out.join("ci.json")).unwrap();
}

#[test]
fn cli_promote_refusal_is_exit_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(
        tmp.path(),
        "run",
        &Fixture {
            complete: false,
            ..Fixture::default()
        },
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_perf-report"))
        .args([
            "promote",
            run.to_str().unwrap(),
            "--profile",
            "ci",
            "--out-dir",
        ])
        .arg(tmp.path().join("b"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to promote")
            && stderr.contains(&format!(
                "to promote it anyway, run: perf-report promote {} --profile ci --out-dir {} \
                 --force --note \"why\"",
                run.display(),
                tmp.path().join("b").display()
            )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

/// Rewrites the committed document as if measured on another machine.
fn measured_elsewhere(json: &Path) {
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    doc["provenance"]["cpu_model"] = "Intel Xeon Platinum 8375C".into();
    doc["provenance"]["cores"] = 8.into();
    doc["machine_fingerprint"] = "Intel Xeon Platinum 8375C | 8 cores | kernel 6.1.0".into();
    std::fs::write(json, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
}

#[test]
fn refuses_a_run_on_another_machine_than_the_committed_document() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let first = run_dir(tmp.path(), "first", &Fixture::default());
    promote(&opts(&first, &out)).unwrap();
    measured_elsewhere(&out.join("ci.json"));
    let before: Vec<Vec<u8>> = ["ci.json", "ci.md", "ci.folded"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();

    let second = run_dir(tmp.path(), "second", &Fixture::default());
    let err = promote(&opts(&second, &out)).unwrap_err();
    assert!(matches!(err, ReportError::UnfitRun { .. }), "{err}");
    let text = err.to_string();
    for needle in [
        "the machine differs from the committed ci.json's (",
        "CPU Intel Xeon Platinum 8375C vs Synthetic CPU @ 3.0GHz; cores 8 vs 2",
        "--force --note \"why\"",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    assert!(!text.contains("kernel"), "same kernel series: {text}");
    let after: Vec<Vec<u8>> = ["ci.json", "ci.md", "ci.folded"]
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "the committed documents are untouched");

    let forced = PromoteOptions {
        force: true,
        note: Some("new CI runners: 2-core AMD instead of 8-core Intel".into()),
        ..opts(&second, &out)
    };
    let done = promote(&forced).unwrap();
    let b = reports::baseline::read(&done.json).unwrap();
    assert!(b.forced);
    assert!(
        b.overridden[0].contains("machine differs"),
        "{:?}",
        b.overridden
    );
    assert_eq!(
        b.note.as_deref(),
        Some("new CI runners: 2-core AMD instead of 8-core Intel")
    );
    let md = std::fs::read_to_string(&done.markdown).unwrap();
    assert!(md.contains("Note: new CI runners: 2-core AMD instead of 8-core Intel"));
    assert!(md.contains("Forced over: the machine differs"));
    let replaced = done.replaced.expect("a document was replaced");
    assert_eq!(replaced.rows[0].what, "machine");
    assert!(replaced.rows[0].old.starts_with("Intel Xeon"));
    assert!(replaced.rows[0].new.starts_with("Synthetic CPU"));
    // The document itself records what it replaced, so a reviewer sees the step.
    assert_eq!(b.replaced.as_ref(), Some(&replaced));
}

#[test]
fn an_unreadable_committed_document_is_a_clear_error_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("ci.json"), b"{ not json").unwrap();
    let run = run_dir(tmp.path(), "run", &Fixture::default());
    let err = promote(&opts(&run, &out)).unwrap_err();
    assert!(matches!(err, ReportError::Malformed { .. }), "{err}");
    assert_eq!(std::fs::read(out.join("ci.json")).unwrap(), b"{ not json");
    let forced = PromoteOptions {
        force: true,
        note: Some("the old document was hand-edited".into()),
        ..opts(&run, &out)
    };
    let done = promote(&forced).unwrap();
    let b = reports::baseline::read(&done.json).unwrap();
    assert!(
        b.overridden[0].contains("could not be read"),
        "{:?}",
        b.overridden
    );
    assert_eq!(done.replaced, None);
}

fn cli_promote(run: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_perf-report"))
        .arg("promote")
        .arg(run)
        .args(["--profile", "ci", "--gates"])
        .arg(committed_gates())
        .arg("--out-dir")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn cli_promote_prints_what_the_new_baseline_changes_with_ratios() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let first = run_dir(tmp.path(), "first", &Fixture::default());
    let output = cli_promote(&first, &out, &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("is the first baseline of this profile here"),
        "{stdout}"
    );

    let second = run_dir(
        tmp.path(),
        "second",
        &Fixture {
            cpu_us_per_request: 300.0,
            seed: 2,
            ..Fixture::default()
        },
    );
    let output = cli_promote(&second, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = |what: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} line in {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        stdout.contains("replaces the previous baseline"),
        "{stdout}"
    );
    assert!(stdout.contains("new/old"), "{stdout}");
    assert!(line("machine").ends_with("same"), "{stdout}");
    assert!(line("commit").contains("0123456789ab -> 0123456789ab same"));
    assert_eq!(
        line("CPU per request"),
        "CPU per request 120 µs -> 300 µs ×2.50"
    );
    assert!(line("throughput").contains("req/s"), "{stdout}");
    assert!(line("p99 allowed").contains(" ms ->") || line("p99 allowed").contains(" µs ->"));
    assert!(line("p99 allowed").contains('×'), "{stdout}");
    assert!(
        line("instructions per request").contains("90k -> 90k ×1.00"),
        "{stdout}"
    );
    assert!(
        line("peak RSS").contains("48 MiB -> 48 MiB ×1.00"),
        "{stdout}"
    );
}

#[test]
fn cli_refusal_under_make_names_the_make_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let run = run_dir(
        tmp.path(),
        "run",
        &Fixture {
            contended: true,
            ..Fixture::default()
        },
    );
    let output = cli_promote(&run, &out, &["--suggest", "make"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "to promote it anyway, run: make promote RUN={} PROFILE=ci FORCE_NOTE=\"why\"",
            run.display()
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!out.exists(), "nothing written");

    let output = cli_promote(&run, &out, &["--force"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--force needs --note"));

    let output = cli_promote(&run, &out, &["--force", "--note", "noisy neighbour, known"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("forced over: the machine was contended"),
        "{stderr}"
    );
    let b = reports::baseline::read(&out.join("ci.json")).unwrap();
    assert_eq!(b.note.as_deref(), Some("noisy neighbour, known"));
}

#[test]
fn a_run_that_recorded_no_machine_is_refused_only_against_a_committed_document() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("baselines");
    let bare = Fixture {
        harness: false,
        ..Fixture::default()
    };
    // No machine columns: its contention is unknown, and a fresh checkout has no machine
    // to compare with, so it is promoted.
    let first = run_dir(tmp.path(), "first", &bare);
    let done = promote(&opts(&first, &out)).unwrap();
    assert_eq!(done.replaced, None);
    // Against a committed document, an unrecorded machine cannot be shown to be the same.
    let second = run_dir(tmp.path(), "second", &bare);
    let err = promote(&opts(&second, &out)).unwrap_err().to_string();
    assert!(
        err.contains("CPU not recorded vs not recorded; cores not recorded vs not recorded"),
        "{err}"
    );
}

#[test]
fn the_document_sizes_an_instance_from_its_own_and_the_sibling_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), "run", &Fixture::default());
    let out = tmp.path().join("baselines");
    std::fs::create_dir_all(&out).unwrap();
    // The committed [sizing], with this fixture's profile as the school-day baseline and
    // its proxy configuration where `proxy_config` points.
    let gates = std::fs::read_to_string(committed_gates())
        .unwrap()
        .replace("school_day = \"peak\"", "school_day = \"ci\"");
    std::fs::write(out.join("gates.toml"), gates).unwrap();
    let demo = tmp.path().join("scenarios/demo");
    std::fs::create_dir_all(&demo).unwrap();
    std::fs::write(demo.join("proxy.toml"), "[server]\nmax_connections = 500\n").unwrap();
    let mut o = opts(&run, &out);
    o.gates = None;
    let done = promote(&o).unwrap();
    let b = reports::baseline::read(&done.json).unwrap();
    let per_user = b.metrics["client_connections_per_user"].point.unwrap();
    assert!(per_user > 0.0);
    let md = std::fs::read_to_string(&done.markdown).unwrap();
    let cap_bound = format!("{:.0}", (500.0 / per_user).floor());
    for needle in [
        "## Sizing",
        // 1e6 / the fixture's 120 µs of CPU per request.
        "| requests per second per core | 8333 (1e6 / 120 µs of CPU per request",
        "| connection cap (server.max_connections) | 500 | scenarios/demo/proxy.toml |",
        &format!("| connection cap | {cap_bound} | server.max_connections 500 /"),
        "2 vCPU x 8333 req/s per core",
        // No connection-storm baseline beside it: named, and its bound left out.
        "Not measured: heap_per_keep_alive_upper_bytes (from the connections baseline)",
    ] {
        assert!(
            md.contains(needle),
            "baseline document lacks {needle:?}:\n{md}"
        );
    }
    assert!(
        !md.contains("| memory |"),
        "no memory bound without the storm"
    );
}
