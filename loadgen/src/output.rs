//! The run directory an attack writes: `run.json`, `timeseries.csv`, one HDR
//! histogram (V2) per class under `hist/`, the per-second histograms of every class as an
//! HdrHistogram interval log (`hist/latency.hlog`), and Goose's own report.
//!
//! `run.json` is the contract with the report generator and the release gate:
//! it is built as the typed `rundir::run::RunJson` the reports read (the version is
//! `rundir::run::RUN_SCHEMA_VERSION`), described by `rundir/schemas/run.schema.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rundir::hdr::{self, HdrError};
use rundir::run::{
    ClassStats, CoordinatedOmission, DriverFacts, Files, Percentiles, ProfileInfo, RunJson,
    Samples, Totals, WorkerFacts, RUN_SCHEMA_VERSION,
};
use rundir::time::rfc3339;
use serde_json::{json, Value};

use crate::mix::Mix;
use crate::profile::Profile;
use crate::record::timeseries::write_csv;
use crate::record::{ClassSummary, Outcome, Summary};

/// File names inside a run directory.
pub mod files {
    /// The run summary.
    pub const RUN_JSON: &str = "run.json";
    /// Per-second rows.
    pub const TIMESERIES: &str = "timeseries.csv";
    /// Time-to-last-byte histograms, `hist/<class>.hdr`.
    pub const HIST_DIR: &str = "hist";
    /// Time-to-first-byte histograms, `hist/ttfb/<class>.hdr`.
    pub const TTFB_DIR: &str = "hist/ttfb";
    /// Coordinated-omission corrected histograms, `hist/corrected/<class>.hdr`.
    pub const CORRECTED_DIR: &str = "hist/corrected";
    /// Per-second time-to-last-byte histograms of every class (HdrHistogram interval log,
    /// tagged by class, V2-deflate).
    pub const INTERVAL_LOG: &str = "hist/latency.hlog";
    /// Goose's HTML report.
    pub const GOOSE_HTML: &str = "goose-report.html";
    /// Goose's JSON report.
    pub const GOOSE_JSON: &str = "goose-report.json";
    /// The origin's CA certificate (PEM), when the attack started its own origin.
    pub const ORIGIN_CA: &str = "origin-ca.pem";
}

