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
        "| failure_rate.allowed | lower is better; hotfix if > 0, rollback if > 0.001 | 0 | PASS | yes |",
        // Reported, not enforced, in ci: the document says which is which.
        "| achieved_rate_ratio | higher is better; hotfix if < 0.98, rollback if < 0.95 | 1 | PASS | reported only |",
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
        assert!(matches!(
            promote(&forced_without_note),
            Err(ReportError::Usage(_))
        ));

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
    // A second promotion that cannot write its JSON (a directory is in the way of the
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
    std::fs::create_dir_all(blocked.join("ci.json")).unwrap();
    std::fs::write(blocked.join("ci.json").join("keep"), b"x").unwrap();
    assert!(promote(&opts(&second, &blocked)).is_err());
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
        stderr.contains("refusing to promote") && stderr.contains("--force"),
        "{stderr}"
    );
}
