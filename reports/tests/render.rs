//! `render` on synthetic runs: every output exists, SVG and HTML are well-formed XML with
//! the expected series, and unmeasured figures are reported as such.

mod common;

use common::{parse_xml, run_dir};
use reports::fixtures::Fixture;
use reports::render::render;
use reports::rundir::RunDir;

#[test]
fn renders_report_plots_and_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let fixture = Fixture {
        contended: true,
        ..Fixture::default()
    };
    let dir = run_dir(tmp.path(), "run", &fixture);
    let run = RunDir::load(&dir).unwrap();
    let out = render(&run).unwrap();

    let spectrum = std::fs::read_to_string(dir.join("plots/spectrum.svg")).unwrap();
    let svg = parse_xml(&spectrum);
    assert_eq!(svg.elements[0], "svg");
    for class in rundir::columns::CLASSES {
        assert!(svg.has_text(class), "spectrum legend lacks {class}");
    }
    assert!(
        svg.count("polyline") >= 6,
        "one line per class: {}",
        svg.count("polyline")
    );
    assert!(svg.has_text("99.99%") && svg.has_text("percentile"));

    for name in [
        "throughput",
        "latency_p50",
        "latency_p99",
        "proxy_cpu",
        "proxy_rss",
        "connections",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("plots/{name}.svg"))).unwrap();
        let xml = parse_xml(&text);
        assert!(xml.count("polyline") >= 1, "{name} has no series");
    }
    let cpu = parse_xml(&std::fs::read_to_string(dir.join("plots/proxy_cpu.svg")).unwrap());
    assert!(cpu.has_text("user") && cpu.has_text("system"));
    assert_eq!(out.plots.len(), 7);

    let html = parse_xml(&std::fs::read_to_string(&out.html).unwrap());
    assert_eq!(html.count("svg"), 7, "every plot inlined");
    assert!(html.count("table") >= 4);
    assert!(html.has_text("filter::match_host"), "top frames table");
    let md = std::fs::read_to_string(&out.markdown).unwrap();
    assert!(md.contains("![Latency percentile spectrum per class](plots/spectrum.svg)"));
    let raw_html = std::fs::read_to_string(&out.html).unwrap();
    assert!(!raw_html.contains("<script src"), "no external resources");

    // The machine section: two of every seven seconds are contended in the fixture, and the five slowest seconds are listed with the machine's state.
    assert!(html.has_text("Machine during the run"));
    let section = md
        .split("# Machine during the run")
        .nth(1)
        .expect("machine section");
    let section = section.split("\n## ").next().unwrap();
    // The fixture's steady window is its seconds 5 to n - 5, both included.
    let n = Fixture::default().seconds;
    let window = 5..=n - 5;
    let contended = window.clone().filter(|s| s % 7 >= 5).count();
    assert!(
        section.contains(&format!(
            "{contended} of {} seconds were contended",
            window.count()
        )),
        "{section}"
    );
    let listed = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| second") && !l.starts_with("| ---"))
        .count();
    assert_eq!(listed, reports::machine::SLOWEST, "{section}");

    let mut csv = csv::Reader::from_path(&out.summary).unwrap();
    let headers = csv.headers().unwrap().clone();
    assert_eq!(&headers[0], "class");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][0], "allowed");
    let p99: f64 = rows[0][headers.iter().position(|h| h == "p99_us").unwrap()]
        .parse()
        .unwrap();
    assert!(p99 > 800.0, "p99 {p99}");
}

#[test]
fn missing_harness_data_is_not_measured_not_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(
        tmp.path(),
        "run",
        &Fixture {
            harness: false,
            ..Fixture::default()
        },
    );
    let run = RunDir::load(&dir).unwrap();
    let out = render(&run).unwrap();
    let md = std::fs::read_to_string(&out.markdown).unwrap();
    // No gates file in reach here: an unmeasured figure that nothing gates is named in
    // the one line of figures not shown (with gates, it stays in the table: see
    // render_headline.rs).
    let skipped = md
        .lines()
        .find(|l| l.starts_with("Not shown"))
        .expect("skipped figures line");
    assert!(skipped.contains("proxy_cpu_us_per_request"), "{md}");
    assert!(!md.contains("| proxy_cpu_us_per_request |"), "{md}");
    assert!(md.contains("Proxy CPU: not measured."));
    assert!(md.contains("CPU stacks: not measured."));
    assert!(
        !md.contains("Machine during the run"),
        "no host columns, no section"
    );
    assert!(!dir.join("plots/proxy_cpu.svg").exists());
    assert!(dir.join("plots/throughput.svg").exists());
}

