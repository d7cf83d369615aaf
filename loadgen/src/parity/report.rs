//! Comparing the two filters' decisions and writing them up: the outcome-pair table,
//! each side's own noise, mismatches per cause class with examples, and the replay rate.
//!
//! Noise first, as Diffy does: every side runs the corpus twice, and an entry on which
//! either side disagrees with itself is reported as noise, never as a finding. A
//! mismatch is explained when its class is one the caller names as a known difference;
//! the verdict fails when unexplained mismatches exceed the threshold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::classify::{Decision, Outcome};
use super::corpus::{Class, Entry};

/// Version of `parity.json`.
pub const SCHEMA_VERSION: u32 = 1;
/// Examples kept per class.
const EXAMPLES_PER_CLASS: usize = 8;

/// One side's two passes.
#[derive(Debug, Clone)]
pub struct SideRuns {
    /// Its name in the report (`e2guardian`, `filter-proxy`).
    pub name: String,
    /// Decisions of pass 1 and pass 2, in corpus order.
    pub passes: [Vec<Decision>; 2],
    /// Wall time of each pass.
    pub elapsed: [Duration; 2],
    /// Entries left unsent by each pass's deadline.
    pub not_sent: [usize; 2],
}

/// Count of one (reference, candidate) outcome pair.
#[derive(Debug, Clone, Serialize)]
pub struct PairCount {
    /// The reference's outcome.
    pub reference: Outcome,
    /// The candidate's outcome.
    pub candidate: Outcome,
    /// Entries with this pair (stable on both sides).
    pub count: usize,
}

/// A mismatching (or unstable) entry shown in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    /// `GET` or `CONNECT`.
    pub method: &'static str,
    /// The target as sent.
    pub target: String,
    /// The variation.
    pub detail: String,
    /// The database rule it came from.
    pub rule: String,
    /// The reference's decision (pass 1).
    pub reference: Decision,
    /// The candidate's decision (pass 1).
    pub candidate: Decision,
}

/// Entries and mismatches of one variation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DetailCount {
    /// Entries of the variation (stable on both sides).
    pub entries: usize,
    /// Mismatches among them.
    pub mismatches: usize,
    /// The reference blocked, the candidate allowed.
    pub reference_blocks: usize,
    /// The candidate blocked, the reference allowed.
    pub candidate_blocks: usize,
    /// One side gave an error.
    pub errors: usize,
}

/// Everything about one cause class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    /// The class.
    pub class: String,
    /// Whether its mismatches are a known difference (explained).
    pub known: bool,
    /// Totals over its variations.
    pub total: DetailCount,
    /// Per variation.
    pub details: BTreeMap<String, DetailCount>,
    /// Mismatching entries, a few per variation.
    pub examples: Vec<Example>,
}

/// Replay rate of one side.
#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    /// The side.
    pub side: String,
    /// URLs per second of each pass.
    pub urls_per_s: [f64; 2],
    /// Seconds of each pass.
    pub seconds: [f64; 2],
}

/// The comparison, as written to `parity.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Format version.
    pub schema_version: u32,
    /// Name of the reference side.
    pub reference: String,
    /// Name of the candidate side.
    pub candidate: String,
    /// Corpus entries.
    pub entries: usize,
    /// Outcome pairs of the entries stable on both sides.
    pub pairs: Vec<PairCount>,
    /// Entries on which the reference disagreed with itself.
    pub reference_unstable: usize,
    /// Entries on which the candidate disagreed with itself.
    pub candidate_unstable: usize,
    /// Some unstable entries.
    pub noise_examples: Vec<Example>,
    /// Stable mismatches.
    pub mismatches: usize,
    /// Mismatches in classes not named as known differences.
    pub unexplained: usize,
    /// Most unexplained mismatches allowed.
    pub max_unexplained: usize,
    /// Both sides blocked, naming different categories (not a mismatch; shown).
    pub category_differences: usize,
    /// Per class, in report order.
    pub classes: Vec<ClassReport>,
    /// Replay rate per side.
    pub rates: Vec<Rate>,
    /// The whole corpus through both sides (both passes), URLs per second of wall time.
    pub both_sides_urls_per_s: f64,
    /// Entries not sent before a pass deadline (any side, any pass).
    pub not_sent: usize,
    /// Unexplained mismatches within the threshold and every entry sent.
    pub pass: bool,
}

fn example(entry: &Entry, reference: &Decision, candidate: &Decision) -> Example {
    Example {
        method: entry.method.name(),
        target: entry.target.clone(),
        detail: entry.detail.clone(),
        rule: entry.rule.clone(),
        reference: reference.clone(),
        candidate: candidate.clone(),
    }
}

