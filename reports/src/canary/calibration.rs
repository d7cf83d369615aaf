//! `reports/canary-calibration.md`: how often the canary judge is right on this machine,
//! from `make canary CALIBRATE=1` sessions.
//!
//! Sessions are named `GROUP-N` (or `GROUP`): `aa` must pass, `slowed` must not,
//! `candidate` is the release judgement itself. The document counts verdicts per group,
//! then lists every session with its score and the effects that decide it (CPU per
//! request, median and tail latency), so a reader can see how far each verdict was from
//! its line. It names the commit it was measured at.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::CanaryReport;
use crate::ab::calibration::Labelled;

/// Why the document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// A session's report could not be read.
    #[error("session {dir}: {detail}")]
    Session {
        /// The session directory.
        dir: PathBuf,
        /// Why.
        detail: String,
    },
    /// The document could not be written.
    #[error(transparent)]
    Write(#[from] rundir::atomic::WriteError),
}

/// One session as the document shows it.
#[derive(Debug, Clone)]
pub struct Row {
    /// Its name (`aa-3`).
    pub name: String,
    /// Its group (`aa`).
    pub group: String,
    /// pass, hotfix, rollback or "not judged".
    pub verdict: String,
    /// The score, when judged.
    pub score: Option<f64>,
    /// Effects of the deciding metrics (CPU per request, p50 and p99 of every request).
    pub effects: [Option<f64>; 3],
    /// Metrics that did not pass.
    pub flagged: Vec<String>,
}

/// The metrics whose effects each row shows.
pub const SHOWN: [&str; 3] = [
    "cpu_s_per_request",
    "latency_p50_ms.all",
    "latency_p99_ms.all",
];

/// The group of a session name: `aa-3` -> `aa`.
pub fn group_of(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((group, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => group,
        _ => name,
    }
}

/// Reads every session's `judge/canary.json`.
pub fn read(sessions: &[Labelled]) -> Result<Vec<Row>, CalibrationError> {
    sessions
        .iter()
        .map(|s| {
            let path = s.dir.join("judge").join("canary.json");
            let err = |detail: String| CalibrationError::Session {
                dir: s.dir.clone(),
                detail,
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("{}: {e}", path.display())))?;
            let report: CanaryReport =
                serde_json::from_str(&text).map_err(|e| err(format!("{}: {e}", path.display())))?;
            Ok(row(&s.label, &report))
        })
        .collect()
}

fn row(name: &str, report: &CanaryReport) -> Row {
    let effect = |metric: &str| {
        report
            .judgements
            .iter()
            .find(|j| j.metric == metric)
            .and_then(|j| j.effect)
    };
    Row {
        name: name.to_owned(),
        group: group_of(name).to_owned(),
        verdict: report
            .decision
            .as_ref()
            .map_or("not judged".to_owned(), |d| {
                serde_json::to_value(d.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
        score: report.decision.as_ref().map(|d| d.score),
        effects: SHOWN.map(effect),
        // A session not judged says why; a judged one lists what did not pass.
        flagged: match &report.not_comparable {
            Some(why) => vec![why.clone()],
            None => report
                .judgements
                .iter()
                .filter(|j| j.class != super::classify::Class::Pass)
                .map(|j| format!("{} {:?}", j.metric, j.class).to_lowercase())
                .collect(),
        },
    }
}

/// The document's Markdown.
pub fn render(rows: &[Row], commit: &str, notes: &str) -> String {
    let mut md = String::from("# Canary judge calibration\n\n");
    let _ = writeln!(
        md,
        "Measured at commit {commit} with `make canary` (`AA=… SLOW=… CALIBRATE=1 \
         scripts/canary.sh`). {notes}\n"
    );
    md.push_str(
        "Expected: `aa` (the work tree against itself) passes; `slowed` (the self-test \
         knob on the canary) does not; `candidate` (the baseline's commit against the work \
         tree) is the release judgement.\n\n",
    );
    md.push_str("| group | sessions | pass | hotfix | rollback | not judged |\n");
    md.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    let mut groups: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(&r.group).or_default();
        g[0] += 1;
        let i = match r.verdict.as_str() {
            "pass" => 1,
            "hotfix" => 2,
            "rollback" => 3,
            _ => 4,
        };
        g[i] += 1;
    }
    for (group, c) in &groups {
        let _ = writeln!(
            md,
            "| {group} | {} | {} | {} | {} | {} |",
            c[0], c[1], c[2], c[3], c[4]
        );
    }
    md.push_str("\n## Sessions\n\n");
    md.push_str(
        "Effects are the canary's shift against the control, relative to the control's \
         median.\n\n| session | verdict | score | CPU per request | p50 all | p99 all | not passing |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    let pct = |e: Option<f64>| e.map_or("-".to_owned(), |e| format!("{:+.1}%", e * 100.0));
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.verdict,
            r.score.map_or("-".to_owned(), |s| format!("{s:.1}")),
            pct(r.effects[0]),
            pct(r.effects[1]),
            pct(r.effects[2]),
            if r.flagged.is_empty() {
                "-".to_owned()
            } else {
                r.flagged.join(", ")
            }
        );
    }
    md
}

/// Reads the sessions and writes the document atomically.
pub fn write(
    sessions: &[Labelled],
    commit: &str,
    notes: &str,
    out: &Path,
) -> Result<Vec<Row>, CalibrationError> {
    let rows = read(sessions)?;
    rundir::atomic::write_atomic(out, render(&rows, commit, notes).as_bytes())?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_group_by_their_name_before_the_number() {
        assert_eq!(group_of("aa-10"), "aa");
        assert_eq!(group_of("slowed-1"), "slowed");
        assert_eq!(group_of("candidate"), "candidate");
        assert_eq!(group_of("fail-open"), "fail-open");
    }

    #[test]
    fn the_table_counts_verdicts_per_group() {
        let r = |name: &str, verdict: &str| Row {
            name: name.into(),
            group: group_of(name).into(),
            verdict: verdict.into(),
            score: Some(100.0),
            effects: [Some(0.1), None, Some(-0.02)],
            flagged: vec![],
        };
        let md = render(
            &[
                r("aa-1", "pass"),
                r("aa-2", "pass"),
                r("slowed-1", "rollback"),
            ],
            "abc1234",
            "",
        );
        assert!(md.contains("| aa | 2 | 2 | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("| slowed | 1 | 0 | 0 | 1 | 0 |"), "{md}");
        assert!(
            md.contains("| aa-1 | pass | 100.0 | +10.0% | - | -2.0% | - |"),
            "{md}"
        );
        assert!(md.contains("commit abc1234"));
    }
}
