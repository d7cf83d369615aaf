//! Completing the load generator's run directory: the harness's sections set in
//! `run.json`, sampled columns joined onto `timeseries.csv`, and small artifact files.
//!
//! The harness adds to what `loadgen attack` wrote, through the one type both write
//! (`rundir::run::RunJson`): it reads the document, sets its own sections and writes it
//! back whole, so every writer keeps to the layout the reports read.

use std::path::Path;

use rundir::run::RunJson;

use super::resources::Tick;
use crate::rig::error::RigError;

/// Columns the harness adds to `timeseries.csv` (named in `rundir::columns`).
pub use rundir::columns::SAMPLED_COLUMNS;

/// Whole files only, also from an interrupted run: the rig's atomic write.
pub use crate::rig::files::write_atomic;

/// Reads `run.json`, lets `update` set the harness's sections and writes it back. With no
/// readable document (the attack has not written one yet, or died writing it) it starts
/// from [`RunJson::begun`] for `profile`, so an interrupted run still leaves a run.json
/// that says so.
pub fn update_run_json(
    path: &Path,
    profile: &str,
    update: impl FnOnce(&mut RunJson),
) -> Result<(), RigError> {
    let mut run = RunJson::load(path).unwrap_or_else(|_| RunJson::begun(profile));
    update(&mut run);
    write_atomic(path, run.to_pretty_json().as_bytes())
}

/// The tick nearest to `t` seconds, if one lies within 0.6 s of it.
fn tick_near(ticks: &[Tick], t: f64) -> Option<&Tick> {
    ticks
        .iter()
        .filter(|k| (k.t_s - t).abs() <= 0.6)
        .min_by(|a, b| (a.t_s - t).abs().total_cmp(&(b.t_s - t).abs()))
}

/// The sampled cells for second `s` (the interval `[s, s + 1)`), empty where unknown.
pub fn sampled_cells(ticks: &[Tick], s: u64) -> [String; 16] {
    let start = tick_near(ticks, s as f64);
    let end = tick_near(ticks, s as f64 + 1.0);
    let proxy_end = end.and_then(|t| t.proxy);
    let delta = |f: fn(&Tick) -> Option<u64>| -> String {
        match (start.and_then(f), end.and_then(f)) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => String::new(),
        }
    };
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let gauge = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_default();
    let g = end.map(|t| t.gauges).unwrap_or_default();
    [
        delta(|t| t.proxy.map(|p| p.cpu_user_ms)),
        delta(|t| t.proxy.map(|p| p.cpu_sys_ms)),
        opt(proxy_end.map(|p| p.rss_bytes)),
        opt(proxy_end.map(|p| p.threads)),
        opt(proxy_end.map(|p| p.fds)),
        gauge(g.client_connections),
        gauge(g.pool_in_use),
        gauge(g.pool_waiters),
        gauge(g.pool_exhausted_total),
        delta(|t| t.loadgen_cpu_ms),
        opt(end.and_then(|t| t.alloc).map(|a| a.resident)),
        opt(end.and_then(|t| t.alloc).map(|a| a.retained)),
        delta(|t| t.host.map(|h| h.busy_ms)),
        delta(|t| t.host.map(|h| h.iowait_ms)),
        delta(|t| t.host.map(|h| h.steal_ms)),
        delta(|t| t.host.and_then(|h| h.cpu_pressure_ms)),
    ]
}

