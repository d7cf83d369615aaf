//! The browser section of the run report: what a real browser's page load costs through
//! the proxy against straight to the origin (`browser-check --load`). Present only when
//! the run directory holds `browser-load.json`.

use super::doc::Doc;
use crate::rundir::RunDir;

/// Adds the section when the run has browser load results.
pub fn section(doc: &mut Doc, run: &RunDir) {
    let Some(b) = &run.browser else {
        return;
    };
    doc.heading(1, "Browser");
    doc.para(b.context());
    let (header, rows) = b.table();
    doc.table(&header, rows);
    if b.machine.steal_pct >= 5.0 || b.machine.load_avg_end > f64::from(b.machine.cpus) {
        doc.para(
            "The machine was contended while the browsers ran (steal, or more runnable \
             threads than CPUs): the figures carry that noise.",
        );
    }
}
