//! The merge against a single recording of the same samples, and its honesty about
//! killed, short and late workers.

use super::*;
use rundir::columns::{class_column, load_generator_header, CLASSES};
use rundir::run::{ProfileInfo, WorkerFacts};

const START_MS: u64 = 1_795_863_900_000;

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap()
}

/// Deterministic samples: (second, class index, latency µs), spread over `seconds`.
fn samples(n: u64, seconds: u64) -> Vec<(u64, usize, u64)> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let us = 50 + (x >> 33) % 200_000;
            (i * seconds / n, (x >> 20) as usize % 2, us)
        })
        .collect()
}

/// What a recording of `samples` holds: whole-run histograms by class and per second.
struct Recording {
    hists: BTreeMap<String, Histogram<u64>>,
    seconds: BTreeMap<(u64, String), Histogram<u64>>,
    rows: BTreeMap<(u64, usize), u64>,
}

fn record(samples: &[(u64, usize, u64)]) -> Recording {
    let mut r = Recording {
        hists: BTreeMap::new(),
        seconds: BTreeMap::new(),
        rows: BTreeMap::new(),
    };
    for (s, c, us) in samples {
        let class = CLASSES[*c].to_owned();
        r.hists
            .entry(class.clone())
            .or_insert_with(new_hist)
            .record(*us)
            .unwrap();
        r.seconds
            .entry((*s, class))
            .or_insert_with(new_hist)
            .record(*us)
            .unwrap();
        *r.rows.entry((*s, *c)).or_insert(0) += 1;
    }
    r
}

/// Writes a worker's run directory as the load generator would.
fn write_worker(dir: &Path, samples: &[(u64, usize, u64)], seconds: u64, facts: WorkerFacts) {
    let rec = record(samples);
    std::fs::create_dir_all(dir.join("hist/ttfb")).unwrap();
    let mut files = Files {
        timeseries: "timeseries.csv".into(),
        interval_log: Some("hist/latency.hlog".into()),
        ..Files::default()
    };
    let mut classes = BTreeMap::new();
    for (class, h) in &rec.hists {
        for (sub, map) in [
            ("hist", &mut files.histograms),
            ("hist/ttfb", &mut files.ttfb_histograms),
        ] {
            let rel = format!("{sub}/{class}.hdr");
            rundir::hdr::write(&dir.join(&rel), h).unwrap();
            map.insert(class.clone(), rel);
        }
        classes.insert(
            class.clone(),
            ClassStats {
                count: h.len(),
                failures: 1,
                errors: BTreeMap::from([("timeout".to_owned(), 1)]),
                ..ClassStats::default()
            },
        );
    }
    let mut csv = load_generator_header(CLASSES).join(",") + "\n";
    for s in 0..seconds {
        let per: Vec<u64> = (0..CLASSES.len())
            .map(|c| rec.rows.get(&(s, c)).copied().unwrap_or(0))
            .collect();
        let mut row = vec![
            s.to_string(),
            "0".into(),
            per.iter().sum::<u64>().to_string(),
            "0".into(),
        ];
        for n in per {
            row.extend([n.to_string(), "0".into(), String::new(), String::new()]);
        }
        csv += &(row.join(",") + "\n");
    }
    std::fs::write(dir.join("timeseries.csv"), csv).unwrap();
    rundir::hlog::write(
        &dir.join("hist/latency.hlog"),
        UNIX_EPOCH + Duration::from_millis(facts.clock_start_unix_ms),
        rec.seconds.iter().map(|((s, c), h)| {
            (
                c.as_str(),
                Duration::from_secs(*s),
                Duration::from_secs(1),
                h,
            )
        }),
    )
    .unwrap();
    let requests = samples.len() as u64;
    let run = RunJson {
        schema_version: RUN_SCHEMA_VERSION,
        tool: Some("loadgen".into()),
        complete: Some(true),
        profile: ProfileInfo {
            name: "ci".into(),
            settings: serde_json::json!({"users": facts.users, "target_rate": facts.rate}),
        },
        classes,
        totals: Some(Totals {
            requests,
            failures: rec.hists.len() as u64,
            rps: None,
            offered_rps: facts.rate,
        }),
        measured_s: Some(seconds as f64),
        load_generator_saturated: Some(false),
        files: Some(files),
        worker: Some(facts),
        ..RunJson::default()
    };
    std::fs::write(dir.join("run.json"), run.to_pretty_json()).unwrap();
}

fn facts(index: u32, offset_ms: u64) -> WorkerFacts {
    WorkerFacts {
        index,
        count: 3,
        clock_start_unix_ms: START_MS + offset_ms,
        users: 2,
        rate: Some(100.0),
        ..WorkerFacts::default()
    }
}

/// Three workers, each with every third sample; worker 3 starts one second later and so
/// records its samples one second earlier on its own clock.
fn three_workers(root: &Path, all: &[(u64, usize, u64)], seconds: u64) -> Vec<PathBuf> {
    (0..3u32)
        .map(|w| {
            let dir = root.join(format!("w{}", w + 1));
            let late = u64::from(w == 2);
            // Worker 3 started a second late: the first second's samples are others'.
            let owner = |i: usize, s: u64| if i % 3 == 2 && s == 0 { 0 } else { i % 3 };
            let mine: Vec<_> = all
                .iter()
                .enumerate()
                .filter(|(i, (s, _, _))| owner(*i, *s) == w as usize)
                .map(|(_, (s, c, us))| (s - late, *c, *us))
                .collect();
            write_worker(&dir, &mine, seconds - late, facts(w + 1, late * 1000));
            dir
        })
        .collect()
}