fn rate(side: &SideRuns, entries: usize) -> Rate {
    let secs = side.elapsed.map(|d| d.as_secs_f64());
    Rate {
        side: side.name.clone(),
        urls_per_s: secs.map(|s| if s > 0.0 { entries as f64 / s } else { 0.0 }),
        seconds: secs,
    }
}

/// Compares the sides' decisions on `entries`.
pub fn summarise(
    entries: &[Entry],
    reference: &SideRuns,
    candidate: &SideRuns,
    known: &BTreeSet<Class>,
    max_unexplained: usize,
) -> Summary {
    let mut pairs: BTreeMap<(Outcome, Outcome), usize> = BTreeMap::new();
    let mut classes: BTreeMap<Class, ClassReport> = BTreeMap::new();
    let (mut ref_unstable, mut cand_unstable) = (0, 0);
    let mut noise_examples = Vec::new();
    let (mut mismatches, mut unexplained, mut category_differences) = (0, 0, 0);
    for (i, entry) in entries.iter().enumerate() {
        let r = [&reference.passes[0][i], &reference.passes[1][i]];
        let c = [&candidate.passes[0][i], &candidate.passes[1][i]];
        let r_stable = r[0].outcome == r[1].outcome;
        let c_stable = c[0].outcome == c[1].outcome;
        ref_unstable += usize::from(!r_stable);
        cand_unstable += usize::from(!c_stable);
        if !(r_stable && c_stable) {
            if noise_examples.len() < EXAMPLES_PER_CLASS {
                noise_examples.push(example(entry, r[0], c[0]));
            }
            continue;
        }
        let (ro, co) = (r[0].outcome, c[0].outcome);
        *pairs.entry((ro, co)).or_default() += 1;
        let report = classes.entry(entry.class).or_insert_with(|| ClassReport {
            class: entry.class.name().to_owned(),
            known: known.contains(&entry.class),
            total: DetailCount::default(),
            details: BTreeMap::new(),
            examples: Vec::new(),
        });
        let mismatch = ro != co;
        let both_blocked_differently = ro == Outcome::Blocked
            && co == Outcome::Blocked
            && !r[0].category.is_empty()
            && !c[0].category.is_empty()
            && r[0].category != c[0].category;
        category_differences += usize::from(both_blocked_differently);
        let detail = report.details.entry(entry.detail.clone()).or_default();
        for count in [&mut report.total, detail] {
            count.entries += 1;
            if mismatch {
                count.mismatches += 1;
                match (ro, co) {
                    (Outcome::Blocked, Outcome::Allowed) => count.reference_blocks += 1,
                    (Outcome::Allowed, Outcome::Blocked) => count.candidate_blocks += 1,
                    _ => count.errors += 1,
                }
            }
        }
        if mismatch {
            mismatches += 1;
            unexplained += usize::from(!report.known);
            // A few examples of each variation, so every variation that differs shows.
            let shown = report
                .examples
                .iter()
                .filter(|e| e.detail == entry.detail)
                .count();
            if shown < 2 && report.examples.len() < EXAMPLES_PER_CLASS * 2 {
                report.examples.push(example(entry, r[0], c[0]));
            }
        }
    }
    let not_sent: usize = reference.not_sent.iter().chain(&candidate.not_sent).sum();
    let wall: f64 = reference
        .elapsed
        .iter()
        .chain(&candidate.elapsed)
        .map(Duration::as_secs_f64)
        .sum();
    let both = if wall > 0.0 {
        (entries.len() * 4) as f64 / wall
    } else {
        0.0
    };
    Summary {
        schema_version: SCHEMA_VERSION,
        reference: reference.name.clone(),
        candidate: candidate.name.clone(),
        entries: entries.len(),
        pairs: pairs
            .into_iter()
            .map(|((reference, candidate), count)| PairCount {
                reference,
                candidate,
                count,
            })
            .collect(),
        reference_unstable: ref_unstable,
        candidate_unstable: cand_unstable,
        noise_examples,
        mismatches,
        unexplained,
        max_unexplained,
        category_differences,
        classes: classes.into_values().collect(),
        rates: vec![
            rate(reference, entries.len()),
            rate(candidate, entries.len()),
        ],
        both_sides_urls_per_s: both,
        not_sent,
        pass: unexplained <= max_unexplained && not_sent == 0,
    }
}

fn decision_text(d: &Decision) -> String {
    let mut s = d.outcome.name().to_owned();
    if let Some(status) = d.status {
        let _ = write!(s, " {status}");
    }
    if !d.category.is_empty() {
        let _ = write!(s, " [{}]", d.category);
    }
    if !d.reason.is_empty() {
        let _ = write!(s, " {}", d.reason);
    }
    s.replace('|', "\\|")
}

