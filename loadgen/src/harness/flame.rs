//! The flame graph of a run, rendered here from the collapsed stacks the proxy
//! returned.
//!
//! Rendering locally (rather than asking the proxy for a second profile in SVG) means
//! the proxy is profiled once, for a short time: the folded stacks and the flame graph
//! describe the same samples, and the profiler's own cost touches less of the run.

use std::collections::{HashMap, HashSet};

use crate::rig::error::RigError;

/// Renders collapsed stacks (`frame;frame;frame count` lines) as a flame graph SVG;
/// an empty profile gives an SVG saying so rather than an empty file.
pub fn render_svg(folded: &str, title: &str) -> Result<Vec<u8>, RigError> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    let mut svg = Vec::new();
    if folded.trim().is_empty() {
        svg.extend_from_slice(
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\">\
              <text x=\"10\" y=\"25\">no CPU samples: the proxy was idle</text></svg>\n",
        );
        return Ok(svg);
    }
    inferno::flamegraph::from_lines(&mut options, folded.lines(), &mut svg).map_err(|e| {
        RigError::Io {
            what: "render the flame graph".into(),
            cause: e,
        }
    })?;
    Ok(svg)
}

/// Parses collapsed-stack lines into `(frames without the thread name, count)`.
fn stacks(folded: &str) -> impl Iterator<Item = (Vec<&str>, u64)> {
    folded.lines().filter_map(|line| {
        let (stack, count) = line.rsplit_once(' ')?;
        let count = count.trim().parse::<u64>().ok()?;
        Some((stack.split(';').skip(1).collect(), count))
    })
}

/// Sorts `(frame, samples)` by samples into `(frame, share of total)`, largest first.
fn ranked(counts: HashMap<&str, u64>, total: u64, n: usize) -> Vec<(String, f64)> {
    let mut frames: Vec<(String, f64)> = counts
        .into_iter()
        .map(|(f, c)| (f.to_owned(), c as f64 / total.max(1) as f64))
        .collect();
    frames.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    frames.truncate(n);
    frames
}

/// Where the CPU time itself went: the innermost frame of each sample, as a share of
/// all samples, largest first.
pub fn top_self_frames(folded: &str, n: usize) -> Vec<(String, f64)> {
    let mut total = 0;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (frames, count) in stacks(folded) {
        total += count;
        if let Some(leaf) = frames.last() {
            *counts.entry(leaf).or_default() += count;
        }
    }
    ranked(counts, total, n)
}

/// Which frames containing `needle` (e.g. the proxy's crate name) the CPU time was spent
/// under, callees included, as a share of all samples, largest first.
pub fn top_inclusive_frames(folded: &str, needle: &str, n: usize) -> Vec<(String, f64)> {
    let mut total = 0;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (frames, count) in stacks(folded) {
        total += count;
        let mut seen = HashSet::new();
        for frame in frames.into_iter().filter(|f| f.contains(needle)) {
            if seen.insert(frame) {
                *counts.entry(frame).or_default() += count;
            }
        }
    }
    ranked(counts, total, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str =
        "worker;main;p::serve;parse 30\nworker;main;p::serve;write 60\nworker;main;idle 10\n";

    #[test]
    fn renders_an_svg() {
        let svg = String::from_utf8(render_svg(FOLDED, "t").unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("serve"), "{svg}");
        let empty = String::from_utf8(render_svg("", "t").unwrap()).unwrap();
        assert!(empty.contains("no CPU samples"));
    }

    #[test]
    fn self_and_inclusive_shares() {
        let top = top_self_frames(FOLDED, 2);
        assert_eq!(
            top,
            vec![("write".to_owned(), 0.6), ("parse".to_owned(), 0.3)]
        );
        let proxy = top_inclusive_frames(FOLDED, "p::", 5);
        assert_eq!(proxy, vec![("p::serve".to_owned(), 0.9)]);
        assert!(top_self_frames("garbage\n", 3).is_empty());
    }
}
