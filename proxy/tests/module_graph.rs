//! The request path runs one way: no source file of the library imports from a file that
//! (directly or through others) imports it, and no top-level module (`forward`, `tunnel`,
//! `state`, ...) imports from one that depends on it. Every library of the workspace is held
//! to the same (the crates split off from this one, `appliance` and `proxy-protocol`, and
//! `loadgen`, `reports`, `rundir`, `fuzz`): one check for all, kept here beside the crate
//! it was written for.
//!
//! The check reads each crate's `src/` as text: every `use` tree and every path written in code
//! (`crate::a::b`, `super::x`, `self::y`, or a path starting with a child module of the
//! file) is resolved to the file that defines the module it names. Comments are skipped;
//! `mod x;` declarations are not dependencies; in an inline module (`mod tests { ... }`),
//! `super` is the file itself. A re-export in a `mod.rs` is a dependency of that `mod.rs`
//! on the child, which is why files inside a directory import their siblings directly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// The library sources checked: every crate of the workspace (paths from this crate).
const CRATES: [&str; 8] = [
    "src",
    "../appliance/src",
    "../proxy-protocol/src",
    "../loadgen/src",
    "../reports/src",
    "../rundir/src",
    "../fuzz/src",
    "../browser/src",
];

/// Every library source file under `dir` (relative to this crate), keyed by its module
/// path (`[]` is `lib.rs`).
fn source_files(dir: &str) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<Module, PathBuf>) {
        let entries = std::fs::read_dir(dir).expect("proxy/src is readable");
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, root, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(root).expect("under the root");
            let mut module: Module = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match module.last().map(String::as_str) {
                Some("mod") | Some("lib") => {
                    module.pop();
                }
                Some("main") if module.len() == 1 => continue,
                _ => {}
            }
            out.insert(module, path);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files = BTreeMap::new();
    walk(&root, &root, &mut files);
    files
}

