//! The judgement written out: `canary.json` (the [`CanaryReport`] as is) and
//! `canary.md` for people, both atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::classify::Class;
use super::error::CanaryError;
use super::verdict::word;
use super::CanaryReport;

/// Writes `canary.json` and `canary.md` into `dir`; returns their paths.
pub fn write(report: &CanaryReport, dir: &Path) -> Result<[PathBuf; 2], CanaryError> {
    std::fs::create_dir_all(dir).map_err(|source| CanaryError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = dir.join("canary.json");
    let md = dir.join("canary.md");
    let text = serde_json::to_string_pretty(report).expect("the report serialises");
    let page = markdown(report);
    rundir::atomic::write_all_atomic(&[(&json, text.as_bytes()), (&md, page.as_bytes())]).map_err(
        |e| CanaryError::Write {
            path: e.path,
            source: e.cause,
        },
    )?;
    Ok([json, md])
}

/// The Markdown report.
pub fn markdown(r: &CanaryReport) -> String {
    let mut out = String::new();
    let headline = match (&r.decision, &r.not_comparable) {
        (Some(d), _) => format!("**{}** (score {:.1})", word(d.verdict), d.score),
        (None, Some(why)) => format!("**not judged**: {why}"),
        (None, None) => "**not judged**".to_string(),
    };
    let _ = writeln!(out, "# Canary judgement: {headline}\n");
    let _ = writeln!(
        out,
        "Source: {}. {} intervals of {} s.\n",
        r.source, r.intervals, r.interval_s
    );
    if let Some(d) = &r.decision {
        for reason in &d.reasons {
            let _ = writeln!(out, "- {reason}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Traffic\n");
    let _ = writeln!(
        out,
        "| side | instances | intervals | requests | rate/instance | mix |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | --- |");
    for (side, t) in ["control", "canary"].iter().zip(&r.traffic) {
        let mix: Vec<String> = t
            .mix
            .iter()
            .map(|(k, v)| format!("{k} {:.1}%", v * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "| {side} | {} | {} | {:.0} | {:.1}/s | {} |",
            t.instances,
            t.intervals,
            t.requests,
            t.rate_per_instance,
            mix.join(", ")
        );
    }
    if r.judgements.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n## Metrics\n");
    let _ = writeln!(
        out,
        "| metric | class | control median | canary median | shift [98% CI] | effect | p | thresholds | n |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | --- | ---: | ---: | --- | --- |"
    );
    for j in &r.judgements {
        let class = match j.class {
            Class::NoData => "nodata",
            Class::Pass => "pass",
            Class::Hotfix => "hotfix",
            Class::Rollback => "rollback",
        };
        let medians = j
            .medians
            .map_or(["-".to_string(), "-".to_string()], |m| m.map(num));
        let shift = j.shift.map_or("-".to_string(), |s| {
            format!("{} [{}, {}]", num(s.estimate), num(s.low), num(s.high))
        });
        let effect = j.effect.map_or("-".to_string(), |e| match j.rule.kind {
            super::config::Kind::Relative => format!("{:+.1}%", e * 100.0),
            super::config::Kind::Delta => num(e),
        });
        let p = j.p_value.map_or("-".to_string(), |p| format!("{p:.3}"));
        let _ = writeln!(
            out,
            "| {}{} | {class} | {} | {} | {shift} | {effect} | {p} | {:?} {:?} {}/{} | {}/{} |",
            j.metric,
            if j.rule.critical { " (critical)" } else { "" },
            medians[0],
            medians[1],
            j.rule.direction,
            j.rule.kind,
            num(j.rule.hotfix),
            num(j.rule.rollback),
            j.intervals[0],
            j.intervals[1],
        );
    }
    out
}

/// A number in a few significant digits.
fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
    format!("{v:.digits$}")
}
