//! The Prometheus text exposition, parsed into samples with their labels.
//!
//! The judge reads a handful of families from each scrape, so a small parser over the
//! text format is enough (comments skipped, label values unescaped). A line that does not
//! parse is an error: a judge that silently drops a histogram bucket would compute
//! wrong percentiles.

use super::error::CanaryError;

/// One sample: name (with `_total`, `_bucket`... suffixes), labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as exposed.
    pub name: String,
    /// Label pairs in the order written.
    pub labels: Vec<(String, String)>,
    /// The value (`+Inf`, `-Inf` and `NaN` as floats).
    pub value: f64,
}

impl Sample {
    /// The value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole exposition; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Vec<Sample>, CanaryError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            parse_line(l.trim()).ok_or_else(|| CanaryError::Fetch {
                url: source.to_string(),
                message: format!("line {} is not a Prometheus sample: {l:?}", i + 1),
            })
        })
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    // The value, then an optional timestamp.
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}` and returns the pairs and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([',', ' ']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_string();
        s = s[eq + 1..].strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '"' => break i,
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_labels_and_escapes() {
        let text = "# HELP x y\n# TYPE x counter\nx_total 3\n\
                    h_bucket{decision=\"allowed\",le=\"0.001\"} 5\n\
                    h_bucket{decision=\"allowed\",le=\"+Inf\"} 7 1700000000\n\
                    q{v=\"a\\\"b\\\\c\"} +Inf\n";
        let s = parse(text, "test").unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!((s[0].name.as_str(), s[0].value), ("x_total", 3.0));
        assert_eq!(s[1].label("le"), Some("0.001"));
        assert_eq!(s[2].label("decision"), Some("allowed"));
        assert_eq!(s[2].value, 7.0);
        assert_eq!(s[3].label("v"), Some("a\"b\\c"));
        assert!(s[3].value.is_infinite());
    }

    #[test]
    fn a_broken_line_is_an_error_not_a_gap() {
        let err = parse("ok 1\nbroken{le=\"1\" 2\n", "http://x/metrics").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
