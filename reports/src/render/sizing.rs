//! The Sizing section of a baseline document ([`crate::sizing`] computes it): the measured
//! inputs with their sources, each bound on students per instance with its arithmetic, and
//! the binding one.

use super::doc::{Block, Doc};
use crate::sizing::Sizing;

/// Appends the section.
pub fn section(doc: &mut Doc, s: &Sizing) {
    doc.heading(1, "Sizing");
    match s.binding() {
        Some(b) => doc.para(format!(
            "**One {} instance holds about {} students, limited by its {}.** Students here are \
             the school-day scenario's simulated users, at their measured request rate; a \
             fleet's own students may browse more or less.",
            s.instance,
            round_down(b.students),
            b.what
        )),
        None => doc.para(format!(
            "Students per {} instance: not computed (inputs missing, listed below).",
            s.instance
        )),
    };
    doc.table(
        &["input", "value", "from"],
        s.inputs
            .iter()
            .map(|i| vec![i.what.to_owned(), i.value.clone(), i.source.clone()])
            .collect(),
    );
    doc.para(
        "Connections per student are what the load generator's clients held open through \
         the proxy: each simulated user's client pools one connection per destination host \
         and keeps it idle for up to 5 s (loadgen/src/scenarios/user.rs), so a browser that \
         shares its proxy connections across hosts holds fewer. The connection cap and the \
         memory bound scale with that figure; the CPU bound does not.",
    );
    if let Some((connections, arithmetic)) = &s.connections_at_budget {
        doc.para(format!(
            "Connections per instance at the memory budget: {connections:.0} = {arithmetic}."
        ));
    }
    if !s.bounds.is_empty() {
        doc.table(
            &["limit", "students", "arithmetic"],
            s.bounds
                .iter()
                .map(|b| {
                    vec![
                        b.what.to_owned(),
                        round_down(b.students),
                        b.arithmetic.clone(),
                    ]
                })
                .collect(),
        );
    }
    let mut notes: Vec<String> = s.caveats.clone();
    if !s.missing.is_empty() {
        notes.push(format!("Not measured: {}.", s.missing.join(", ")));
    }
    if !notes.is_empty() {
        doc.push(Block::List(notes));
    }
}

/// A student count as a whole number, rounded down: an instance holds whole students.
fn round_down(students: f64) -> String {
    format!("{:.0}", students.max(0.0).floor())
}
