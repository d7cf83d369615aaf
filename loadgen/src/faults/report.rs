//! `faults.json` (for machines, `schema_version` 1) and `faults.md` (for the people
//! reading a failed run): per fault its window, errors by kind inside and outside it,
//! the worst wait, the recovery time and every expectation with what was observed.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{json, Value};

use super::verdict::FaultResult;
use super::watch::Tick;
use crate::harness::rundir;
use crate::rig::RigError;

/// Version of the `faults.json` layout.
pub const SCHEMA_VERSION: u64 = 1;

/// Run-level facts written beside the per-fault results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunFacts {
    /// Fault profile name.
    pub profile: String,
    /// Its description.
    pub description: String,
    /// UTC start, RFC 3339.
    pub started_at: String,
    /// Traffic length, s.
    pub duration_s: f64,
    /// Offered rate, requests/s.
    pub offered_rps: f64,
    /// Connections of the traffic.
    pub connections: u64,
    /// Requests sent.
    pub requests: u64,
    /// Scheduled requests never sent (all connections busy).
    pub unsent: u64,
    /// Whether the proxy process lived through the run.
    pub proxy_survived: bool,
    /// Whether the proxy used the Redis store.
    pub redis: bool,
}

/// The `faults.json` document.
pub fn document(facts: &RunFacts, results: &[FaultResult], held: bool, ticks: &[Tick]) -> Value {
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": concat!("loadgen ", env!("CARGO_PKG_VERSION")),
        "verdict": if held { "held" } else { "failed" },
        "held": held,
        "run": facts,
        "faults": results,
        "ticks": ticks,
    })
}

/// The `faults.md` text.
pub fn markdown(facts: &RunFacts, results: &[FaultResult], held: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Faults: {} — {}\n\n{}\n\n{} requests at {:.0} req/s offered over {:.0} s ({} connections, {} unsent); proxy survived: {}.\n",
        facts.profile,
        if held { "HELD" } else { "FAILED" },
        facts.description,
        facts.requests,
        facts.offered_rps,
        facts.duration_s,
        facts.connections,
        facts.unsent,
        facts.proxy_survived
    );
    let _ = writeln!(
        md,
        "| fault | window (s) | requests in / errors in | errors out | worst wait | p99 in | recovery | verdict |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    let errs = |m: &std::collections::BTreeMap<&str, u64>| {
        if m.is_empty() {
            "0".to_owned()
        } else {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    for r in results {
        let _ = writeln!(
            md,
            "| {} | {:.1}–{:.1} | {} / {} | {} of {} | {} | {} | {} | {} |",
            r.fault.kind.name(),
            r.window_start_s,
            r.window_end_s,
            r.inside.requests,
            errs(&r.inside.errors),
            errs(&r.outside.errors),
            r.outside.requests,
            r.worst_wait_ms.map_or("-".into(), |v| format!("{v:.1} ms")),
            r.p99_inside_ms.map_or("-".into(), |v| format!("{v:.1} ms")),
            r.recovery_s.map_or("never".into(), |v| format!("{v:.2} s")),
            if r.held { "held" } else { "FAILED" }
        );
    }
    for r in results {
        let _ = writeln!(
            md,
            "\n## {} ({:.1}–{:.1} s)\n",
            r.fault.kind.name(),
            r.window_start_s,
            r.window_end_s
        );
        let mut details = Vec::new();
        if let Some(b) = r.breaker_closed_after_s {
            details.push(format!("breaker closed {b:.2} s after the end"));
        }
        if let (Some(b), Some(a)) = (r.fds_before, r.fds_after_min) {
            details.push(format!("proxy fds {b} before, {a} lowest after"));
        }
        if let Some(sc) = &r.slow_clients {
            details.push(format!(
                "slow clients: {} opened, {} cut (slowest {}), {} still open",
                sc.opened,
                sc.cut,
                sc.max_cut_ms.map_or("-".into(), |m| format!("{m} ms")),
                sc.still_open
            ));
        }
        if !details.is_empty() {
            let _ = writeln!(md, "{}.\n", details.join("; "));
        }
        for c in &r.checks {
            let _ = writeln!(
                md,
                "- {} `{}`: expected {}, observed {}",
                if c.held { "✓" } else { "✗" },
                c.name,
                c.expected,
                c.observed
            );
        }
    }
    md
}

/// Writes both files into `dir`.
pub fn write(
    dir: &Path,
    facts: &RunFacts,
    results: &[FaultResult],
    held: bool,
    ticks: &[Tick],
) -> Result<(), RigError> {
    let doc = document(facts, results, held, ticks);
    let text = serde_json::to_vec_pretty(&doc).expect("JSON values always serialise");
    rundir::write_atomic(&dir.join("faults.json"), &text)?;
    rundir::write_atomic(
        &dir.join("faults.md"),
        markdown(facts, results, held).as_bytes(),
    )
}
