//! A tiny document model rendered to both Markdown and self-contained HTML, so the run
//! report, the diff and the baseline document are each written once and cannot drift
//! between their two forms. HTML output is well-formed XML (XHTML-style), inlines every
//! figure's SVG, and loads nothing from the network.

use std::fmt::Write as _;

/// A block of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading of level 1..=3.
    Heading(u8, String),
    /// A paragraph of plain text.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table {
        /// Column titles.
        header: Vec<String>,
        /// Rows of cells.
        rows: Vec<Vec<String>>,
    },
    /// A figure: linked as `file` from Markdown, inlined in HTML.
    Figure {
        /// Caption.
        title: String,
        /// Path of the SVG file relative to the document.
        file: String,
        /// The SVG document.
        svg: String,
    },
    /// Preformatted text (settings, commands).
    Code(String),
    /// A one-line callout (a verdict, a warning), set apart from the text around it.
    Note {
        /// How it reads: good, bad, a warning or plain information.
        tone: Tone,
        /// The line.
        text: String,
    },
    /// A link to a file beside the document (e.g. a flame graph, which carries scripts).
    Link {
        /// Link text.
        text: String,
        /// Relative target.
        href: String,
    },
}

/// The tone of a [`Block::Note`]: its colour in HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// A pass.
    Pass,
    /// A warning or a hotfix.
    Warn,
    /// A failure (rollback).
    Fail,
    /// Information (no verdict).
    Info,
}

impl Tone {
    fn class(self) -> &'static str {
        match self {
            Tone::Pass => "pass",
            Tone::Warn => "warn",
            Tone::Fail => "fail",
            Tone::Info => "info",
        }
    }
}

/// A titled sequence of blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    /// Document title.
    pub title: String,
    /// Content.
    pub blocks: Vec<Block>,
}

impl Doc {
    /// A new empty document.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }

    /// Appends a heading.
    pub fn heading(&mut self, level: u8, text: impl Into<String>) -> &mut Self {
        self.push(Block::Heading(level, text.into()))
    }

    /// Appends a paragraph.
    pub fn para(&mut self, text: impl Into<String>) -> &mut Self {
        self.push(Block::Para(text.into()))
    }

    /// Appends a table.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) -> &mut Self {
        self.push(Block::Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows,
        })
    }

    /// The figures, for writing their SVG files.
    pub fn figures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Figure { file, svg, .. } => Some((file.as_str(), svg.as_str())),
            _ => None,
        })
    }

    /// Renders Markdown (figures as image links).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n", self.title);
        for block in &self.blocks {
            out.push('\n');
            match block {
                Block::Heading(level, text) => {
                    let _ = writeln!(
                        out,
                        "{} {text}",
                        "#".repeat(usize::from((*level).clamp(1, 5)) + 1)
                    );
                }
                Block::Para(text) => {
                    let _ = writeln!(out, "{text}");
                }
                Block::List(items) => items.iter().for_each(|i| {
                    let _ = writeln!(out, "- {i}");
                }),
                Block::Table { header, rows } => {
                    let cells = |row: &[String]| {
                        row.iter()
                            .map(|c| md_cell(c))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    };
                    let _ = writeln!(out, "| {} |", cells(header));
                    let _ = writeln!(out, "|{}", " --- |".repeat(header.len()));
                    for row in rows {
                        let _ = writeln!(out, "| {} |", cells(row));
                    }
                }
                Block::Code(text) => {
                    let _ = writeln!(out, "```\n{}\n```", text.trim_end());
                }
                Block::Figure { title, file, .. } => {
                    let _ = writeln!(out, "![{title}]({file})");
                }
                Block::Note { text, .. } => {
                    let _ = writeln!(out, "> {}", text.replace('\n', " "));
                }
                Block::Link { text, href } => {
                    let _ = writeln!(out, "[{text}]({href})");
                }
            }
        }
        out
    }

    /// Renders a self-contained HTML page with every figure inlined.
    pub fn to_html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n",
        );
        let _ = writeln!(
            out,
            "<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
            esc(&self.title)
        );
        let _ = writeln!(out, "<h1>{}</h1>", esc(&self.title));
        for block in &self.blocks {
            match block {
                Block::Heading(level, text) => {
                    let l = (*level).clamp(1, 5) + 1;
                    let _ = writeln!(out, "<h{l}>{}</h{l}>", esc(text));
                }
                Block::Para(text) => {
                    let _ = writeln!(out, "<p>{}</p>", esc(text));
                }
                Block::List(items) => {
                    out.push_str("<ul>\n");
                    items.iter().for_each(|i| {
                        let _ = writeln!(out, "<li>{}</li>", esc(i));
                    });
                    out.push_str("</ul>\n");
                }
                Block::Table { header, rows } => {
                    out.push_str("<table>\n<thead><tr>");
                    header.iter().for_each(|h| {
                        let _ = write!(out, "<th>{}</th>", esc(h));
                    });
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        row.iter().for_each(|c| {
                            let _ = write!(out, "<td>{}</td>", esc(c));
                        });
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Code(text) => {
                    let _ = writeln!(out, "<pre>{}</pre>", esc(text.trim_end()));
                }
                Block::Figure { title, svg, .. } => {
                    let _ = writeln!(
                        out,
                        "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>",
                        inline_svg(svg),
                        esc(title)
                    );
                }
                Block::Note { tone, text } => {
                    let _ = writeln!(out, "<p class=\"note {}\">{}</p>", tone.class(), esc(text));
                }
                Block::Link { text, href } => {
                    let _ = writeln!(out, "<p><a href=\"{}\">{}</a></p>", esc(href), esc(text));
                }
            }
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}figure{margin:1em 0}svg{max-width:100%;height:auto}\
.note{padding:6px 10px;border-left:6px solid #888;background:#f4f4f4;font-weight:bold}\
.note.pass{border-color:#2a7d2a;background:#eaf6ea}.note.fail{border-color:#b22222;background:#fbeaea}\
.note.warn{border-color:#d08a00;background:#fff5e0}";

/// Strips an XML declaration so an SVG document can sit inside HTML.
fn inline_svg(svg: &str) -> &str {
    let trimmed = svg.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(trimmed, |(_, body)| body.trim_start()),
        None => trimmed,
    }
}

/// Escapes text for HTML/XML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A figure block whose SVG goes to `plots/<name>.svg`.
pub fn figure(title: &str, name: &str, svg: String) -> Block {
    Block::Figure {
        title: title.to_owned(),
        file: format!("plots/{name}.svg"),
        svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_renders_both_forms() {
        let mut doc = Doc::new("A <title>");
        doc.heading(1, "Section")
            .para("x & y")
            .table(&["a|b", "c"], vec![vec!["1".into(), "<2>".into()]]);
        doc.push(Block::Figure {
            title: "f".into(),
            file: "plots/f.svg".into(),
            svg: "<?xml version=\"1.0\"?>\n<svg></svg>".into(),
        });
        let md = doc.to_markdown();
        assert!(md.contains("| a\\|b | c |") && md.contains("![f](plots/f.svg)"));
        let html = doc.to_html();
        assert!(
            html.contains("<title>A &lt;title&gt;</title>") && html.contains("<td>&lt;2&gt;</td>")
        );
        assert!(html.contains("<figure>\n<svg></svg>") && !html.contains("<?xml"));
    }
}