#[test]
fn merged_histograms_equal_one_recording_of_the_same_samples_and_counts_add_up() {
    let root = tempfile::tempdir().unwrap();
    let all = samples(3_000, 10);
    let single = record(&all);
    let dirs = three_workers(root.path(), &all, 10);
    let out = root.path().join("merged");
    let report = merge(&out, &dirs).unwrap();
    let m = report.run.merge.clone().unwrap();
    assert!(m.invalid.is_empty() && m.incomplete.is_empty(), "{m:?}");
    assert_eq!(report.run.complete, Some(true));
    assert_eq!(m.workers.len(), 3);
    assert_eq!(m.workers[2].offset_s, 1);

    let merged = crate::rundir::RunDir::load(&out).unwrap();
    assert_eq!(merged.histograms, single.hists, "whole-run histograms");
    let t = merged.run.totals.clone().unwrap();
    assert_eq!(t.requests, 3_000);
    assert_eq!(t.failures, 3 * single.hists.len() as u64, "failures summed");
    assert_eq!(t.offered_rps, Some(300.0));
    assert_eq!(merged.run.profile.settings["users"], 6);
    for (class, h) in &single.hists {
        let c = &merged.run.classes[class];
        assert_eq!(c.count, h.len(), "{class}");
        assert_eq!(c.errors["timeout"], 3, "{class}");
        assert_eq!(
            c.latency_us.unwrap().p99,
            Some(h.value_at_quantile(0.99) as f64)
        );
    }

    // Per second: rows summed by wall clock, percentiles from the added histograms.
    let ts = merged.timeseries.unwrap();
    assert_eq!(ts.len(), 10);
    for class in ["allowed", "blocked"] {
        let requests = ts.column(&class_column(class, "requests")).unwrap();
        let p99 = ts.column(&class_column(class, "p99_us")).unwrap();
        for s in 0..10u64 {
            let h = &single.seconds[&(s, class.to_owned())];
            assert_eq!(
                requests[s as usize],
                Some(h.len() as f64),
                "{class} second {s}"
            );
            assert_eq!(
                p99[s as usize],
                Some(h.value_at_quantile(0.99) as f64),
                "{class} second {s}"
            );
        }
    }
    let log = rundir::hlog::read(&out.join("hist/latency.hlog")).unwrap();
    let by_second: BTreeMap<(u64, String), Histogram<u64>> = log
        .intervals
        .into_iter()
        .map(|i| ((i.start.as_secs(), i.tag), i.histogram))
        .collect();
    assert_eq!(by_second, single.seconds, "the merged interval log");
}

#[test]
fn a_killed_short_or_late_worker_is_named_never_silently_dropped() {
    let root = tempfile::tempdir().unwrap();
    let all = samples(900, 10);
    let dirs = three_workers(root.path(), &all, 10);

    // Killed before it wrote run.json.
    std::fs::remove_file(dirs[1].join("run.json")).unwrap();
    let report = merge(&root.path().join("m1"), &dirs).unwrap();
    let m = report.run.merge.clone().unwrap();
    assert_eq!(report.run.complete, Some(false));
    assert!(
        m.incomplete
            .iter()
            .any(|r| r.contains("w2") && r.contains("run.json")),
        "{m:?}"
    );
    assert_eq!(m.workers.len(), 3, "the killed worker is still listed");
    assert!(!m.workers[1].complete);

    // Short: stopped after 4 of 10 seconds (its run.json still says complete).
    let short = root.path().join("short");
    let first: Vec<_> = all.iter().copied().filter(|(s, _, _)| *s < 4).collect();
    write_worker(&short, &first, 4, facts(2, 0));
    let report = merge(
        &root.path().join("m2"),
        &[dirs[0].clone(), short, dirs[2].clone()],
    )
    .unwrap();
    let m = report.run.merge.unwrap();
    assert_eq!(report.run.complete, Some(false));
    assert!(
        m.incomplete
            .iter()
            .any(|r| r.contains("short") && r.contains("4 seconds")),
        "{m:?}"
    );

    // Late and saturated: complete but invalid, naming each.
    let late = root.path().join("late");
    let mut f = facts(2, 0);
    f.late = true;
    f.late_by_s = Some(7.5);
    f.start_at = Some("2026-11-28T11:05:00Z".into());
    write_worker(&late, &all[..10], 10, f);
    let mut sat: RunJson =
        serde_json::from_str(&std::fs::read_to_string(dirs[0].join("run.json")).unwrap()).unwrap();
    sat.load_generator_saturated = Some(true);
    std::fs::write(dirs[0].join("run.json"), sat.to_pretty_json()).unwrap();
    let report = merge(
        &root.path().join("m3"),
        &[dirs[0].clone(), late, dirs[2].clone()],
    )
    .unwrap();
    let m = report.run.merge.clone().unwrap();
    assert_eq!(report.run.complete, Some(true));
    assert_eq!(report.run.load_generator_saturated, Some(true));
    assert!(
        m.invalid
            .iter()
            .any(|r| r.contains("late") && r.contains("7.5 s")),
        "{m:?}"
    );
    assert!(
        m.invalid
            .iter()
            .any(|r| r.contains("w1") && r.contains("saturated")),
        "{m:?}"
    );
    let merged = crate::rundir::RunDir::load(&root.path().join("m3")).unwrap();
    let unfit = crate::promote::checks::unfit_reasons(&merged);
    assert!(unfit.iter().any(|r| r.contains("invalid")), "{unfit:?}");
}
