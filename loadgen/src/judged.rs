//! What a judged command (`faults`, `capacity`, `parity`) hands its caller: an outcome that
//! says whether its bar held and what to print, or a typed error. The exit codes are the
//! binary's business (`main.rs`), not the library's: a library caller (a test, another
//! tool) gets the outcome itself.

use std::path::Path;

/// A judged command's outcome.
pub trait Judged {
    /// Whether the run met its bar.
    fn held(&self) -> bool;
    /// The report printed on stdout (Markdown).
    fn report(&self) -> String;
    /// Where the run wrote its files.
    fn run_dir(&self) -> &Path;
}

/// Every cause of an error, outermost first, joined with `": "` (each error's own message
/// names only itself; this is how a cause is printed once).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading the profile")]
    struct Outer {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn a_chain_names_every_cause_once() {
        let e = Outer {
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(chain(&e), "reading the profile: no such file");
    }
}
