//! Flame graphs drawn from collapsed stacks: a run's own (the harness draws it from the
//! profile it took, so the folded stacks and the picture describe the same samples) and
//! the differential one of a baseline against a run (what got hotter is red).
//!
//! Graphs are drawn from the raw lines, thread field included: each thread is a root
//! tower, as pprof draws them (see [`crate::folded`] for why rankings leave it out).

/// A flame graph that could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the {what}")]
pub struct FlameError {
    /// Which graph.
    pub what: &'static str,
    /// The drawing library's error.
    pub source: std::io::Error,
}

/// Fewer samples than this on either side of a differential flame graph make it too thin
/// to judge. A frame's share of the time is a proportion estimated from the samples: with
/// `n` samples the standard error of a 1% share is `sqrt(0.01 * 0.99 / n)`, 0.22 points at
/// 2000 samples (so a 1% frame reads 0.6% to 1.4% at 95%), and twice that at 500. Under
/// ~2000 samples a profile cannot resolve a frame at 1% of the time within a useful
/// margin, and red and blue in the difference are mostly sampling noise.
pub const MIN_DIFF_SAMPLES: u64 = 2000;

/// A side of a differential flame graph with fewer than [`MIN_DIFF_SAMPLES`] samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinSide {
    /// Which side: "baseline" or "current" (or the caller's names).
    pub side: &'static str,
    /// Its samples.
    pub samples: u64,
}

impl std::fmt::Display for ThinSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} profile has only {} samples (under {MIN_DIFF_SAMPLES}): too thin to \
             judge, differences are mostly sampling noise",
            self.side, self.samples
        )
    }
}

/// The sides of a comparison with too few samples to judge, each named as given.
pub fn thin_sides(sides: [(&'static str, &str); 2]) -> Vec<ThinSide> {
    sides
        .into_iter()
        .map(|(side, folded)| ThinSide {
            side,
            samples: crate::folded::sample_count(folded),
        })
        .filter(|t| t.samples < MIN_DIFF_SAMPLES)
        .collect()
}

/// What an empty profile is drawn as: an SVG saying so rather than an empty file.
const IDLE_SVG: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\">\
    <text x=\"10\" y=\"25\">no CPU samples: the proxy was idle</text></svg>\n";

/// Draws collapsed stacks (plain or differential) as a flame graph SVG. Colours follow
/// the frame names (deterministic), so two graphs of the same code look alike.
pub fn flamegraph_svg(folded: &[u8], title: &str) -> Result<Vec<u8>, FlameError> {
    flamegraph_svg_with(folded, title, None)
}

/// [`flamegraph_svg`] with a subtitle line under the title.
fn flamegraph_svg_with(
    folded: &[u8],
    title: &str,
    subtitle: Option<String>,
) -> Result<Vec<u8>, FlameError> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.subtitle = subtitle;
    options.deterministic = true;
    options.count_name = "samples".to_owned();
    let mut svg = Vec::new();
    inferno::flamegraph::from_reader(&mut options, folded, &mut svg).map_err(|source| {
        FlameError {
            what: "flame graph",
            source,
        }
    })?;
    Ok(svg)
}

/// A run's flame graph; a profile without samples gives an SVG saying the proxy was idle.
pub fn run_flamegraph_svg(folded: &str, title: &str) -> Result<Vec<u8>, FlameError> {
    if folded.trim().is_empty() {
        return Ok(IDLE_SVG.to_vec());
    }
    flamegraph_svg(folded.as_bytes(), title)
}

/// A differential flame graph of `before` (the baseline) against `after` (the current
/// run).
///
/// The before profile is normalised to the after profile's sample count, so a longer run
/// does not paint everything red; red frames grew, blue frames shrank. The subtitle gives
/// both sides' sample counts and warns when either is too thin to judge (see
/// [`MIN_DIFF_SAMPLES`]).
pub fn differential_svg(before: &str, after: &str, title: &str) -> Result<Vec<u8>, FlameError> {
    differential_svg_named(before, after, title, ["baseline", "current"])
}

/// [`differential_svg`] with the sides named as the caller calls them (an A/B session's
/// "control" and "candidate").
pub fn differential_svg_named(
    before: &str,
    after: &str,
    title: &str,
    names: [&'static str; 2],
) -> Result<Vec<u8>, FlameError> {
    let counts = format!(
        "{} {} samples, {} {} samples",
        names[0],
        crate::folded::sample_count(before),
        names[1],
        crate::folded::sample_count(after)
    );
    let thin: Vec<&str> = thin_sides([(names[0], before), (names[1], after)])
        .iter()
        .map(|t| t.side)
        .collect();
    // One short line: a subtitle is centred and not wrapped.
    let subtitle = if thin.is_empty() {
        counts
    } else {
        format!(
            "WARNING: {} under {MIN_DIFF_SAMPLES} samples, too thin to judge ({counts})",
            thin.join(" and ")
        )
    };
    let mut diff = Vec::new();
    let opts = inferno::differential::Options {
        normalize: true,
        strip_hex: true,
    };
    inferno::differential::from_readers(opts, before.as_bytes(), after.as_bytes(), &mut diff)
        .map_err(|source| FlameError {
            what: "differential flame graph",
            source,
        })?;
    flamegraph_svg_with(&diff, title, Some(subtitle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str = "w;main;p::serve;parse 30\nw;main;p::serve;write 60\nw;main;idle 10\n";

    #[test]
    fn draws_runs_and_differences() {
        let svg = String::from_utf8(run_flamegraph_svg(FOLDED, "t").unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("serve"), "{svg}");
        let empty = String::from_utf8(run_flamegraph_svg("", "t").unwrap()).unwrap();
        assert!(empty.contains("no CPU samples"));
        let diff = differential_svg(FOLDED, "w;main;p::serve;parse 90\nw;main;idle 10\n", "d");
        assert!(String::from_utf8(diff.unwrap()).unwrap().contains("<svg"));
    }

    #[test]
    fn a_thin_side_is_named_with_its_samples() {
        let thick = format!("w;main;work {MIN_DIFF_SAMPLES}\n");
        let thin = format!("w;main;work {}\n", MIN_DIFF_SAMPLES - 1);
        assert!(thin_sides([("baseline", &thick), ("current", &thick)]).is_empty());
        let sides = thin_sides([("baseline", &thick), ("current", &thin)]);
        assert_eq!(
            sides,
            [ThinSide {
                side: "current",
                samples: MIN_DIFF_SAMPLES - 1
            }]
        );
        let named = format!(
            "the current profile has only {} samples",
            MIN_DIFF_SAMPLES - 1
        );
        assert!(sides[0].to_string().contains(&named));
        let svg = String::from_utf8(differential_svg(&thick, &thin, "d").unwrap()).unwrap();
        let warning = format!(
            "WARNING: current under {MIN_DIFF_SAMPLES} samples, too thin to judge \
             (baseline {MIN_DIFF_SAMPLES} samples, current {} samples)",
            MIN_DIFF_SAMPLES - 1
        );
        assert!(svg.contains(&warning), "{svg}");
        let calm = String::from_utf8(differential_svg(&thick, &thick, "d").unwrap()).unwrap();
        assert!(
            !calm.contains("WARNING")
                && calm.contains(&format!("baseline {MIN_DIFF_SAMPLES} samples"))
        );
    }
}
