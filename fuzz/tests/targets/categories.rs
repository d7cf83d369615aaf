//! Targets `category_db` and `category_lookup`: the category database file parser, and
//! the lookup a request's host and path go through (hostile host names included: huge
//! label counts, empty labels, dots, non-ASCII).
//!
//! Properties: no panic; lookups of a host and of the same host with a trailing dot agree.

use std::sync::OnceLock;

use filter_proxy::filter::CategoryDb;

const DB: &str = "\
school.example education
mathgames-school.example games
cdn.video.example streaming
video.example/watch streaming
video.example/learn education
a.b.c.d.e.f.g.example chat
";

fn db() -> &'static CategoryDb {
    static DB_ONCE: OnceLock<CategoryDb> = OnceLock::new();
    DB_ONCE.get_or_init(|| CategoryDb::parse(DB, "fuzz").expect("the fuzz database parses"))
}

fn parse(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    if let Ok(db) = CategoryDb::parse(&text, "fuzz") {
        let _ = db.categorise("school.example", "/");
    }
}

fn lookup(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let (host, path) = match text.split_once('/') {
        Some((host, rest)) => (host, format!("/{rest}")),
        None => (&*text, "/".to_string()),
    };
    let path = path.as_str();
    let db = db();
    let name = |m: Option<filter_proxy::filter::Match<'_>>| m.map(|m| db.category_name(m.category));
    let plain = name(db.categorise(host, path));
    if !host.ends_with('.') {
        let dotted = format!("{host}.");
        assert_eq!(
            plain,
            name(db.categorise(&dotted, path)),
            "{host:?} vs {dotted:?}"
        );
    }
}

#[test]
fn category_db() {
    fuzz_targets::fuzz_bytes("category_db", parse);
}

#[test]
fn category_lookup() {
    fuzz_targets::fuzz_bytes("category_lookup", lookup);
}

/// Seeds for `category_lookup`: `host/path`.
pub fn lookup_seeds() -> Vec<Vec<u8>> {
    [
        "school.example/",
        "www.school.example/lessons",
        "video.example/watch?v=1",
        "x.cdn.video.example/learn/more",
        "a.b.c.d.e.f.g.example/",
        "..example/",
        "unknown.test/path",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Seeds for `category_db`.
pub fn db_seeds() -> Vec<Vec<u8>> {
    vec![DB.as_bytes().to_vec()]
}