/// Joins the sampled columns onto `timeseries.csv`. Rows are matched by their first
/// column (the second of the run); without a readable file, one is written with a
/// `second` column and the sampled ones.
pub fn merge_timeseries(path: &Path, ticks: &[Tick]) -> Result<(), RigError> {
    let existing = std::fs::read(path).ok();
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| RigError::Io {
        what: format!("timeseries {}", path.display()),
        cause: std::io::Error::other(e),
    };
    let parsed = existing.and_then(|bytes| {
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers = reader.headers().ok()?.clone();
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().ok()?;
        Some((headers, rows))
    });
    match parsed {
        Some((headers, rows)) if !headers.is_empty() => {
            let keep: Vec<usize> = (0..headers.len())
                .filter(|&i| !SAMPLED_COLUMNS.contains(&&headers[i]))
                .collect();
            let mut head: Vec<&str> = keep.iter().map(|&i| &headers[i]).collect();
            head.extend(SAMPLED_COLUMNS);
            out.write_record(&head).map_err(csv_err)?;
            for (n, row) in rows.iter().enumerate() {
                let second = row
                    .get(0)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|v| v.floor() as u64)
                    .unwrap_or(n as u64);
                let mut record: Vec<String> = keep
                    .iter()
                    .map(|&i| row.get(i).unwrap_or("").to_owned())
                    .collect();
                record.extend(sampled_cells(ticks, second));
                out.write_record(&record).map_err(csv_err)?;
            }
        }
        _ => {
            let mut head = vec!["second"];
            head.extend(SAMPLED_COLUMNS);
            out.write_record(&head).map_err(csv_err)?;
            let last = ticks.last().map(|t| t.t_s.floor() as u64).unwrap_or(0);
            for s in 0..last {
                let mut record = vec![s.to_string()];
                record.extend(sampled_cells(ticks, s));
                out.write_record(&record).map_err(csv_err)?;
            }
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| csv_err(csv::Error::from(e.into_error())))?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::host::HostCpu;
    use crate::harness::resources::AllocGauges;
    use crate::rig::sample::ProcSample;

    fn ticks() -> Vec<Tick> {
        (0..=3)
            .map(|s| Tick {
                t_s: s as f64 + 0.02,
                proxy: Some(ProcSample {
                    cpu_user_ms: 30 * s,
                    cpu_sys_ms: 10 * s,
                    rss_bytes: 1000 + s,
                    hwm_bytes: 2000,
                    threads: 5,
                    fds: 9,
                }),
                loadgen_cpu_ms: Some(500 * s),
                gauges: Default::default(),
                alloc: (s < 3).then_some(AllocGauges {
                    resident: 4000 + s,
                    retained: 8000,
                }),
                host: Some(HostCpu {
                    busy_ms: 1000 * s,
                    iowait_ms: 0,
                    steal_ms: 5 * s,
                    cpu_pressure_ms: (s < 2).then_some(100 * s),
                }),
            })
            .collect()
    }

    #[test]
    fn joins_columns_by_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeseries.csv");
        std::fs::write(&path, "second,requests\n0,10\n1,20\n2,30\n5,1\n").unwrap();
        merge_timeseries(&path, &ticks()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("second,requests,{}", SAMPLED_COLUMNS.join(","))
        );
        assert_eq!(lines[2], "1,20,30,10,1002,5,9,,,,,500,4002,8000,1000,0,5,");
        assert_eq!(lines[3], "2,30,30,10,1003,5,9,,,,,500,,,1000,0,5,");
        assert_eq!(lines[4], "5,1,,,,,,,,,,,,,,,,");
        // Merging twice replaces the columns instead of duplicating them.
        merge_timeseries(&path, &ticks()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn writes_a_fresh_file_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("timeseries.csv");
        merge_timeseries(&path, &ticks()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.starts_with("second,proxy_cpu_user_ms,"));
    }

    #[test]
    fn run_json_is_updated_in_the_current_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        update_run_json(&path, "ci", |r| r.load_generator_saturated = Some(true)).unwrap();
        let begun = RunJson::load(&path).unwrap();
        assert_eq!(
            (begun.profile.name.as_str(), begun.complete),
            ("ci", Some(false))
        );
        std::fs::write(
            &path,
            r#"{"schema_version":1,"profile":"ci","complete":true,"provenance":{"commit":"abc"}}"#,
        )
        .unwrap();
        update_run_json(&path, "ci", |r| r.complete = Some(false)).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["schema_version"], rundir::run::RUN_SCHEMA_VERSION);
        assert_eq!(doc["complete"], false);
        assert_eq!(doc["provenance"]["git_commit"], "abc", "written as read");
    }
}
