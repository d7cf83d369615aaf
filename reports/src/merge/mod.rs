//! `perf-report merge OUT WORKER_DIR...`: one run directory from the run directories of
//! the workers of a distributed run (`loadgen attack --segment I/N`), which `render`,
//! `diff`, `promote` and `gate` read like any other.
//!
//! Exact, never averaged: each class's histograms (time to last byte, to first byte,
//! corrected) are the sum of the workers' (`Histogram::add`), so a merged p99 is the p99
//! of every request the fleet made; counts, failures and errors by kind are summed; the
//! per-second series and interval logs are added by wall-clock second ([`series`]).
//!
//! Honest about its inputs: a worker without a readable `run.json` (killed before it
//! wrote one), one that says it did not complete, or one with fewer seconds than the rest
//! makes the merged run incomplete (`complete: false`, so nothing gates or promotes it);
//! a saturated worker or one that started late makes it invalid (`merge.invalid`, and a
//! saturated worker sets `load_generator_saturated`). Every reason names the worker, and
//! `merge.workers` lists every worker given.
//!
//! # Layout
//! - this file: reading the workers, the merged `run.json` and histograms.
//! - [`series`]: the per-second rows and interval logs by wall-clock second.

pub mod series;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use rundir::run::{
    ClassStats, CoordinatedOmission, DriverFacts, Files, MergeFacts, MergedWorker, Percentiles,
    RunJson, Samples, Totals, RUN_SCHEMA_VERSION,
};
use rundir::time::{parse_rfc3339, rfc3339};

use crate::error::{ReportError, Result};
use crate::rundir::read_run_json;
use crate::timeseries::Timeseries;
use series::{add_into, WorkerSeries};

/// A worker with this many fewer seconds than the longest one stopped early: the tail of
/// a run (sends finishing after the end) varies by a second between workers that ran to
/// the end.
const SHORT_BY_S: u64 = 2;

/// File names the merge writes (the load generator's names, so readers find them).
mod files {
    pub const RUN_JSON: &str = "run.json";
    pub const TIMESERIES: &str = "timeseries.csv";
    pub const HIST_DIR: &str = "hist";
    pub const TTFB_DIR: &str = "hist/ttfb";
    pub const CORRECTED_DIR: &str = "hist/corrected";
    pub const INTERVAL_LOG: &str = "hist/latency.hlog";
}

/// What a merge produced.
#[derive(Debug)]
pub struct MergeReport {
    /// The merged run directory.
    pub out: PathBuf,
    /// The merged document.
    pub run: RunJson,
}

impl MergeReport {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let t = self.run.totals.clone().unwrap_or_default();
        let m = self.run.merge.clone().unwrap_or_default();
        let mut line = format!(
            "merged {} workers into {}: {} requests, {} failures",
            m.workers.len(),
            self.out.display(),
            t.requests,
            t.failures
        );
        for r in m.incomplete.iter().chain(&m.invalid) {
            line.push_str(&format!("\n  {r}"));
        }
        line
    }
}

/// One worker's directory, read.
struct Worker {
    dir: PathBuf,
    run: Option<RunJson>,
    series: WorkerSeries,
    clock_ms: Option<u64>,
    ttlb: BTreeMap<String, Histogram<u64>>,
    ttfb: BTreeMap<String, Histogram<u64>>,
    corrected: BTreeMap<String, Histogram<u64>>,
}

