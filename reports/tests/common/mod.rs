//! Shared test helpers: synthetic run directories and an XML well-formedness check.
#![allow(dead_code)]

use quick_xml::events::Event;
use quick_xml::Reader;
use reports::fixtures::Fixture;
use std::path::{Path, PathBuf};

/// The parsed shape of an XML (SVG or XHTML-style HTML) document.
#[derive(Debug, Default)]
pub struct Xml {
    /// Element names in document order.
    pub elements: Vec<String>,
    /// Text nodes, trimmed, non-empty.
    pub texts: Vec<String>,
}

impl Xml {
    pub fn count(&self, name: &str) -> usize {
        self.elements.iter().filter(|e| *e == name).count()
    }
    pub fn has_text(&self, needle: &str) -> bool {
        self.texts.iter().any(|t| t.contains(needle))
    }
}

/// Parses a document with an XML parser; panics if it is not well formed.
pub fn parse_xml(text: &str) -> Xml {
    let mut reader = Reader::from_str(text);
    let mut xml = Xml::default();
    let mut depth: i64 = 0;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML at {}: {e}", reader.buffer_position()))
        {
            Event::Start(e) => {
                depth += 1;
                xml.elements
                    .push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Event::Empty(e) => xml
                .elements
                .push(String::from_utf8_lossy(e.name().as_ref()).into_owned()),
            Event::End(_) => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced end tag");
            }
            Event::Text(t) => {
                let s = t.decode().expect("utf-8 text").trim().to_owned();
                if !s.is_empty() {
                    xml.texts.push(s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unclosed elements at end of document");
    xml
}

/// Writes a fixture run under `root/name` and returns its path.
pub fn run_dir(root: &Path, name: &str, fixture: &Fixture) -> PathBuf {
    let dir = root.join(name);
    fixture.write(&dir).expect("fixture written");
    dir
}

/// Copies the committed gate rules next to baselines in `dir`.
pub fn committed_gates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines/gates.toml")
}
