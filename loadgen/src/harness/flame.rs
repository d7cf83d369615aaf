//! The flame graph of a run, rendered here from the collapsed stacks the proxy
//! returned.
//!
//! Rendering locally (rather than asking the proxy for a second profile in SVG) means
//! the proxy is profiled once, for a short time: the folded stacks and the flame graph
//! describe the same samples, and the profiler's own cost touches less of the run.

use super::HarnessError;

/// Renders collapsed stacks (`frame;frame;frame count` lines) as a flame graph SVG;
/// an empty profile gives an SVG saying so rather than an empty file.
pub fn render_svg(folded: &str, title: &str) -> Result<Vec<u8>, HarnessError> {
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
        HarnessError::Io {
            what: "render the flame graph".into(),
            source: e,
        }
    })?;
    Ok(svg)
}

/// The frames that cost the most CPU, inclusive of their callees: `(frame, share of
/// samples)`, largest first. Used for the run summary and reports.
pub fn top_frames(folded: &str, n: usize) -> Vec<(String, f64)> {
    let mut total = 0u64;
    let mut by_frame: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        total += count;
        let mut seen = std::collections::HashSet::new();
        // Skip the first element (thread name); count each frame once per stack.
        for frame in stack.split(';').skip(1) {
            if seen.insert(frame) {
                *by_frame.entry(frame).or_default() += count;
            }
        }
    }
    let mut frames: Vec<(String, f64)> = by_frame
        .into_iter()
        .map(|(f, c)| (f.to_owned(), c as f64 / total.max(1) as f64))
        .collect();
    frames.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    frames.truncate(n);
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &str =
        "worker;main;serve;parse 30\nworker;main;serve;write 60\nworker;main;idle 10\n";

    #[test]
    fn renders_an_svg() {
        let svg = String::from_utf8(render_svg(FOLDED, "t").unwrap()).unwrap();
        assert!(svg.contains("<svg") && svg.contains("serve"), "{svg}");
        let empty = String::from_utf8(render_svg("", "t").unwrap()).unwrap();
        assert!(empty.contains("no CPU samples"));
    }

    #[test]
    fn top_frames_are_inclusive_shares() {
        let top = top_frames(FOLDED, 3);
        assert_eq!(top[0], ("main".to_owned(), 1.0));
        assert_eq!(top[1], ("serve".to_owned(), 0.9));
        assert_eq!(top[2], ("write".to_owned(), 0.6));
    }
}