#[test]
fn only_run_json_is_required() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "run", &Fixture::default());
    std::fs::remove_file(dir.join("timeseries.csv")).unwrap();
    std::fs::remove_dir_all(dir.join("hist")).unwrap();
    let run = RunDir::load(&dir).unwrap();
    let out = render(&run).unwrap();
    // The spectrum falls back to the recorded percentiles.
    let svg = parse_xml(&std::fs::read_to_string(dir.join("plots/spectrum.svg")).unwrap());
    assert!(svg.has_text("download"));
    parse_xml(&std::fs::read_to_string(&out.html).unwrap());
}

#[test]
fn paced_runs_get_a_corrected_spectrum() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "run", &Fixture::default());
    std::fs::create_dir_all(dir.join("hist/corrected")).unwrap();
    std::fs::copy(
        dir.join("hist/allowed.hdr"),
        dir.join("hist/corrected/allowed.hdr"),
    )
    .unwrap();
    let run = RunDir::load(&dir).unwrap();
    assert_eq!(run.corrected.len(), 1);
    assert_eq!(run.histograms.len(), 6, "corrected/ is not a class");
    render(&run).unwrap();
    let svg =
        parse_xml(&std::fs::read_to_string(dir.join("plots/spectrum_corrected.svg")).unwrap());
    assert!(svg.has_text("allowed corrected") && svg.has_text("allowed measured"));
}

/// A browser load document with one figure per path (the others absent).
fn browser_load(direct_ttfb: f64, proxy_ttfb: f64, steal_pct: f64) -> rundir::browser::BrowserLoad {
    use rundir::browser::*;
    let path = |name: &str, ttfb: f64| PathTiming {
        path: name.into(),
        loads: 3,
        failed: 0,
        figures: vec![Figure {
            name: "ttfb".into(),
            median_ms: ttfb,
            p90_ms: ttfb * 2.0,
        }],
        samples: vec![],
    };
    BrowserLoad {
        schema_version: SCHEMA_VERSION,
        started: "2026-01-01T00:00:00Z".into(),
        page: "http://school-app.example/page/load".into(),
        subresources: 11,
        browsers: 2,
        repetitions: 3,
        max_seconds: 60.0,
        took_seconds: 5.0,
        machine: Contention {
            cpus: 2,
            load_avg_start: 0.5,
            load_avg_end: 0.7,
            steal_pct,
            busy_pct: 40.0,
        },
        paths: vec![path("direct", direct_ttfb), path("proxy", proxy_ttfb)],
        proxy_adds: vec![Difference {
            name: "ttfb".into(),
            median_ms: proxy_ttfb - direct_ttfb,
            p90_ms: (proxy_ttfb - direct_ttfb) * 2.0,
        }],
    }
}

#[test]
fn the_browser_section_appears_when_the_run_has_browser_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "run", &Fixture::default());
    let out = render(&RunDir::load(&dir).unwrap()).unwrap();
    let without = std::fs::read_to_string(&out.markdown).unwrap();
    assert!(!without.contains("# Browser"), "{without}");

    browser_load(1.25, 2.5, 12.0).write_to(&dir).unwrap();
    let run = RunDir::load(&dir).unwrap();
    let out = render(&run).unwrap();
    let md = std::fs::read_to_string(&out.markdown).unwrap();
    let section = &md[md.find("# Browser").expect("a Browser section")..];
    let ttfb = section
        .lines()
        .find(|l| l.contains("time to first byte"))
        .expect("a ttfb row");
    for figure in ["1.2", "2.5", "+1.2", "5.0", "+2.5"] {
        assert!(ttfb.contains(figure), "{figure} in {ttfb}");
    }
    assert!(section.contains("12.0% steal"), "{section}");
    assert!(section.contains("contended"), "{section}");
    parse_xml(&std::fs::read_to_string(&out.html).unwrap());

    std::fs::write(dir.join(rundir::browser::FILE), "{").unwrap();
    assert!(
        RunDir::load(&dir).is_err(),
        "a malformed browser-load.json is refused"
    );
}
