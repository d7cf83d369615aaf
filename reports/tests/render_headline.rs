//! The run report's headline against a promoted fixture baseline: the gate's verdict, the
//! key figures with their change, the contended-machine warning, the gated figures that
//! apply (the rest named in one line) in human units while the JSON keeps raw values.

mod common;

use common::{committed_gates, run_dir};
use reports::fixtures::Fixture;
use reports::metrics;
use reports::promote::{promote, PromoteOptions};
use reports::render::render_against;
use reports::rundir::RunDir;
use reports::units;
use std::path::{Path, PathBuf};

/// A baselines directory holding the committed gates and a `profile` baseline promoted
/// from that profile's default fixture.
fn baselines(root: &Path, profile: &str) -> PathBuf {
    let run = run_dir(root, "base-run", &fixture(profile));
    let out = root.join("baselines");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(committed_gates(), out.join("gates.toml")).unwrap();
    promote(&PromoteOptions {
        run_dir: run,
        profile: profile.into(),
        note: None,
        force: false,
        out_dir: out.clone(),
        gates: None,
        suggest: Default::default(),
    })
    .unwrap();
    out
}

fn fixture(profile: &str) -> Fixture {
    Fixture {
        profile: profile.to_owned(),
        ..Fixture::default()
    }
}

/// Renders `dir` against `baselines`; returns the Markdown.
fn markdown(dir: &Path, baselines: &Path) -> String {
    let run = RunDir::load(dir).unwrap();
    let out = render_against(&run, baselines).unwrap();
    common::parse_xml(&std::fs::read_to_string(&out.html).unwrap());
    std::fs::read_to_string(out.markdown).unwrap()
}

/// The headline: the Markdown between the title and the first section.
fn headline(md: &str) -> &str {
    let body = md.split_once('\n').unwrap().1;
    body.split("\n## ").next().unwrap()
}

/// The cells of the Markdown table row whose first cell is `first`.
fn row<'a>(md: &'a str, first: &str) -> Vec<&'a str> {
    md.lines()
        .find(|l| l.starts_with(&format!("| {first} |")))
        .unwrap_or_else(|| panic!("no row {first} in\n{md}"))
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect()
}

#[test]
fn the_headline_gives_the_gate_verdict_and_the_key_figures_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = baselines(tmp.path(), "peak");
    let worse = run_dir(
        tmp.path(),
        "worse",
        &Fixture {
            cpu_us_per_request: 170.0,
            seed: 12,
            ..fixture("peak")
        },
    );
    let md = markdown(&worse, &dir);
    let top = headline(&md);
    assert!(top.starts_with("\n> ROLLBACK against "), "{top}");
    assert!(top.contains("proxy_cpu_us_per_request (ROLLBACK)"), "{top}");
    // The key figure's change is the change between the two documents' values.
    let base = reports::baseline::read(&dir.join("peak.json")).unwrap();
    let current = metrics::extract(&RunDir::load(&worse).unwrap());
    let key = "proxy_cpu_us_per_request";
    let (b, c) = (
        base.metrics[key].value().unwrap(),
        current[key].value().unwrap(),
    );
    let cells = row(top, "proxy CPU per request");
    assert_eq!(
        cells,
        [
            "proxy CPU per request",
            units::micros(b).as_str(),
            units::micros(c).as_str(),
            format!("{:+.1}%", (c - b) / b * 100.0).as_str()
        ]
    );
    for figure in [
        "throughput",
        "p99 latency, slowest class",
        "latency the proxy adds, p99",
        "proxy peak RSS",
    ] {
        assert!(top.contains(&format!("| {figure}")), "{figure}: {top}");
    }

    // The baseline's own run passes.
    let md = markdown(&tmp.path().join("base-run"), &dir);
    let top = headline(&md);
    assert!(top.starts_with("\n> PASS against "), "{top}");
    assert!(top.contains("enforced figures within their rules"), "{top}");
    assert_eq!(row(top, "proxy CPU per request")[3], "+0.0%");
}

#[test]
fn an_unmeasured_enforced_figure_is_not_a_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = baselines(tmp.path(), "peak");
    let bare = run_dir(
        tmp.path(),
        "bare",
        &Fixture {
            harness: false,
            ..fixture("peak")
        },
    );
    let md = markdown(&bare, &dir);
    let top = headline(&md);
    assert!(!top.contains("PASS"), "{top}");
    assert!(
        top.contains("not measured, which the gate counts as ROLLBACK")
            && top.contains("proxy_cpu_us_per_request"),
        "{top}"
    );
    // A gated figure stays in the gated-figures table, as not measured.
    assert!(md.contains("| proxy_cpu_us_per_request | not measured |"));
}

