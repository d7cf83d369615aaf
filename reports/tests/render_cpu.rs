//! The CPU parts of the documents: runtime scaffolding skipped from the ranking by total
//! time (and said so under it), flame graph links with their sample counts, and the
//! differential flame graph's warning when a side is too thin to judge.

mod common;

use common::{committed_gates, parse_xml, run_dir};
use reports::diff::{diff, DiffOptions, DIFF_FLAMEGRAPH};
use reports::fixtures::Fixture;
use reports::promote::{promote, PromoteOptions};
use reports::render::render_against;
use reports::rundir::RunDir;
use rundir::flame::MIN_DIFF_SAMPLES;
use rundir::folded::{is_scaffolding, sample_count};
use std::path::Path;

/// The Markdown table rows after `heading`, up to the next heading.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    md.split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("no {heading}"))
        .split("\n#")
        .next()
        .unwrap()
}

#[test]
fn totals_skip_runtime_scaffolding_and_say_so_under_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "run", &Fixture::default());
    let folded = std::fs::read_to_string(dir.join("cpu.folded")).unwrap();
    // The harness draws the flame graph beside the stacks.
    let svg = rundir::flame::run_flamegraph_svg(&folded, "proxy").unwrap();
    std::fs::write(dir.join("flamegraph.svg"), svg).unwrap();
    let run = RunDir::load(&dir).unwrap();
    let out = render_against(&run, &tmp.path().join("none")).unwrap();
    let md = std::fs::read_to_string(&out.markdown).unwrap();

    let totals = section(&md, "### Top frames by total time");
    let rows: Vec<&str> = totals
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| frame") && !l.starts_with("| ---"))
        .map(|l| l[2..].split(" | ").next().unwrap())
        .collect();
    assert!(!rows.is_empty(), "{totals}");
    assert!(rows.iter().all(|f| !is_scaffolding(f)), "{rows:?}");
    for frame in ["main", "tokio::runtime::worker::run"] {
        assert!(!rows.contains(&frame), "{frame} in {rows:?}");
    }
    assert!(
        rows.contains(&"proxy::serve"),
        "our own work stays: {rows:?}"
    );
    let skipped: Vec<&str> = totals
        .lines()
        .filter(|l| l.starts_with("Skipped: "))
        .collect();
    assert_eq!(skipped.len(), 1, "{totals}");
    assert!(
        skipped[0].contains("main (100%)") && skipped[0].contains("tokio::runtime::worker::run"),
        "{}",
        skipped[0]
    );
    // The line sits under the table, not above it.
    assert!(totals.find("| frame").unwrap() < totals.find("Skipped: ").unwrap());

    assert!(
        md.contains(&format!(
            "[Flame graph of the proxy ({} samples)](flamegraph.svg)",
            sample_count(&folded)
        )),
        "{md}"
    );
}

/// `folded` with every stack's count multiplied by `scale`.
fn scaled(folded: &str, scale: u64) -> String {
    rundir::folded::parse(folded)
        .map(|s| {
            let stack: Vec<&str> = std::iter::once(s.thread).chain(s.frames).collect();
            format!("{} {}\n", stack.join(";"), s.count * scale)
        })
        .collect()
}

/// Multiplies the counts of the collapsed stacks in `path` by `scale`.
fn scale_file(path: &Path, scale: u64) {
    let folded = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, scaled(&folded, scale)).unwrap();
}

/// Diffs a run against a baseline, both from the default fixture, their collapsed stacks
/// scaled by `base_scale` and `run_scale`; returns `diff.md` and the differential SVG.
fn compare(root: &Path, base_scale: u64, run_scale: u64) -> (String, String) {
    let base = run_dir(root, "base", &Fixture::default());
    let out = root.join("baselines");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(committed_gates(), out.join("gates.toml")).unwrap();
    let done = promote(&PromoteOptions {
        run_dir: base,
        profile: "ci".into(),
        note: None,
        force: false,
        out_dir: out.clone(),
        gates: None,
        suggest: Default::default(),
    })
    .unwrap();
    scale_file(&out.join("ci.folded"), base_scale);
    let run = run_dir(root, "run", &Fixture::default());
    scale_file(&run.join("cpu.folded"), run_scale);
    diff(&DiffOptions {
        run_dir: run.clone(),
        baseline: done.json,
        gates: None,
        out_dir: None,
    })
    .unwrap();
    (
        std::fs::read_to_string(run.join("diff.md")).unwrap(),
        std::fs::read_to_string(run.join(DIFF_FLAMEGRAPH)).unwrap(),
    )
}

/// The fixture's sample count, and the scale that lifts it to the threshold.
fn fixture_samples() -> (u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "probe", &Fixture::default());
    let n = sample_count(&std::fs::read_to_string(dir.join("cpu.folded")).unwrap());
    (n, MIN_DIFF_SAMPLES.div_ceil(n))
}

#[test]
fn a_thin_side_of_the_differential_flame_graph_is_named_with_its_samples() {
    let (base, scale) = fixture_samples();
    assert!(base < MIN_DIFF_SAMPLES, "the fixture's profile is thin");

    let tmp = tempfile::tempdir().unwrap();
    let (md, svg) = compare(tmp.path(), 1, scale);
    let warning =
        format!("the baseline profile has only {base} samples (under {MIN_DIFF_SAMPLES})");
    let lines: Vec<&str> = md.lines().filter(|l| l.contains(&warning)).collect();
    assert_eq!(lines.len(), 2, "in the warnings and over the link: {md}");
    assert!(!md.contains("the current profile has only"), "{md}");
    assert!(
        md.contains(&format!(
            "baseline {base} samples, current {} samples",
            base * scale
        )),
        "{md}"
    );
    let subtitle = format!("WARNING: baseline under {MIN_DIFF_SAMPLES} samples, too thin to judge");
    assert!(parse_xml(&svg).has_text(&subtitle), "{svg}");

    // Both sides thin: both named.
    let tmp = tempfile::tempdir().unwrap();
    let (md, svg) = compare(tmp.path(), 1, 1);
    assert!(md.contains("the current profile has only") && md.contains(&warning));
    assert!(svg.contains(&format!(
        "WARNING: baseline and current under {MIN_DIFF_SAMPLES} samples"
    )));
}

#[test]
fn thick_profiles_carry_no_warning() {
    let (_, scale) = fixture_samples();
    let tmp = tempfile::tempdir().unwrap();
    let (md, svg) = compare(tmp.path(), scale, scale);
    assert!(!md.contains("too thin") && !md.contains("has only"), "{md}");
    assert!(!svg.contains("WARNING"));
    assert!(svg.contains("baseline") && svg.contains("samples"));
}
