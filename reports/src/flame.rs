//! CPU profiles as collapsed stacks: the top frames table (self and total time) and the
//! differential flame graph of baseline vs current (what got hotter is red).

use crate::error::{ReportError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One frame's share of the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Function name as it appears in the stacks.
    pub name: String,
    /// Samples where the frame is the leaf (on CPU itself).
    pub self_samples: u64,
    /// Samples where the frame is anywhere on the stack.
    pub total_samples: u64,
    /// `self_samples` as a fraction of all samples.
    pub self_fraction: f64,
    /// `total_samples` as a fraction of all samples.
    pub total_fraction: f64,
}

/// Parses collapsed stacks (`a;b;c 42` per line) into `(frames, count)`; malformed lines
/// are skipped, as the flame graph tools do.
pub fn parse_folded(folded: &str) -> Vec<(Vec<&str>, u64)> {
    folded
        .lines()
        .filter_map(|line| {
            let (stack, count) = line.trim_end().rsplit_once(' ')?;
            let count = count.parse::<u64>().ok()?;
            Some((stack.split(';').collect(), count))
        })
        .collect()
}

/// A frame at least this share of samples pass through, with under 1% of its own, is
/// scaffolding (`main`, the runtime's `block_on` and task polling, a thread's start):
/// first in any ranking by total time, and telling nothing. A proxy's own work splits
/// into request classes well below this share.
pub const SCAFFOLDING_TOTAL: f64 = 0.8;

impl Frame {
    /// Whether nearly every sample passes through this frame and almost none stop in it.
    pub fn is_scaffolding(&self) -> bool {
        self.total_fraction >= SCAFFOLDING_TOTAL && self.self_fraction < 0.01
    }
}

/// Frames ranked by self samples (`by_total` false) or total samples, at most `limit`.
/// The ranking by total leaves scaffolding out (see [`scaffolding`]).
pub fn top_frames(folded: &str, limit: usize, by_total: bool) -> Vec<Frame> {
    let mut frames = all_frames(folded, by_total);
    if by_total {
        frames.retain(|f| !f.is_scaffolding());
    } else {
        frames.retain(|f| f.self_samples > 0);
    }
    frames.truncate(limit);
    frames
}

/// The scaffolding frames a ranking by total leaves out, outermost first.
pub fn scaffolding(folded: &str) -> Vec<Frame> {
    let mut frames = all_frames(folded, true);
    frames.retain(Frame::is_scaffolding);
    frames
}

fn all_frames(folded: &str, by_total: bool) -> Vec<Frame> {
    let stacks = parse_folded(folded);
    let all: u64 = stacks.iter().map(|(_, c)| c).sum();
    let mut acc: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (frames, count) in &stacks {
        if let Some(leaf) = frames.last() {
            acc.entry(leaf).or_default().0 += count;
        }
        let unique: HashSet<&&str> = frames.iter().collect();
        for frame in unique {
            acc.entry(frame).or_default().1 += count;
        }
    }
    let fraction = |n: u64| if all == 0 { 0.0 } else { n as f64 / all as f64 };
    let mut frames: Vec<Frame> = acc
        .into_iter()
        .map(|(name, (s, t))| Frame {
            name: name.to_owned(),
            self_samples: s,
            total_samples: t,
            self_fraction: fraction(s),
            total_fraction: fraction(t),
        })
        .collect();
    frames.sort_by(|a, b| {
        let key = |f: &Frame| {
            if by_total {
                f.total_samples
            } else {
                f.self_samples
            }
        };
        key(b).cmp(&key(a)).then_with(|| a.name.cmp(&b.name))
    });
    frames
}

/// Renders a differential flame graph (SVG) of `before` vs `after` collapsed stacks.
///
/// The before profile is normalised to the after profile's sample count, so a longer run
/// does not paint everything red; red frames grew, blue frames shrank.
pub fn differential_svg(before: &str, after: &str, title: &str) -> Result<Vec<u8>> {
    let draw_err = |e: std::io::Error| ReportError::Draw {
        what: "differential flame graph".to_owned(),
        detail: e.to_string(),
    };
    let mut diff = Vec::new();
    let opts = inferno::differential::Options {
        normalize: true,
        strip_hex: true,
    };
    inferno::differential::from_readers(opts, before.as_bytes(), after.as_bytes(), &mut diff)
        .map_err(draw_err)?;
    flamegraph_svg(&diff, title)
}

/// Renders a flame graph (SVG) of collapsed stacks (plain or differential).
pub fn flamegraph_svg(folded: &[u8], title: &str) -> Result<Vec<u8>> {
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = title.to_owned();
    opts.deterministic = true;
    opts.count_name = "samples".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut opts, folded, &mut svg).map_err(|e| {
        ReportError::Draw {
            what: "flame graph".to_owned(),
            detail: e.to_string(),
        }
    })?;
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str =
        "main;serve;filter 60\nmain;serve;forward;write 30\nmain;idle 10\nbad line\n";

    #[test]
    fn self_and_total_samples() {
        let by_self = top_frames(FOLDED, 10, false);
        assert_eq!(by_self[0].name, "filter");
        assert_eq!(by_self[0].self_samples, 60);
        assert!((by_self[0].self_fraction - 0.6).abs() < 1e-9);
        let by_total = top_frames(FOLDED, 2, true);
        assert_eq!(by_total.len(), 2);
        assert_eq!(
            (by_total[0].name.as_str(), by_total[0].total_samples),
            ("filter", 60)
        );
        assert_eq!(
            (by_total[1].name.as_str(), by_total[1].total_samples),
            ("forward", 30)
        );
        assert_eq!(by_total[1].self_samples, 0);
    }

    #[test]
    fn frames_every_sample_passes_through_are_left_out_of_the_total_ranking() {
        let left_out: Vec<String> = scaffolding(FOLDED).into_iter().map(|f| f.name).collect();
        assert_eq!(
            left_out,
            ["main", "serve"],
            "100% and 90% of samples, none their own"
        );
        assert!(top_frames(FOLDED, 10, true)
            .iter()
            .all(|f| f.name != "main"));
        // A frame that is all the time but also its own is the hot spot, not scaffolding.
        let only = top_frames("a 5\n", 10, true);
        assert_eq!(only[0].name, "a");
        // 70% through a frame is still a finding.
        let most = "root;work 70\nother 30\n";
        assert_eq!(top_frames(most, 1, true)[0].name, "root");
    }

    #[test]
    fn recursion_counts_once_in_total() {
        let frames = top_frames("a;b;a 5\n", 10, true);
        let a = frames.iter().find(|f| f.name == "a").unwrap();
        assert_eq!((a.total_samples, a.self_samples), (5, 5));
    }

    #[test]
    fn differential_flamegraph_is_svg() {
        let svg = differential_svg(FOLDED, "main;serve;filter 90\nmain;idle 10\n", "diff").unwrap();
        let text = String::from_utf8(svg).unwrap();
        assert!(text.contains("<svg"));
    }
}
