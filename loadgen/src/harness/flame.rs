//! The flame graph of a run and the frame shares `run.json` lists, from the collapsed
//! stacks the proxy returned (parsed and drawn by `rundir::folded` and `rundir::flame`;
//! this module only shapes them for the run directory).
//!
//! Rendering locally (rather than asking the proxy for a second profile in SVG) means
//! the proxy is profiled once, for a short time: the folded stacks and the flame graph
//! describe the same samples, and the profiler's own cost touches less of the run.

use rundir::folded::{self, Frame, Rank};

use crate::rig::error::RigError;

/// Renders collapsed stacks as a flame graph SVG; an empty profile gives an SVG saying
/// so rather than an empty file.
pub fn render_svg(folded: &str, title: &str) -> Result<Vec<u8>, RigError> {
    rundir::flame::run_flamegraph_svg(folded, title).map_err(|e| RigError::Io {
        what: "render the flame graph".into(),
        cause: e.source,
    })
}

/// `(frame, share of all samples)`, as `run.json` lists them.
fn shares(frames: Vec<Frame>, share: fn(&Frame) -> f64) -> Vec<(String, f64)> {
    frames
        .into_iter()
        .map(|f| {
            let s = share(&f);
            (f.name, s)
        })
        .collect()
}

/// Where the CPU time itself went: the innermost frame of each sample, as a share of
/// all samples, largest first.
pub fn top_self_frames(folded: &str, n: usize) -> Vec<(String, f64)> {
    shares(folded::top_frames(folded, n, Rank::SelfTime), |f| {
        f.self_fraction
    })
}

/// Which frames containing `needle` (e.g. the proxy's crate name) the CPU time was spent
/// under, callees included, as a share of all samples, largest first.
pub fn top_inclusive_frames(folded: &str, needle: &str, n: usize) -> Vec<(String, f64)> {
    shares(folded::frames_containing(folded, needle, n), |f| {
        f.total_fraction
    })
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
