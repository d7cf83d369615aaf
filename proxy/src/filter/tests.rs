//! Unit tests of the category database: matching rules and load errors.

use super::*;

const SAMPLE: &str = "\
# a comment line
example.com          news
games.example.com    games   # inline comment

video.example        video
video.example/gaming games
video.example/gaming/chess education
video.example/casino/ gambling
";

fn db() -> CategoryDb {
    CategoryDb::parse(SAMPLE, "sample.txt").expect("sample parses")
}

fn category_of<'a>(db: &'a CategoryDb, host: &str, path: &str) -> Option<(&'a str, &'a str)> {
    db.categorise(host, path)
        .map(|m| (db.category_name(m.category), m.rule))
}

#[test]
fn host_matches_itself_and_parent_domains() {
    let db = db();
    assert_eq!(
        category_of(&db, "example.com", "/"),
        Some(("news", "example.com"))
    );
    assert_eq!(
        category_of(&db, "a.b.c.example.com", "/"),
        Some(("news", "example.com"))
    );
    assert_eq!(category_of(&db, "notexample.com", "/"), None);
    assert_eq!(category_of(&db, "com", "/"), None);
    assert_eq!(category_of(&db, "", "/"), None);
}

#[test]
fn most_specific_domain_wins() {
    let db = db();
    assert_eq!(
        category_of(&db, "games.example.com", "/"),
        Some(("games", "games.example.com"))
    );
    assert_eq!(
        category_of(&db, "www.games.example.com", "/x"),
        Some(("games", "games.example.com"))
    );
}

#[test]
fn trailing_dot_is_tolerated() {
    let db = db();
    assert_eq!(
        category_of(&db, "www.example.com.", "/"),
        Some(("news", "example.com"))
    );
}

#[test]
fn path_rules_come_before_the_domain_rule_longest_first() {
    let db = db();
    assert_eq!(
        category_of(&db, "video.example", "/gaming"),
        Some(("games", "video.example/gaming"))
    );
    assert_eq!(
        category_of(&db, "www.video.example", "/gaming/doom?x=1"),
        Some(("games", "video.example/gaming"))
    );
    assert_eq!(
        category_of(&db, "video.example", "/gaming/chess/openings"),
        Some(("education", "video.example/gaming/chess"))
    );
    assert_eq!(
        category_of(&db, "video.example", "/gaming?q=1"),
        Some(("games", "video.example/gaming"))
    );
}

#[test]
fn path_rules_respect_segment_boundaries() {
    let db = db();
    // `/gamingx` is not below `/gaming`: the domain rule applies.
    assert_eq!(
        category_of(&db, "video.example", "/gamingx"),
        Some(("video", "video.example"))
    );
    // A prefix written with a trailing slash matches anything below it.
    assert_eq!(
        category_of(&db, "video.example", "/casino/poker"),
        Some(("gambling", "video.example/casino/"))
    );
    assert_eq!(
        category_of(&db, "video.example", "/casino"),
        Some(("video", "video.example"))
    );
}

#[test]
fn path_rules_only_domain_falls_through_to_parent() {
    let db = CategoryDb::parse("example\tnews\nsite.example/games games\n", "t").expect("parses");
    assert_eq!(
        category_of(&db, "site.example", "/other"),
        Some(("news", "example"))
    );
    assert_eq!(
        category_of(&db, "site.example", "/games"),
        Some(("games", "site.example/games"))
    );
}

#[test]
fn categories_are_interned_and_counted() {
    let db = db();
    assert_eq!(db.len(), 6);
    assert_eq!(db.category_count(), 5);
    let games = db.category_id("games").expect("games exists");
    assert_eq!(db.category_name(games), "games");
    assert_eq!(db.category_id("nope"), None);
    assert_eq!(db.category_name(CategoryId(999)), "unknown");
    assert_eq!(
        db.category_names().collect::<Vec<_>>(),
        ["news", "games", "video", "education", "gambling"]
    );
}

#[test]
fn domains_are_normalised_at_load() {
    let db = CategoryDb::parse("WWW.Example.COM. news\n", "t").expect("parses");
    assert_eq!(
        category_of(&db, "www.example.com", "/"),
        Some(("news", "www.example.com"))
    );
}

#[test]
fn repeated_identical_rules_are_accepted_once() {
    let db = CategoryDb::parse("a.example news\na.example news\n", "t").expect("parses");
    assert_eq!(db.len(), 1);
}

fn error_of(text: &str) -> (usize, String) {
    match CategoryDb::parse(text, "cats.txt") {
        Err(FilterError::Syntax {
            origin,
            line,
            message,
        }) => {
            assert_eq!(origin, "cats.txt");
            (line, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn errors_name_the_line() {
    let (line, message) = error_of("# header\nok.example news\nlonely.example\n");
    assert_eq!(line, 3);
    assert!(message.contains("no category"), "{message}");

    let (line, message) = error_of("ok.example news extra\n");
    assert_eq!(line, 1);
    assert!(message.contains("unknown syntax"), "{message}");

    let (line, message) = error_of("\n\nbad!domain.example news\n");
    assert_eq!(line, 3);
    assert!(message.contains("invalid character"), "{message}");

    let (line, message) = error_of("a..example news\n");
    assert_eq!(line, 1);
    assert!(message.contains("empty label"), "{message}");

    let (line, message) = error_of("ok.example News\n");
    assert_eq!(line, 1);
    assert!(message.contains("category"), "{message}");

    let (line, message) = error_of("ok.example/ news\n");
    assert_eq!(line, 1);
    assert!(message.contains("empty path prefix"), "{message}");
}

#[test]
fn conflicting_duplicates_are_errors() {
    let (line, message) = error_of("a.example news\nb.example news\na.example games\n");
    assert_eq!(line, 3);
    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("news"), "{message}");

    let (line, message) = error_of("a.example/x news\na.example/x games\n");
    assert_eq!(line, 2);
    assert!(message.contains("a.example/x"), "{message}");
}

#[test]
fn more_than_u16_categories_is_an_error() {
    let text: String = (0..=MAX_CATEGORIES)
        .map(|i| format!("d{i}.example c{i}\n"))
        .collect();
    let (line, message) = error_of(&text);
    assert_eq!(line, MAX_CATEGORIES + 1);
    assert!(message.contains("more than 65536 categories"), "{message}");
}

#[test]
fn load_reports_missing_file() {
    let err = CategoryDb::load(Path::new("definitely/not/here.txt")).expect_err("missing");
    assert!(err.to_string().contains("definitely/not/here.txt"), "{err}");
}

#[test]
fn every_parse_has_its_own_generation() {
    let a = CategoryDb::parse("a.example news\n", "t").expect("parses");
    let b = CategoryDb::parse("a.example news\n", "t").expect("parses");
    assert_ne!(a.generation(), b.generation());
    assert_ne!(a.generation(), 0);
    assert_eq!(CategoryDb::default().generation(), 0);
}
