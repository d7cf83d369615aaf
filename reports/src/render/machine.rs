//! The "Machine during the run" section of the run report: how busy the whole machine
//! was, what else ran, and whether the slowest seconds were seconds in which the machine
//! itself was contended. Present only for runs with the harness's `host_*` columns.

use super::doc::Doc;
use super::tables::{opt, NOT_MEASURED};
use crate::machine::{self, Second, CONTENDED_PRESSURE_MS, CONTENDED_STEAL_MS};
use crate::rundir::RunDir;

fn cores(v: Option<f64>) -> String {
    v.map_or_else(|| NOT_MEASURED.to_owned(), |c| format!("{c:.2}"))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v:.0}"))
}

fn row(s: &Second) -> Vec<String> {
    vec![
        format!("{:.0}", s.second),
        super::tables::opt_us(s.worst_p99_us),
        format!("{:.0}", s.host_busy_ms),
        ms(s.proxy_ms),
        ms(s.loadgen_ms),
        ms(s.others_ms),
        ms(s.pressure_ms),
        ms(s.steal_ms),
        if s.contended() { "yes" } else { "no" }.to_owned(),
    ]
}

/// Adds the section when the run recorded the machine's counters.
pub fn section(doc: &mut Doc, run: &RunDir) {
    let Some(ts) = &run.timeseries else {
        return;
    };
    let Some(m) = machine::summarise(ts, run.run.steady_window) else {
        return;
    };
    let machine_cores = run
        .run
        .provenance
        .as_ref()
        .and_then(|p| p.cores)
        .map_or_else(String::new, |c| format!(" of {c}"));
    doc.heading(1, "Machine during the run");
    doc.para(format!(
        "Over {} seconds of the steady window the machine was busy {}{machine_cores} cores on \
         average: the proxy {}, the load generator {}, everything else (origin, Redis and \
         any other process) {}. Some runnable task waited for a CPU {} of the time; steal \
         averaged {} ms per second.",
        m.seconds,
        cores(Some(m.busy_cores)),
        cores(m.proxy_cores),
        cores(m.loadgen_cores),
        cores(m.others_cores),
        m.pressure_share
            .map_or_else(|| NOT_MEASURED.to_owned(), |p| format!("{:.0}%", p * 100.0)),
        opt(m.steal_ms_per_s),
    ));
    let slow_contended = m.slowest.iter().filter(|s| s.contended()).count();
    doc.para(format!(
        "{} of {} seconds were contended (a task waited for a CPU at least {:.0} ms of the \
         second, or steal reached {:.0} ms). {slow_contended} of the {} slowest seconds were: \
         a tail that sits in contended seconds says more about the machine than about the \
         proxy.",
        m.contended_seconds,
        m.seconds,
        CONTENDED_PRESSURE_MS,
        CONTENDED_STEAL_MS,
        m.slowest.len(),
    ));
    if !m.slowest.is_empty() {
        doc.table(
            &[
                "second",
                "worst class p99",
                "machine busy ms",
                "proxy ms",
                "load generator ms",
                "others ms",
                "CPU wait ms",
                "steal ms",
                "contended",
            ],
            m.slowest.iter().map(row).collect(),
        );
    }
}