/// Errors writing the run directory.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("writing the timeseries: {0}")]
    Csv(#[from] csv::Error),
    /// A histogram could not be written.
    #[error(transparent)]
    Hdr(#[from] HdrError),
    /// The interval log could not be written.
    #[error(transparent)]
    Hlog(#[from] rundir::hlog::HlogError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What the run was, beyond its recorded samples.
#[derive(Debug, Clone)]
pub struct RunFacts<'a> {
    /// `goose` or `open-loop`.
    pub driver: &'static str,
    /// The resolved profile.
    pub profile: &'a Profile,
    /// The scenario mix (absent for the open-loop driver).
    pub mix: Option<&'a Mix>,
    /// Proxy address, when proxied.
    pub proxy: Option<String>,
    /// Origin address.
    pub origin: String,
    /// Wall-clock start and end.
    pub started: SystemTime,
    /// Wall-clock end.
    pub ended: SystemTime,
    /// Length of the attack.
    pub elapsed: Duration,
    /// Whether the attack ran to its end.
    pub complete: bool,
    /// Offered rate, when paced.
    pub offered_rps: Option<f64>,
    /// Extra driver-specific facts (Goose totals, roster groups, ...).
    pub extra: DriverFacts,
    /// This process's slice of a distributed run, when it is one.
    pub worker: Option<WorkerFacts>,
}

/// Writes the run directory; returns the `run.json` document.
pub fn write_run_dir(
    dir: &Path,
    facts: &RunFacts<'_>,
    summary: &Summary,
) -> Result<Value, OutputError> {
    for sub in [files::HIST_DIR, files::TTFB_DIR, files::CORRECTED_DIR] {
        let p = dir.join(sub);
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let mut hist = BTreeMap::new();
    let mut ttfb = BTreeMap::new();
    let mut corrected = BTreeMap::new();
    for c in summary.classes.iter().filter(|c| c.requests > 0) {
        let name = c.class.as_str();
        let rel = |d: &str| format!("{d}/{name}.hdr");
        hdr::write(&dir.join(rel(files::HIST_DIR)), &c.ttlb)?;
        hist.insert(name.to_owned(), rel(files::HIST_DIR));
        hdr::write(&dir.join(rel(files::TTFB_DIR)), &c.ttfb)?;
        ttfb.insert(name.to_owned(), rel(files::TTFB_DIR));
        if let Some(h) = &c.corrected {
            hdr::write(&dir.join(rel(files::CORRECTED_DIR)), h)?;
            corrected.insert(name.to_owned(), rel(files::CORRECTED_DIR));
        }
    }
    write_interval_log(&dir.join(files::INTERVAL_LOG), facts.started, summary)?;
    let ts = dir.join(files::TIMESERIES);
    write_csv(
        &summary.rows,
        std::fs::File::create(&ts).map_err(io_err(&ts))?,
    )?;

    // From the end of the warm-up to the last answer: the attack's own start
    // and stop (Goose spawning and reaping users) do not dilute the rate.
    let last_s = (summary.last_done_us as f64 / 1e6).min(facts.elapsed.as_secs_f64());
    let measured_s = (last_s - facts.profile.warmup.as_secs_f64()).max(0.001);
    let mut classes = BTreeMap::new();
    let mut errors_by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for c in &summary.classes {
        for (o, n) in Outcome::ALL.iter().zip(c.outcomes) {
            if *o != Outcome::Ok && n > 0 {
                *errors_by_kind.entry(o.as_str().to_owned()).or_insert(0) += n;
            }
        }
        classes.insert(c.class.as_str().to_owned(), class_doc(c, measured_s));
    }
    let requests = summary.total_requests();
    let goose_report: Vec<&str> = [files::GOOSE_HTML, files::GOOSE_JSON]
        .into_iter()
        .filter(|f| dir.join(f).is_file())
        .collect();
    let mut settings = serde_json::to_value(facts.profile).expect("a profile is plain data");
    // Relative to the checkout, so run.json (and a baseline made from it) names no
    // machine path.
    if let Ok(mix) = std::fs::canonicalize(&facts.profile.scenario_mix) {
        let repo = crate::rig::paths::repo_dir_of(&mix);
        if let Ok(rel) = mix.strip_prefix(&repo) {
            settings["scenario_mix"] = json!(rel.display().to_string());
        }
    }
    let run = RunJson {
        schema_version: RUN_SCHEMA_VERSION,
        tool: Some("loadgen".to_owned()),
        driver: Some(facts.driver.to_owned()),
        complete: Some(facts.complete),
        started_at: Some(rfc3339(facts.started)),
        ended_at: Some(rfc3339(facts.ended)),
        route: Some(
            if facts.proxy.is_some() {
                "proxy"
            } else {
                "direct"
            }
            .to_owned(),
        ),
        proxy: facts.proxy.clone(),
        origin: Some(facts.origin.clone()),
        profile: ProfileInfo {
            name: facts.profile.name.clone(),
            settings,
        },
        scenario_mix: serde_json::to_value(facts.mix).expect("a mix is plain data"),
        elapsed_s: Some(facts.elapsed.as_secs_f64()),
        warmup_s: Some(facts.profile.warmup.as_secs_f64()),
        measured_s: Some(measured_s),
        totals: Some(Totals {
            requests,
            failures: summary.total_errors(),
            rps: Some(requests as f64 / measured_s),
            offered_rps: facts.offered_rps,
        }),
        classes,
        errors_by_kind,
        coordinated_omission: Some(CoordinatedOmission {
            corrected: facts.offered_rps.is_some(),
            target_rps: facts.offered_rps,
        }),
        samples: Some(Samples {
            warmup: summary.warmup_samples,
            late: summary.late_samples,
        }),
        files: Some(Files {
            timeseries: files::TIMESERIES.to_owned(),
            histograms: hist,
            ttfb_histograms: ttfb,
            corrected_histograms: corrected,
            goose_report: goose_report.into_iter().map(str::to_owned).collect(),
            interval_log: Some(files::INTERVAL_LOG.to_owned()),
        }),
        extra: facts.extra.clone(),
        worker: facts.worker.clone(),
        ..RunJson::default()
    };
    let path = dir.join(files::RUN_JSON);
    std::fs::write(&path, run.to_pretty_json()).map_err(io_err(&path))?;
    Ok(serde_json::to_value(&run).expect("the run document is plain data"))
}

/// The per-second histograms as an interval log whose start and base time are the start
/// of the run clock (interval starts are the `second` column of `timeseries.csv`).
fn write_interval_log(
    path: &Path,
    started: SystemTime,
    summary: &Summary,
) -> Result<(), OutputError> {
    let decoded = summary
        .intervals
        .iter()
        .map(|i| {
            let h = rundir::hlog::inflate(&i.deflated)
                .expect("the aggregator deflated this histogram itself");
            (i.class.as_str(), Duration::from_secs(i.second), h)
        })
        .collect::<Vec<_>>();
    rundir::hlog::write(
        path,
        started,
        decoded
            .iter()
            .map(|(tag, start, h)| (*tag, *start, Duration::from_secs(1), h)),
    )?;
    Ok(())
}

fn class_doc(c: &ClassSummary, measured_s: f64) -> ClassStats {
    let errors: BTreeMap<String, u64> = Outcome::ALL
        .iter()
        .zip(c.outcomes)
        .filter(|(o, n)| **o != Outcome::Ok && *n > 0)
        .map(|(o, n)| (o.as_str().to_owned(), n))
        .collect();
    let ttlb = Percentiles::of(&c.ttlb);
    ClassStats {
        count: c.requests,
        failures: c.errors,
        errors,
        rps: Some(c.requests as f64 / measured_s),
        latency_us: ttlb,
        ttfb_us: Percentiles::of(&c.ttfb),
        ttlb_us: ttlb,
        corrected_us: c.corrected.as_ref().and_then(Percentiles::of),
    }
}

/// Where the Goose reports of a run go.
pub fn goose_report_paths(dir: &Path) -> Vec<PathBuf> {
    vec![dir.join(files::GOOSE_HTML), dir.join(files::GOOSE_JSON)]
}