fn read_hists(
    dir: &Path,
    files: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Histogram<u64>>> {
    files
        .iter()
        .map(|(class, rel)| {
            let path = dir.join(rel);
            let h = rundir::hdr::read(&path).map_err(|e| ReportError::Malformed {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            Ok((class.clone(), h))
        })
        .collect()
}

fn read_worker(dir: &Path, incomplete: &mut Vec<String>) -> Result<Worker> {
    let name = dir.display();
    let mut w = Worker {
        dir: dir.to_owned(),
        run: None,
        series: WorkerSeries::default(),
        clock_ms: None,
        ttlb: BTreeMap::new(),
        ttfb: BTreeMap::new(),
        corrected: BTreeMap::new(),
    };
    let run = match read_run_json(&dir.join(files::RUN_JSON)) {
        Ok(run) => run,
        Err(e) => {
            incomplete.push(format!(
                "worker {name}: no usable run.json (killed before the end?): {e}"
            ));
            return Ok(w);
        }
    };
    if run.complete != Some(true) {
        incomplete.push(format!("worker {name}: its run did not complete"));
    }
    if let Some(f) = &run.files {
        w.ttlb = read_hists(dir, &f.histograms)?;
        w.ttfb = read_hists(dir, &f.ttfb_histograms)?;
        w.corrected = read_hists(dir, &f.corrected_histograms)?;
        let ts = dir.join(&f.timeseries);
        if ts.is_file() {
            w.series.rows = Some(Timeseries::read(&ts)?);
        }
        if let Some(log) = &f.interval_log {
            w.series.intervals = Some(series::read_intervals(&dir.join(log))?);
        }
    }
    w.clock_ms = run
        .worker
        .as_ref()
        .map(|f| f.clock_start_unix_ms)
        .or_else(|| {
            let t = parse_rfc3339(run.started_at.as_deref()?).ok()?;
            Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
        });
    w.run = Some(run);
    Ok(w)
}

/// Merges the workers' run directories into `out`.
pub fn merge(out: &Path, worker_dirs: &[PathBuf]) -> Result<MergeReport> {
    if worker_dirs.is_empty() {
        return Err(ReportError::Usage(
            "merge needs at least one worker directory".into(),
        ));
    }
    let mut incomplete = Vec::new();
    let mut invalid = Vec::new();
    let mut workers = worker_dirs
        .iter()
        .map(|d| read_worker(d, &mut incomplete))
        .collect::<Result<Vec<_>>>()?;
    let Some(first) = workers.iter().find_map(|w| w.run.clone()) else {
        return Err(ReportError::Usage(format!(
            "no worker has a readable run.json: {}",
            incomplete.join("; ")
        )));
    };
    let earliest_ms = workers.iter().filter_map(|w| w.clock_ms).min().unwrap_or(0);
    for w in &mut workers {
        // Whole seconds, rounded: workers started together are a few ms apart.
        w.series.offset_s = w.clock_ms.map_or(0, |ms| (ms - earliest_ms + 500) / 1000);
    }
    let longest = workers
        .iter()
        .map(|w| w.series.seconds())
        .max()
        .unwrap_or(0);
    for w in &workers {
        let name = w.dir.display();
        let Some(run) = &w.run else { continue };
        if w.series.seconds() + SHORT_BY_S < longest {
            incomplete.push(format!(
                "worker {name}: {} seconds of data where another has {longest}",
                w.series.seconds()
            ));
        }
        if run.load_generator_saturated == Some(true) {
            invalid.push(format!("worker {name}: its load generator was saturated"));
        }
        if let Some(f) = run.worker.as_ref().filter(|f| f.late) {
            invalid.push(format!(
                "worker {name}: started {:.1} s after the shared start {}",
                f.late_by_s.unwrap_or(0.0),
                f.start_at.as_deref().unwrap_or("?")
            ));
        }
    }

    let mut ttlb = BTreeMap::new();
    let mut ttfb = BTreeMap::new();
    let mut corrected = BTreeMap::new();
    for w in &workers {
        for (sum, part) in [
            (&mut ttlb, &w.ttlb),
            (&mut ttfb, &w.ttfb),
            (&mut corrected, &w.corrected),
        ] {
            for (class, h) in part {
                add_into(sum, class.clone(), h, &w.dir)?;
            }
        }
    }
    let runs: Vec<&RunJson> = workers.iter().filter_map(|w| w.run.as_ref()).collect();
    let run = merged_document(
        &first,
        &runs,
        &workers,
        &ttlb,
        &ttfb,
        &corrected,
        MergeFacts {
            workers: workers.iter().map(merged_worker).collect(),
            invalid,
            incomplete,
        },
    );

    let mkdir = |p: PathBuf| {
        std::fs::create_dir_all(&p).map_err(|source| ReportError::Write { path: p, source })
    };
    for sub in [files::HIST_DIR, files::TTFB_DIR, files::CORRECTED_DIR] {
        mkdir(out.join(sub))?;
    }
    let write_hists = |sub: &str, hists: &BTreeMap<String, Histogram<u64>>| -> Result<()> {
        for (class, h) in hists {
            let path = out.join(format!("{sub}/{class}.hdr"));
            rundir::hdr::write(&path, h).map_err(|e| ReportError::Write {
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        Ok(())
    };
    write_hists(files::HIST_DIR, &ttlb)?;
    write_hists(files::TTFB_DIR, &ttfb)?;
    write_hists(files::CORRECTED_DIR, &corrected)?;
    let series: Vec<WorkerSeries> = workers.into_iter().map(|w| w.series).collect();
    let intervals = series::merged_intervals(&series, out)?;
    series::write_timeseries(&out.join(files::TIMESERIES), &series, &intervals)?;
    series::write_interval_log(
        &out.join(files::INTERVAL_LOG),
        UNIX_EPOCH + Duration::from_millis(earliest_ms),
        &intervals,
    )?;
    let path = out.join(files::RUN_JSON);
    crate::atomic::write_atomic(&path, run.to_pretty_json().as_bytes())?;
    Ok(MergeReport {
        out: out.to_owned(),
        run,
    })
}

/// A merged run against one process that made the same total load: achieved totals, and
/// per class the counts and the p50 and p99 (time to last byte), with the relative
/// difference (merged / single - 1). Also whether each class's count is its histogram's.
pub fn compare(merged: &RunJson, single: &RunJson) -> String {
    let pct = |a: f64, b: f64| {
        if b == 0.0 {
            f64::NAN
        } else {
            (a / b - 1.0) * 100.0
        }
    };
    let (mt, st) = (
        merged.totals.clone().unwrap_or_default(),
        single.totals.clone().unwrap_or_default(),
    );
    let mut out = format!(
        "achieved: merged {} requests ({:.1}/s), single {} ({:.1}/s): {:+.2}% requests, {:+.2}% rate\n",
        mt.requests,
        mt.rps.unwrap_or(0.0),
        st.requests,
        st.rps.unwrap_or(0.0),
        pct(mt.requests as f64, st.requests as f64),
        pct(mt.rps.unwrap_or(0.0), st.rps.unwrap_or(0.0)),
    );
    for (class, m) in &merged.classes {
        // Classes neither run sent are left out.
        let Some(s) = single.classes.get(class).filter(|s| s.count + m.count > 0) else {
            continue;
        };
        let (ml, sl) = (m.ttlb_us.unwrap_or_default(), s.ttlb_us.unwrap_or_default());
        let q = |v: Option<f64>| v.unwrap_or(0.0);
        out.push_str(&format!(
            "{class}: count merged {} single {}; histogram holds {} of {}; p50 {} vs {} µs ({:+.1}%); p99 {} vs {} µs ({:+.1}%)\n",
            m.count,
            s.count,
            ml.count.unwrap_or(0),
            m.count,
            q(ml.p50),
            q(sl.p50),
            pct(q(ml.p50), q(sl.p50)),
            q(ml.p99),
            q(sl.p99),
            pct(q(ml.p99), q(sl.p99)),
        ));
    }
    out
}

fn merged_worker(w: &Worker) -> MergedWorker {
    let run = w.run.as_ref();
    MergedWorker {
        dir: w.dir.display().to_string(),
        segment: run
            .and_then(|r| r.worker.as_ref())
            .map(|f| format!("{}/{}", f.index, f.count)),
        complete: run.is_some_and(|r| r.complete == Some(true)),
        requests: run
            .and_then(|r| r.totals.as_ref())
            .map_or(0, |t| t.requests),
        seconds: w.series.seconds(),
        offset_s: w.series.offset_s,
        started_at: run.and_then(|r| r.started_at.clone()),
        ended_at: run.and_then(|r| r.ended_at.clone()),
    }
}

fn sum_maps(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_insert(0) += v;
    }
}

fn sum_opt(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.fold(None, |acc, v| match (acc, v) {
        (a, None) => a,
        (None, Some(v)) => Some(v),
        (Some(a), Some(v)) => Some(a + v),
    })
}

#[allow(clippy::too_many_arguments)]
fn merged_document(
    first: &RunJson,
    runs: &[&RunJson],
    workers: &[Worker],
    ttlb: &BTreeMap<String, Histogram<u64>>,
    ttfb: &BTreeMap<String, Histogram<u64>>,
    corrected: &BTreeMap<String, Histogram<u64>>,
    merge: MergeFacts,
) -> RunJson {
    // The workers ran side by side: the merged run lasts as long as the longest.
    let measured_s = runs
        .iter()
        .filter_map(|r| r.measured_s)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    let mut classes: BTreeMap<String, ClassStats> = BTreeMap::new();
    for r in runs {
        for (name, c) in &r.classes {
            let m = classes.entry(name.clone()).or_default();
            m.count += c.count;
            m.failures += c.failures;
            sum_maps(&mut m.errors, &c.errors);
        }
    }
    for (name, m) in &mut classes {
        m.rps = Some(m.count as f64 / measured_s);
        m.ttlb_us = ttlb.get(name).and_then(Percentiles::of);
        m.latency_us = m.ttlb_us;
        m.ttfb_us = ttfb.get(name).and_then(Percentiles::of);
        m.corrected_us = corrected.get(name).and_then(Percentiles::of);
    }
    let mut errors_by_kind = BTreeMap::new();
    let mut extra = DriverFacts::default();
    let mut samples = Samples::default();
    for r in runs {
        sum_maps(&mut errors_by_kind, &r.errors_by_kind);
        sum_maps(&mut extra.roster_groups, &r.extra.roster_groups);
        sum_maps(&mut extra.users_per_scenario, &r.extra.users_per_scenario);
        for (field, v) in [
            (&mut extra.connections, r.extra.connections),
            (&mut extra.unsent, r.extra.unsent),
        ] {
            if let Some(v) = v {
                *field.get_or_insert(0) += v;
            }
        }
        if let Some(s) = r.samples {
            samples.warmup += s.warmup;
            samples.late += s.late;
        }
    }
    let requests: u64 = runs
        .iter()
        .filter_map(|r| r.totals.as_ref())
        .map(|t| t.requests)
        .sum();
    let failures: u64 = runs
        .iter()
        .filter_map(|r| r.totals.as_ref())
        .map(|t| t.failures)
        .sum();
    let offered = sum_opt(
        runs.iter()
            .map(|r| r.totals.as_ref().and_then(|t| t.offered_rps)),
    );
    let users: u64 = runs
        .iter()
        .filter_map(|r| {
            r.worker
                .as_ref()
                .map(|f| f.users)
                .or_else(|| r.profile.settings.get("users")?.as_u64())
        })
        .sum();
    let mut profile = first.profile.clone();
    if let Some(settings) = profile.settings.as_object_mut() {
        // The whole run's users and rate, not the first worker's slice.
        settings.insert("users".into(), users.into());
        if let Some(rate) = sum_opt(runs.iter().map(|r| {
            r.profile
                .settings
                .get("target_rate")
                .and_then(|v| v.as_f64())
        })) {
            settings.insert("target_rate".into(), rate.into());
        }
    }
    // Saturated if any worker was; unsaturated only if every worker says so.
    let saturated = if runs
        .iter()
        .any(|r| r.load_generator_saturated == Some(true))
    {
        Some(true)
    } else if runs
        .iter()
        .all(|r| r.load_generator_saturated == Some(false))
    {
        Some(false)
    } else {
        None
    };
    let corrected_all = runs
        .iter()
        .all(|r| r.coordinated_omission.is_some_and(|c| c.corrected));
    let starts: Vec<SystemTime> = runs
        .iter()
        .filter_map(|r| parse_rfc3339(r.started_at.as_deref()?).ok())
        .collect();
    let ends: Vec<SystemTime> = runs
        .iter()
        .filter_map(|r| parse_rfc3339(r.ended_at.as_deref()?).ok())
        .collect();
    let hist_files = |sub: &str, hists: &BTreeMap<String, Histogram<u64>>| {
        hists
            .keys()
            .map(|c| (c.clone(), format!("{sub}/{c}.hdr")))
            .collect()
    };
    let complete = merge.incomplete.is_empty() && workers.iter().all(|w| w.run.is_some());
    RunJson {
        schema_version: RUN_SCHEMA_VERSION,
        tool: Some("perf-report merge".to_owned()),
        driver: first.driver.clone(),
        profile,
        complete: Some(complete),
        started_at: starts.iter().min().map(|t| rfc3339(*t)),
        ended_at: ends.iter().max().map(|t| rfc3339(*t)),
        classes,
        totals: Some(Totals {
            requests,
            failures,
            rps: Some(requests as f64 / measured_s),
            offered_rps: offered,
        }),
        provenance: first.provenance.clone(),
        load_generator_saturated: saturated,
        route: first.route.clone(),
        proxy: first.proxy.clone(),
        origin: first.origin.clone(),
        scenario_mix: first.scenario_mix.clone(),
        elapsed_s: runs.iter().filter_map(|r| r.elapsed_s).reduce(f64::max),
        warmup_s: first.warmup_s,
        measured_s: Some(measured_s),
        errors_by_kind,
        coordinated_omission: Some(CoordinatedOmission {
            corrected: corrected_all,
            target_rps: offered,
        }),
        samples: Some(samples),
        files: Some(Files {
            timeseries: files::TIMESERIES.to_owned(),
            histograms: hist_files(files::HIST_DIR, ttlb),
            ttfb_histograms: hist_files(files::TTFB_DIR, ttfb),
            corrected_histograms: hist_files(files::CORRECTED_DIR, corrected),
            goose_report: Vec::new(),
            interval_log: Some(files::INTERVAL_LOG.to_owned()),
        }),
        extra,
        merge: Some(merge),
        ..RunJson::default()
    }
}

#[cfg(test)]
mod tests;