/// The source without comments (a `//` inside a string literal cuts the rest of its line,
/// which can only hide a path, never invent one).
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut in_block = false;
    for line in src.lines() {
        let mut rest = line;
        loop {
            if in_block {
                match rest.find("*/") {
                    Some(end) => {
                        rest = &rest[end + 2..];
                        in_block = false;
                    }
                    None => break,
                }
            } else {
                let line_comment = rest.find("//");
                let block = rest.find("/*");
                match (line_comment, block) {
                    (Some(l), Some(b)) if b < l => {
                        out.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    (None, Some(b)) => {
                        out.push_str(&rest[..b]);
                        rest = &rest[b + 2..];
                        in_block = true;
                    }
                    (Some(l), _) => {
                        out.push_str(&rest[..l]);
                        break;
                    }
                    (None, None) => {
                        out.push_str(rest);
                        break;
                    }
                }
            }
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands a `use` tree (`crate::a::{b, c::{d, e as f}, self}`) into its paths.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    fn parse(s: &[char], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut segment = String::new();
        while *i < s.len() {
            match s[*i] {
                '{' => {
                    *i += 1;
                    let mut base = prefix.to_vec();
                    base.extend(split_path(&segment));
                    loop {
                        parse(s, i, &base, out);
                        match s.get(*i) {
                            Some(',') => *i += 1,
                            Some('}') => {
                                *i += 1;
                                return;
                            }
                            _ => return,
                        }
                    }
                }
                ',' | '}' => break,
                c => {
                    segment.push(c);
                    *i += 1;
                }
            }
        }
        let segment = segment.split(" as ").next().unwrap_or_default();
        let mut path = prefix.to_vec();
        path.extend(split_path(segment));
        // `a::{self}` names `a`.
        if path.len() > 1 && path.last().is_some_and(|s| s == "self") {
            path.pop();
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    let chars: Vec<char> = tree
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    let mut out = Vec::new();
    parse(&chars, &mut 0, &[], &mut out);
    out
}

fn split_path(text: &str) -> Vec<String> {
    text.split("::")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Paths written in code: maximal `ident(::ident)+` runs, with their byte offsets.
fn code_paths(src: &str) -> Vec<(usize, Vec<String>)> {
    let bytes: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut offset = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts = (c.is_ascii_alphabetic() || c == '_') && (i == 0 || !is_ident(bytes[i - 1]));
        if !starts {
            offset += c.len_utf8();
            i += 1;
            continue;
        }
        let start_offset = offset;
        let mut segments = Vec::new();
        loop {
            let mut ident = String::new();
            while i < bytes.len() && is_ident(bytes[i]) {
                ident.push(bytes[i]);
                offset += 1;
                i += 1;
            }
            segments.push(ident);
            let more = bytes.get(i) == Some(&':')
                && bytes.get(i + 1) == Some(&':')
                && bytes
                    .get(i + 2)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_');
            if !more {
                break;
            }
            i += 2;
            offset += 2;
        }
        if segments.len() > 1 {
            out.push((start_offset, segments));
        }
    }
    out
}

/// The file a module path lands in: the longest prefix that is a source file.
fn resolve(path: &[String], files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| files.contains_key(m))
}

/// File -> the files it imports from.
fn file_edges(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let mut edges = BTreeMap::new();
    for (module, path) in files {
        let src = strip_comments(&std::fs::read_to_string(path).expect("source is readable"));
        let children: BTreeSet<String> = src
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let at = l.find("mod ")?;
                let visibility = &l[..at];
                if !(visibility.is_empty() || visibility.starts_with("pub")) {
                    return None;
                }
                let name = l[at + 4..].strip_suffix(';')?;
                Some(name.trim().to_string())
            })
            .collect();
        // After the first inline module, `super` means this file (test modules).
        let first_inline = src
            .match_indices("mod ")
            .filter(|(i, _)| *i == 0 || !is_ident(src.as_bytes()[i - 1] as char))
            .find(|(i, _)| {
                let rest = &src[i + 4..];
                let name_end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
                rest[name_end..].trim_start().starts_with('{')
            })
            .map_or(src.len(), |(i, _)| i);

        let mut refs: Vec<(usize, Vec<String>)> = Vec::new();
        let mut search = 0;
        while let Some(found) = src[search..].find("use ") {
            let at = search + found;
            search = at + 4;
            if at > 0 && is_ident(src.as_bytes()[at - 1] as char) {
                continue;
            }
            let Some(end) = src[at..].find(';') else {
                break;
            };
            for path in expand_use(&src[at + 4..at + end]) {
                refs.push((at, path));
            }
        }
        refs.extend(code_paths(&src));

        let mut targets = BTreeSet::new();
        for (at, path) in refs {
            let full: Vec<String> = match path[0].as_str() {
                "crate" => path[1..].to_vec(),
                "self" => module
                    .iter()
                    .cloned()
                    .chain(path[1..].iter().cloned())
                    .collect(),
                "super" if at > first_inline => module
                    .iter()
                    .cloned()
                    .chain(path[1..].iter().cloned())
                    .collect(),
                "super" => {
                    let mut base = module.clone();
                    let mut rest = &path[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        base.pop();
                        rest = &rest[1..];
                    }
                    base.into_iter().chain(rest.iter().cloned()).collect()
                }
                child if children.contains(child) => {
                    module.iter().cloned().chain(path.iter().cloned()).collect()
                }
                _ => continue,
            };
            if let Some(target) = resolve(&full, files) {
                if &target != module {
                    targets.insert(target);
                }
            }
        }
        edges.insert(module.clone(), targets);
    }
    edges
}

/// Groups of nodes that reach each other (strongly connected, more than one node).
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<BTreeSet<Module>> {
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(node) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&Module, BTreeSet<Module>> =
        edges.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<Module>> = Vec::new();
    for (node, seen) in &reached {
        if !seen.contains(*node) || out.iter().any(|c| c.contains(*node)) {
            continue;
        }
        let group: BTreeSet<Module> = seen
            .iter()
            .filter(|other| reached.get(other).is_some_and(|r| r.contains(*node)))
            .cloned()
            .collect();
        out.push(group);
    }
    out
}

fn describe(circle: &BTreeSet<Module>, edges: &BTreeMap<Module, BTreeSet<Module>>) -> String {
    let name = |m: &Module| {
        if m.is_empty() {
            "lib".to_string()
        } else {
            m.join("::")
        }
    };
    circle
        .iter()
        .map(|m| {
            let within: Vec<String> = edges[m]
                .iter()
                .filter(|t| circle.contains(*t))
                .map(name)
                .collect();
            format!("  {} -> {}", name(m), within.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_file_imports_from_a_file_that_imports_it() {
    for dir in CRATES {
        let files = source_files(dir);
        // A wrong path would find nothing and pass: every crate has a lib.rs and more.
        assert!(files.len() >= 2, "{dir}: found only {} files", files.len());
        let edges = file_edges(&files);
        let found = circles(&edges);
        let text: Vec<String> = found.iter().map(|c| describe(c, &edges)).collect();
        assert!(
            found.is_empty(),
            "{dir}: import circles between files:\n{}",
            text.join("\n\n")
        );
    }
}

#[test]
fn no_top_level_module_imports_from_one_that_depends_on_it() {
    for dir in CRATES {
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (from, targets) in file_edges(&source_files(dir)) {
            let Some(top) = from.first() else { continue };
            let entry = edges.entry(vec![top.clone()]).or_default();
            for target in targets {
                if let Some(to) = target.first().filter(|t| *t != top) {
                    entry.insert(vec![to.clone()]);
                }
            }
        }
        let found = circles(&edges);
        let text: Vec<String> = found.iter().map(|c| describe(c, &edges)).collect();
        assert!(
            found.is_empty(),
            "{dir}: circles between top-level modules:\n{}",
            text.join("\n\n")
        );
    }
}

#[test]
fn the_check_sees_circles() {
    // The parser on a known shape: `use` trees, inline paths and `super`.
    assert_eq!(
        expand_use("crate::a::{b, c::{d, e as f}, self}"),
        vec![
            vec!["crate", "a", "b"],
            vec!["crate", "a", "c", "d"],
            vec!["crate", "a", "c", "e"],
            vec!["crate", "a"],
        ]
    );
    let paths = code_paths("let x = super::target::parse(a); crate::b::C::new()");
    let paths: Vec<Vec<String>> = paths.into_iter().map(|(_, p)| p).collect();
    assert_eq!(
        paths,
        vec![
            vec!["super", "target", "parse"],
            vec!["crate", "b", "C", "new"]
        ]
    );
    let m = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(
        circles(&edges),
        vec![BTreeSet::from([m("a"), m("b"), m("c")])]
    );
}
