//! `capacity.json` (`schema_version` 2), `capacity.md`, and per path `NAME/capacity.svg`:
//! p99 latency against achieved throughput, one point per step, the knee marked.
//!
//! The SVG is written by hand (a polyline and labelled axes): one small plot does not
//! justify a plotting dependency in the load generator.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use super::spec::{CapacityProfile, PathDriver};
use super::step::{PathOutcome, StepResult};
use super::wrk::CrossCheck;
use crate::harness::rundir;
use crate::rig::RigError;

/// Version of the `capacity.json` layout: 2 has one climb per path (`paths`) and the
/// `wrk` cross-check; 1 had one climb at the top level.
pub const SCHEMA_VERSION: u64 = 2;

/// The `capacity.json` document.
pub fn document(
    profile: &CapacityProfile,
    paths: &[PathOutcome],
    cross_check: Option<&CrossCheck>,
    held: bool,
    extra: Value,
) -> Value {
    let paths: Vec<Value> = paths
        .iter()
        .map(|p| {
            json!({
                "name": p.path.name,
                "description": p.path.description,
                "driver": p.path.driver,
                "connections": p.path.connections,
                "slo_classes": p.path.slo_classes,
                "step_s": p.path.step(profile.step_duration).as_secs_f64(),
                "warmup_s": p.path.warmup.unwrap_or(super::load::STEP_WARMUP).as_secs_f64(),
                "knee_rps": p.reading.knee_rps,
                "knee_reached": p.steps.iter().any(|s| !s.held()),
                "knee": p.reading,
                "steps": p.steps,
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": concat!("loadgen ", env!("CARGO_PKG_VERSION")),
        "profile": profile.name,
        "description": profile.description,
        "slo": profile.slo,
        "step_s": profile.step_duration.as_secs_f64(),
        "origin_delay_ms": profile.origin_delay_ms,
        "proxy_cores": profile.proxy_cores,
        "paths": paths,
        "cross_check": cross_check,
        "held": held,
        "extra": extra,
    })
}

/// The `capacity.md` text.
pub fn markdown(
    profile: &CapacityProfile,
    paths: &[PathOutcome],
    cross_check: Option<&CrossCheck>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Capacity: {}\n\n{}\n\nSLO: p99 <= {} ms (from the intended send), errors <= {:.2} %, achieved >= {:.0} % of offered. {} s steps unless a path says otherwise.\n",
        profile.name,
        profile.description,
        profile.slo.p99.as_millis(),
        profile.slo.error_budget * 100.0,
        profile.slo.min_achieved * 100.0,
        profile.step_duration.as_secs()
    );
    for p in paths {
        path_section(&mut md, p, profile.step_duration);
    }
    if let Some(c) = cross_check {
        cross_check_section(&mut md, c);
    }
    md
}

fn path_section(md: &mut String, p: &PathOutcome, profile_step: std::time::Duration) {
    let reading = &p.reading;
    let knee = reading.knee_rps;
    let broke = p.steps.iter().any(|s| !s.held());
    let _ = writeln!(
        md,
        "## Path {}\n\n{} ({}, {} {}; {} s steps, the first {} s of each a warm-up left out).\n",
        p.path.name,
        p.path.description,
        match p.path.driver {
            PathDriver::OpenLoop => "open-loop driver",
            PathDriver::Goose => "Goose users, each paced",
        },
        p.path.connections,
        match p.path.driver {
            PathDriver::OpenLoop => "connections",
            PathDriver::Goose => "users",
        },
        p.path.step(profile_step).as_secs(),
        p.path.warmup.unwrap_or(super::load::STEP_WARMUP).as_secs()
    );
    let _ = writeln!(
        md,
        "**Knee: {}**{}\n",
        knee.map_or("none (the first step broke the SLO)".into(), |k| format!(
            "{k:.0} req/s"
        )),
        if broke {
            ""
        } else {
            " (a lower bound: no step broke the SLO)"
        }
    );
    let _ = writeln!(
        md,
        "- Proxy: {}\n- Per proxy core: {}\n- Limited by: {}\n- Load generator at the knee: {} of its {:.0} cores busy\n",
        match (&reading.quota, &reading.quota_note) {
            (Some(q), _) => format!("held to a CPU quota ({q})"),
            (None, Some(note)) => note.clone(),
            (None, None) => format!("no quota, {:.0} cores", reading.proxy_limit_cores),
        },
        reading.rps_per_proxy_core.map_or("-".into(), |r| format!(
            "**{r:.0} req/s** ({})",
            reading.per_core_basis.as_deref().unwrap_or("")
        )),
        reading
            .bottleneck
            .as_ref()
            .map_or("nothing measured: no step broke the SLO".into(), |b| b.describe()),
        reading
            .loadgen_busy_at_knee
            .map_or("-".into(), |b| format!("{b:.2}")),
        reading.loadgen_cpus,
    );
    let _ = writeln!(
        md,
        "| offered | achieved | p50 | p99 (class) | p99 service | errors | proxy CPU µs/req | proxy cores | throttled | proxy RSS | pool timeouts | loadgen cores | of which origin | SLO |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let f = |v: Option<f64>, unit: &str| v.map_or("-".into(), |v| format!("{v:.1}{unit}"));
    let c = |v: Option<f64>| v.map_or("-".into(), |c| format!("{c:.2}"));
    for s in &p.steps {
        let _ =
            writeln!(
            md,
            "| {:.0} | {:.0} | {} | {}{} | {} | {:.2} % | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.offered_rps,
            s.achieved_rps,
            f(s.p50_ms, " ms"),
            f(s.p99_ms, " ms"),
            s.p99_class.as_deref().map_or(String::new(), |c| format!(" ({c})")),
            f(s.p99_service_ms, " ms"),
            s.error_rate * 100.0,
            f(s.cpu_us_per_request, ""),
            c(s.proxy_cores_busy),
            s.throttled_share
                .map_or("-".into(), |t| format!("{:.0} %", t * 100.0)),
            s.proxy_rss_bytes
                .map_or("-".into(), |b| format!("{:.0} MiB", b as f64 / 1048576.0)),
            s.pool_exhausted.map_or("-".into(), |n| n.to_string()),
            c(s.loadgen_cores_busy),
            c(s.origin_cores_busy),
            if s.held() {
                "held".into()
            } else {
                s.broken.join("; ")
            }
        );
    }
    md.push('\n');
}

fn cross_check_section(md: &mut String, c: &CrossCheck) {
    let _ = writeln!(
        md,
        "## Cross-check with wrk\n\n`wrk` and the driver, each closed loop with {} connections for {:.0} s against the same proxy, one after the other, from the same CPUs as the climb's load side ({:.0}, with the origin); both send the path's Zipf draw over its corpus ({} distinct URLs in `wrk`'s replayed sequence, the most frequent `{}`). Both p50s are per request, from the send to the whole answer: `wrk`'s with its coordinated-omission correction undone (what `wrk` itself reports is beside it).\n\n**{}**\n",
        c.connections,
        c.duration_s,
        c.load_cpus,
        c.distinct_urls,
        c.url,
        c.verdict()
    );
    let _ = writeln!(
        md,
        "| side | achieved | p50 | p99 | errors | proxy cores | proxy CPU µs/req | throttled | tool cores | origin cores |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let cpu = |s: Option<super::wrk::SideCpu>| {
        let s = s.unwrap_or_default();
        format!(
            "{} | {} | {} | {} | {}",
            f(s.proxy_cores),
            s.proxy_cpu_us_per_request
                .map_or("-".into(), |v| format!("{v:.1}")),
            s.proxy_throttled_share
                .map_or("-".into(), |t| format!("{:.0} %", t * 100.0)),
            f(s.tool_cores),
            f(s.origin_cores)
        )
    };
    if let Some(w) = c.wrk {
        let _ = writeln!(
            md,
            "| wrk | {:.0} req/s | {:.2} ms (reported, corrected: {:.2} ms) | {:.2} ms (reported: {:.2} ms) | {} | {} |",
            w.rps,
            w.p50_ms,
            w.reported_p50_ms,
            w.p99_ms,
            w.reported_p99_ms,
            w.errors,
            cpu(c.wrk_cpu)
        );
    }
    if let Some(d) = c.driver {
        let _ = writeln!(
            md,
            "| driver (closed loop) | {:.0} req/s | {:.2} ms | - | {} | {} |",
            d.rps,
            d.p50_ms,
            d.failures,
            cpu(c.driver_cpu)
        );
    }
    if !c.reading.is_empty() {
        md.push('\n');
        for line in &c.reading {
            let _ = writeln!(md, "- {line}");
        }
    }
    if let Some(note) = &c.note {
        let _ = writeln!(md, "\nNote: {note}");
    }
}

/// The latency-vs-throughput plot.
pub fn svg(steps: &[StepResult], knee: Option<f64>, slo_p99_ms: f64) -> String {
    let (w, h, m) = (640.0, 400.0, 60.0);
    let points: Vec<(f64, f64)> = steps
        .iter()
        .filter_map(|s| s.p99_ms.map(|p| (s.achieved_rps, p)))
        .collect();
    let max_x = points.iter().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let max_y = points.iter().map(|p| p.1).fold(slo_p99_ms, f64::max) * 1.1;
    let sx = |x: f64| m + x / max_x * (w - 2.0 * m);
    let sy = |y: f64| h - m - y / max_y * (h - 2.0 * m);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<line x1="{m}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{m}" y1="{m}" x2="{m}" y2="{b}" stroke="black"/>"#,
        b = h - m,
        r = w - m
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">achieved req/s (max {:.0})</text><text x="15" y="{}" transform="rotate(-90 15 {})" text-anchor="middle">p99 ms (max {:.0})</text>"#,
        w / 2.0,
        h - 20.0,
        max_x,
        h / 2.0,
        h / 2.0,
        max_y
    );
    let slo_y = sy(slo_p99_ms);
    let _ = writeln!(
        s,
        r#"<line x1="{m}" y1="{slo_y:.1}" x2="{}" y2="{slo_y:.1}" stroke="red" stroke-dasharray="4 4"/><text x="{}" y="{:.1}" fill="red">SLO p99</text>"#,
        w - m,
        w - m - 60.0,
        slo_y - 4.0
    );
    let line: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
        .collect();
    let _ = writeln!(
        s,
        r#"<polyline points="{}" fill="none" stroke="steelblue" stroke-width="2"/>"#,
        line.join(" ")
    );
    for (step, (x, y)) in steps.iter().filter(|s| s.p99_ms.is_some()).zip(&points) {
        let colour = if step.held() { "steelblue" } else { "red" };
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{colour}"><title>offered {:.0}, achieved {:.0}, p99 {:.1} ms</title></circle>"#,
            sx(*x),
            sy(*y),
            step.offered_rps,
            x,
            y
        );
    }
    if let Some(k) = knee {
        let _ = writeln!(
            s,
            r#"<text x="{m}" y="{}">knee {k:.0} req/s offered</text>"#,
            m - 20.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Writes `capacity.json`, `capacity.md` and each path's plot into `dir`.
pub fn write(
    dir: &Path,
    profile: &CapacityProfile,
    paths: &[PathOutcome],
    cross_check: Option<&CrossCheck>,
    held: bool,
    extra: Value,
) -> Result<(), RigError> {
    let doc = document(profile, paths, cross_check, held, extra);
    let text = serde_json::to_vec_pretty(&doc).expect("JSON values always serialise");
    rundir::write_atomic(&dir.join("capacity.json"), &text)?;
    rundir::write_atomic(
        &dir.join("capacity.md"),
        markdown(profile, paths, cross_check).as_bytes(),
    )?;
    let slo_ms = profile.slo.p99.as_secs_f64() * 1000.0;
    for p in paths {
        let plot = svg(&p.steps, p.reading.knee_rps, slo_ms);
        let path_dir = dir.join(&p.path.name);
        std::fs::create_dir_all(&path_dir).map_err(|e| RigError::Io {
            what: format!("create {}", path_dir.display()),
            cause: e,
        })?;
        rundir::write_atomic(&path_dir.join("capacity.svg"), plot.as_bytes())?;
    }
    Ok(())
}