/// The report as Markdown.
pub fn markdown(s: &Summary) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Decision parity: {} (reference) vs {} (candidate)\n",
        s.reference, s.candidate
    );
    let verdict = if s.pass { "PASS" } else { "FAIL" };
    let _ = writeln!(
        m,
        "**{verdict}**: {} entries, {} stable mismatches, {} unexplained (threshold {}), \
         {} entries unsent; noise: {} unstable on the reference, {} on the candidate.\n",
        s.entries,
        s.mismatches,
        s.unexplained,
        s.max_unexplained,
        s.not_sent,
        s.reference_unstable,
        s.candidate_unstable
    );
    let _ = writeln!(m, "## Outcomes (reference / candidate, stable entries)\n");
    let _ = writeln!(
        m,
        "| reference | candidate | entries |\n| --- | --- | ---: |"
    );
    for p in &s.pairs {
        let _ = writeln!(
            m,
            "| {} | {} | {} |",
            p.reference.name(),
            p.candidate.name(),
            p.count
        );
    }
    let _ = writeln!(
        m,
        "\nBoth blocked under different category names: {}.\n",
        s.category_differences
    );
    let _ = writeln!(m, "## Mismatches by cause class\n");
    let _ = writeln!(
        m,
        "| class | known | entries | mismatches | reference blocks only | candidate blocks only | with an error |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    for c in &s.classes {
        let t = &c.total;
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.class,
            if c.known { "yes" } else { "no" },
            t.entries,
            t.mismatches,
            t.reference_blocks,
            t.candidate_blocks,
            t.errors
        );
    }
    for c in s.classes.iter().filter(|c| c.total.mismatches > 0) {
        let _ = writeln!(m, "\n### {}\n", c.class);
        let _ = writeln!(m, "| variation | entries | mismatches | reference blocks only | candidate blocks only | with an error |\n| --- | ---: | ---: | ---: | ---: | ---: |");
        for (name, d) in &c.details {
            let _ = writeln!(
                m,
                "| {name} | {} | {} | {} | {} | {} |",
                d.entries, d.mismatches, d.reference_blocks, d.candidate_blocks, d.errors
            );
        }
        let _ = writeln!(m, "\n| method | target | variation | rule | reference | candidate |\n| --- | --- | --- | --- | --- | --- |");
        for e in &c.examples {
            let _ = writeln!(
                m,
                "| {} | `{}` | {} | `{}` | {} | {} |",
                e.method,
                e.target,
                e.detail,
                e.rule,
                decision_text(&e.reference),
                decision_text(&e.candidate)
            );
        }
    }
    if !s.noise_examples.is_empty() {
        let _ = writeln!(
            m,
            "\n## Noise (a side disagreed with itself; not findings)\n"
        );
        let _ = writeln!(m, "| method | target | reference (pass 1) | candidate (pass 1) |\n| --- | --- | --- | --- |");
        for e in &s.noise_examples {
            let _ = writeln!(
                m,
                "| {} | `{}` | {} | {} |",
                e.method,
                e.target,
                decision_text(&e.reference),
                decision_text(&e.candidate)
            );
        }
    }
    let _ = writeln!(m, "\n## Replay rate\n");
    let _ = writeln!(
        m,
        "| side | pass 1 URLs/s | pass 2 URLs/s | seconds |\n| --- | ---: | ---: | ---: |"
    );
    for r in &s.rates {
        let _ = writeln!(
            m,
            "| {} | {:.0} | {:.0} | {:.1} + {:.1} |",
            r.side, r.urls_per_s[0], r.urls_per_s[1], r.seconds[0], r.seconds[1]
        );
    }
    let _ = writeln!(
        m,
        "\nThe corpus through both sides, twice each: {:.0} URLs/s of wall time.",
        s.both_sides_urls_per_s
    );
    m
}

