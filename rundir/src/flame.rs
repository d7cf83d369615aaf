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

/// What an empty profile is drawn as: an SVG saying so rather than an empty file.
const IDLE_SVG: &[u8] = b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"600\" height=\"40\">\
    <text x=\"10\" y=\"25\">no CPU samples: the proxy was idle</text></svg>\n";

/// Draws collapsed stacks (plain or differential) as a flame graph SVG. Colours follow
/// the frame names (deterministic), so two graphs of the same code look alike.
pub fn flamegraph_svg(folded: &[u8], title: &str) -> Result<Vec<u8>, FlameError> {
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
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

/// A differential flame graph of `before` against `after`.
///
/// The before profile is normalised to the after profile's sample count, so a longer run
/// does not paint everything red; red frames grew, blue frames shrank.
pub fn differential_svg(before: &str, after: &str, title: &str) -> Result<Vec<u8>, FlameError> {
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
    flamegraph_svg(&diff, title)
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
}