#[test]
fn without_a_baseline_the_headline_says_so_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let run = run_dir(tmp.path(), "run", &fixture("ci"));
    let empty = tmp.path().join("nothing-here");
    let top = headline(&markdown(&run, &empty)).to_owned();
    let notes: Vec<&str> = top.lines().filter(|l| l.starts_with("> ")).collect();
    assert_eq!(notes.len(), 1, "{top}");
    assert!(
        notes[0].starts_with("> No verdict: no committed baseline for profile ci"),
        "{top}"
    );
    assert!(row(&top, "throughput")[1] == "no baseline", "{top}");

    // Gates but no baseline of this profile: still no verdict.
    let dir = baselines(tmp.path(), "peak");
    let top = headline(&markdown(&run, &dir)).to_owned();
    assert!(top.contains("> No verdict: no committed baseline for profile ci"));

    // A baseline, but an interrupted run: `diff` refuses it, the headline judges nothing.
    let cut = run_dir(
        tmp.path(),
        "cut",
        &Fixture {
            complete: false,
            ..fixture("peak")
        },
    );
    let top = headline(&markdown(&cut, &dir)).to_owned();
    assert!(
        top.contains("> No verdict: the run is incomplete") && !top.contains("PASS"),
        "{top}"
    );
    assert!(
        row(&top, "throughput")[1].ends_with("req/s"),
        "deltas still shown: {top}"
    );
}

#[test]
fn the_contended_warning_appears_only_for_a_contended_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = baselines(tmp.path(), "ci");
    let calm = markdown(&tmp.path().join("base-run"), &dir);
    assert!(!calm.contains("Machine contended"), "{}", headline(&calm));
    let busy = run_dir(
        tmp.path(),
        "busy",
        &Fixture {
            contended: true,
            ..fixture("ci")
        },
    );
    let md = markdown(&busy, &dir);
    let top = headline(&md);
    let n = Fixture::default().seconds;
    let window = 5..=n - 5;
    let contended = window.clone().filter(|s| s % 7 >= 5).count();
    assert!(
        top.contains(&format!(
            "> Machine contended in {contended} of {} seconds",
            window.count()
        )),
        "{top}"
    );
}

#[test]
fn figures_that_do_not_apply_are_named_in_one_line_and_read_in_human_units() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = baselines(tmp.path(), "ci");
    let run_path = tmp.path().join("base-run");
    let md = markdown(&run_path, &dir);
    let section = md
        .split("## Resources and gated figures")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let skipped: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("Not shown"))
        .collect();
    assert_eq!(skipped.len(), 1, "{section}");
    // A short run without appliance or surge: the soak, spike and appliance figures.
    for name in [
        "spike_recovery_s",
        "fd_growth",
        "appliance_added_p99_us",
        "identity_mismatches",
    ] {
        assert!(skipped[0].contains(name), "{name}: {section}");
        assert!(
            !section.contains(&format!("| {name} |")),
            "{name}: {section}"
        );
    }
    assert!(!section.contains(tables_not_measured()), "{section}");

    // Human units in the document, raw values in the JSON.
    let run = RunDir::load(&run_path).unwrap();
    let rss = metrics::extract(&run)["peak_rss_bytes"].value().unwrap();
    assert_eq!(
        row(section, "peak_rss_bytes")[1],
        units::bytes(rss),
        "{section}"
    );
    assert!(units::bytes(rss).ends_with("MiB"));
    assert!(!md.contains(&format!("{rss:.0}")), "no raw byte count");
    let run_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_path.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["resources"]["peak_rss_bytes"].as_f64(), Some(rss));
    reports::diff::diff(&reports::diff::DiffOptions {
        run_dir: run_path.clone(),
        baseline: dir.join("ci.json"),
        gates: None,
        out_dir: None,
    })
    .unwrap();
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_path.join("verdict.json")).unwrap()).unwrap();
    let rss_eval = verdict["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["metric"] == "peak_rss_bytes")
        .unwrap();
    assert_eq!(rss_eval["current"].as_f64(), Some(rss));
}

fn tables_not_measured() -> &'static str {
    reports::render::tables::NOT_MEASURED
}