/// One line per entry: class, variation, target and both sides' decisions of both passes.
pub fn results_tsv(entries: &[Entry], reference: &SideRuns, candidate: &SideRuns) -> String {
    let mut out = String::from(
        "class\tmethod\ttarget\tdetail\trule\treference_1\treference_2\tcandidate_1\tcandidate_2\n",
    );
    let cell = |d: &Decision| decision_text(d).replace(['\t', '\n'], " ");
    for (i, e) in entries.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            e.class,
            e.method.name(),
            e.target,
            e.detail,
            e.rule,
            cell(&reference.passes[0][i]),
            cell(&reference.passes[1][i]),
            cell(&candidate.passes[0][i]),
            cell(&candidate.passes[1][i])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parity::corpus::Method;

    fn d(outcome: Outcome, category: &str) -> Decision {
        Decision {
            outcome,
            status: Some(200),
            category: category.into(),
            reason: String::new(),
        }
    }

    fn e(class: Class, detail: &str) -> Entry {
        Entry {
            class,
            method: Method::Get,
            target: format!("http://{detail}.test/"),
            rule: "-".into(),
            detail: detail.into(),
        }
    }

    fn side(name: &str, p1: Vec<Decision>, p2: Vec<Decision>) -> SideRuns {
        SideRuns {
            name: name.into(),
            passes: [p1, p2],
            elapsed: [Duration::from_secs(1), Duration::from_secs(1)],
            not_sent: [0, 0],
        }
    }

    #[test]
    fn noise_is_set_apart_and_mismatches_are_grouped_by_class() {
        use Outcome::*;
        let entries = vec![
            e(Class::Exact, "hit"),
            e(Class::PathBoundary, "equals"),
            e(Class::PathBoundary, "equals"),
            e(Class::PercentEncoding, "encoded-slash-after"),
            e(Class::Case, "host-upper"),
            e(Class::Exact, "miss"),
        ];
        let r1 = vec![
            d(Blocked, "games"),
            d(Blocked, ""),
            d(Blocked, ""),
            d(Blocked, ""),
            d(Allowed, ""),
            d(Allowed, ""),
        ];
        let mut r2 = r1.clone();
        r2[4] = d(Error, ""); // the reference flickers on entry 4: noise
        let c1 = vec![
            d(Blocked, "adult"),
            d(Allowed, ""),
            d(Allowed, ""),
            d(Allowed, ""),
            d(Blocked, ""),
            d(Allowed, ""),
        ];
        let known: BTreeSet<Class> = [Class::PathBoundary].into();
        let s = summarise(
            &entries,
            &side("ref", r1, r2),
            &side("cand", c1.clone(), c1),
            &known,
            0,
        );
        assert_eq!(s.reference_unstable, 1);
        assert_eq!(s.candidate_unstable, 0);
        assert_eq!(s.mismatches, 3);
        assert_eq!(
            s.unexplained, 1,
            "only the percent-encoding mismatch is unexplained"
        );
        assert!(!s.pass);
        assert_eq!(s.category_differences, 1);
        let pair = |r, c| {
            s.pairs
                .iter()
                .find(|p| p.reference == r && p.candidate == c)
                .map_or(0, |p| p.count)
        };
        assert_eq!(pair(Blocked, Allowed), 3);
        assert_eq!(pair(Blocked, Blocked), 1);
        assert_eq!(pair(Allowed, Allowed), 1);
        let boundary = s
            .classes
            .iter()
            .find(|c| c.class == "path-boundary")
            .unwrap();
        assert!(boundary.known);
        assert_eq!(
            (boundary.total.entries, boundary.total.reference_blocks),
            (2, 2)
        );
        assert_eq!(boundary.details["equals"].mismatches, 2);
        assert_eq!(boundary.examples.len(), 2);
        assert!(
            s.classes.iter().all(|c| c.class != "case"),
            "the unstable entry is only noise"
        );
        let md = markdown(&s);
        assert!(
            md.contains("**FAIL**") && md.contains("### percent-encoding"),
            "{md}"
        );
        assert!(md.contains("| blocked | allowed | 3 |"), "{md}");
        // With the class known too, the verdict passes; a higher threshold does as well.
        let all: BTreeSet<Class> = [Class::PathBoundary, Class::PercentEncoding].into();
        let r1 = side("r", vec![d(Blocked, ""); 6], vec![d(Blocked, ""); 6]);
        let c = side("c", vec![d(Allowed, ""); 6], vec![d(Allowed, ""); 6]);
        assert!(!summarise(&entries, &r1, &c, &all, 0).pass);
        assert!(summarise(&entries, &r1, &c, &all, 6).pass);
        let tsv = results_tsv(&entries, &r1, &c);
        assert_eq!(tsv.lines().count(), 7);
    }

    #[test]
    fn unsent_entries_fail_the_verdict() {
        let entries = vec![e(Class::Exact, "a")];
        let mut r = side(
            "r",
            vec![d(Outcome::Allowed, "")],
            vec![d(Outcome::Allowed, "")],
        );
        let c = r.clone();
        r.not_sent = [1, 0];
        let s = summarise(&entries, &r, &c, &BTreeSet::new(), 0);
        assert!(!s.pass && s.not_sent == 1);
    }
}
