//! Unit tests of policies: decision order, group fallback and load errors.

use super::*;

const CATEGORIES: &str = "\
games.example      games
news.example       news
adult.example      adult
video.example      video
video.example/play games
";

const POLICIES: &str = r#"
[groups.default]
blocked_categories = ["adult", "games"]

[groups.students]
blocked_categories = ["adult", "games", "news"]
always_allow = ["edu.games.example", "news.example"]
always_deny = ["video.example", "news.example", "uncategorised.test"]

[groups.teachers]
blocked_categories = ["adult"]
"#;

fn fixture() -> (CategoryDb, PolicySet) {
    let db = CategoryDb::parse(CATEGORIES, "cats").expect("categories parse");
    let set = PolicySet::parse(POLICIES, "policy.toml", &db).expect("policies parse");
    (db, set)
}

fn category(db: &CategoryDb, name: &str) -> CategoryId {
    db.category_id(name).expect("category exists")
}

#[test]
fn blocked_category_blocks_with_rule() {
    let (db, set) = fixture();
    let decision = set
        .for_group("teachers")
        .decide(&db, "www.adult.example", "/");
    assert_eq!(
        decision,
        Decision::Block(BlockReason::Category {
            category: category(&db, "adult"),
            rule: "adult.example".to_string(),
        })
    );
}

#[test]
fn allowed_category_is_reported() {
    let (db, set) = fixture();
    assert_eq!(
        set.for_group("teachers").decide(&db, "games.example", "/"),
        Decision::Allow {
            category: Some(category(&db, "games"))
        }
    );
    assert_eq!(
        set.for_group("teachers").decide(&db, "nowhere.test", "/"),
        Decision::Allow { category: None }
    );
}

#[test]
fn path_rule_category_is_blocked() {
    let (db, set) = fixture();
    let policy = set.for_group("default");
    assert_eq!(
        policy.decide(&db, "video.example", "/play/level1"),
        Decision::Block(BlockReason::Category {
            category: category(&db, "games"),
            rule: "video.example/play".to_string(),
        })
    );
    assert_eq!(
        policy.decide(&db, "video.example", "/watch"),
        Decision::Allow {
            category: Some(category(&db, "video"))
        }
    );
}

#[test]
fn always_allow_comes_first() {
    let (db, set) = fixture();
    let students = set.for_group("students");
    // Blocked category, but a subdomain listed in always_allow.
    assert_eq!(
        students.decide(&db, "a.edu.games.example", "/"),
        Decision::Allow {
            category: Some(category(&db, "games"))
        }
    );
    // In both lists and in a blocked category: allow wins.
    assert_eq!(
        students.decide(&db, "news.example", "/"),
        Decision::Allow {
            category: Some(category(&db, "news"))
        }
    );
    // The parent is not covered by the subdomain's allow entry.
    assert!(matches!(
        students.decide(&db, "games.example", "/"),
        Decision::Block(BlockReason::Category { .. })
    ));
}

#[test]
fn always_deny_comes_before_categories() {
    let (db, set) = fixture();
    let students = set.for_group("students");
    assert_eq!(
        students.decide(&db, "cdn.video.example", "/play"),
        Decision::Block(BlockReason::DenyList {
            entry: "video.example".to_string()
        })
    );
    assert_eq!(
        students.decide(&db, "uncategorised.test.", "/"),
        Decision::Block(BlockReason::DenyList {
            entry: "uncategorised.test".to_string()
        })
    );
}

#[test]
fn unknown_group_falls_back_to_default() {
    let (db, set) = fixture();
    assert!(Arc::ptr_eq(set.for_group("nobody"), set.default_policy()));
    assert!(Arc::ptr_eq(set.for_group("default"), set.default_policy()));
    assert!(!Arc::ptr_eq(
        set.for_group("students"),
        set.default_policy()
    ));
    assert!(set.has_group("teachers"));
    assert!(!set.has_group("nobody"));
    assert!(matches!(
        set.for_group("nobody").decide(&db, "games.example", "/"),
        Decision::Block(_)
    ));
}

fn invalid_message(text: &str) -> String {
    let db = CategoryDb::parse(CATEGORIES, "cats").expect("categories parse");
    match PolicySet::parse(text, "policy.toml", &db) {
        Err(PolicyError::Invalid { origin, message }) => {
            assert_eq!(origin, "policy.toml");
            message
        }
        other => panic!("expected an invalid policy, got {other:?}"),
    }
}

#[test]
fn unknown_category_names_group_and_key() {
    let message = invalid_message(
        r#"
[groups.default]
blocked_categories = ["gamez"]
[groups.staff]
blocked_categories = ["adult", "nope"]
"#,
    );
    assert!(
        message.contains("groups.default.blocked_categories: unknown category \"gamez\""),
        "{message}"
    );
    assert!(
        message.contains("groups.staff.blocked_categories: unknown category \"nope\""),
        "{message}"
    );
}

#[test]
fn missing_default_group_is_an_error() {
    let message = invalid_message("[groups.staff]\nblocked_categories = [\"adult\"]\n");
    assert!(message.contains("groups.default: missing"), "{message}");
}

#[test]
fn invalid_domain_in_list_names_key_and_index() {
    let message =
        invalid_message("[groups.default]\nalways_deny = [\"ok.test\", \"bad domain\"]\n");
    assert!(
        message.contains("groups.default.always_deny[1]"),
        "{message}"
    );
}

#[test]
fn unknown_fields_are_rejected() {
    let message = invalid_message("[groups.default]\nblocked = [\"adult\"]\n");
    assert!(message.contains("unknown field"), "{message}");
    let message = invalid_message("[groups.default]\n[other]\n");
    assert!(message.contains("unknown field"), "{message}");
}

#[test]
fn specs_round_trip_through_json() {
    let specs = PolicySet::parse_specs(POLICIES, "policy.toml").expect("parses");
    let json = serde_json::to_string(&specs["students"]).expect("serialises");
    let back: PolicySpec = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, specs["students"]);
}
