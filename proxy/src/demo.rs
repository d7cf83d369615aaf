//! The deterministic generator of the demo filtering data (`scenarios/demo/`): the
//! category database, the group policies and the user table.
//!
//! Why generated: tens of thousands of realistic-looking rules are needed to measure the
//! proxy under a real-sized database, and a seeded generator keeps them reviewable as code
//! and reproducible byte for byte (a test checks the committed files against it).
//! Every generated domain ends in a reserved TLD (`.example`, `.test`, RFC 2606), so no
//! demo rule can ever name a real site.
//!
//! A module of its own rather than part of [`crate::filter`]: the data set spans the
//! category database, the policies and the users, and its tests load all three.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

/// Seed of the committed demo data.
pub const DEMO_SEED: u64 = 0x5c400_1da7a;
/// Number of generated domain rules in the committed demo data.
pub const DEMO_DOMAINS: usize = 40_000;
/// Number of generated path-prefix rules in the committed demo data.
pub const DEMO_PATH_RULES: usize = 300;

/// Categories blocked for every group (the load generator's blocked URLs come from
/// `adult`, `gambling` and `malware`).
pub const BLOCKED_FOR_ALL: [&str; 7] = [
    "adult",
    "gambling",
    "malware",
    "proxy-avoidance",
    "violence",
    "drugs",
    "weapons",
];
/// Categories additionally blocked for `students` and `default`.
pub const BLOCKED_FOR_STUDENTS: [&str; 4] = ["games", "social", "streaming", "chat"];
/// Categories allowed for every group (the load generator's allowed URLs come from these).
pub const ALLOWED_FOR_ALL: [&str; 8] = [
    "education",
    "news",
    "search",
    "reference",
    "technology",
    "health",
    "sports",
    "travel",
];

/// Each category with the words its generated domain names are made of.
const CATEGORIES: [(&str, &[&str]); 22] = [
    (
        "social",
        &["friends", "connect", "share", "profile", "circle", "buddy"],
    ),
    (
        "games",
        &["arcade", "play", "quest", "pixel", "puzzle", "level"],
    ),
    ("adult", &["xxx", "adult", "mature", "nsfw", "explicit"]),
    (
        "news",
        &["daily", "times", "herald", "gazette", "tribune", "report"],
    ),
    (
        "education",
        &["learn", "school", "academy", "tutor", "lesson", "study"],
    ),
    (
        "search",
        &["find", "seek", "lookup", "query", "index", "search"],
    ),
    (
        "video",
        &["video", "clips", "tube", "watch", "reel", "vlog"],
    ),
    (
        "shopping",
        &["shop", "store", "deals", "market", "cart", "outlet"],
    ),
    (
        "gambling",
        &["casino", "poker", "bet", "slots", "jackpot", "odds"],
    ),
    (
        "violence",
        &["gore", "fight", "brutal", "combat", "warzone"],
    ),
    (
        "drugs",
        &["pharma-rx", "weed", "pills", "highlife", "dealer"],
    ),
    ("weapons", &["guns", "ammo", "blade", "arms", "tactical"]),
    ("chat", &["chat", "talk", "messenger", "rooms", "gossip"]),
    (
        "streaming",
        &["stream", "live", "cast", "flix", "binge", "onair"],
    ),
    (
        "sports",
        &["goal", "league", "score", "match", "athlete", "stadium"],
    ),
    (
        "music",
        &["tunes", "beats", "melody", "radio", "lyrics", "band"],
    ),
    (
        "reference",
        &["wiki", "encyclo", "dictionary", "facts", "atlas"],
    ),
    (
        "technology",
        &["tech", "code", "devices", "gadget", "cloud", "byte"],
    ),
    (
        "health",
        &["health", "clinic", "wellness", "nutrition", "care"],
    ),
    (
        "travel",
        &["travel", "trips", "flights", "hotels", "journey", "tour"],
    ),
    (
        "proxy-avoidance",
        &["unblock", "hideme", "tunnel", "anonproxy", "vpnfree"],
    ),
    (
        "malware",
        &["freegift", "login-verify", "update-now", "prize", "crack"],
    ),
];

/// Second words, shared by all categories.
const TAILS: [&str; 12] = [
    "hub", "zone", "world", "online", "site", "net", "central", "plus", "now", "portal", "base",
    "spot",
];

/// Reserved top-level domains every generated domain ends in.
const TLDS: [&str; 2] = ["example", "test"];

/// Subdomain labels used for subdomain overrides.
const SUBDOMAINS: [&str; 6] = ["edu", "kids", "m", "learn", "games", "live"];

/// Path prefixes of path rules, with their category.
const PATHS: [(&str, &str); 8] = [
    ("/gaming", "games"),
    ("/learn", "education"),
    ("/news", "news"),
    ("/casino", "gambling"),
    ("/live", "streaming"),
    ("/chat", "chat"),
    ("/adult", "adult"),
    ("/docs", "reference"),
];

/// Hand-written rules the demo policy lists refer to, so that each list entry does
/// something visible.
const FIXED_RULES: [(&str, &str); 4] = [
    ("mathgames-school.example", "games"),
    ("war-history-archive.example", "violence"),
    ("staff-vpn-gateway.example", "proxy-avoidance"),
    ("classroom-video.example", "streaming"),
];

/// A small, dependency-free, stable PRNG (SplitMix64), so the output never changes with a
/// library version.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (the tiny modulo bias does not matter for demo data).
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The three generated demo files, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoData {
    /// `categories.txt`.
    pub categories: String,
    /// `policy.toml`.
    pub policy: String,
    /// `users.csv`.
    pub users: String,
}

impl DemoData {
    /// Writes the files into `dir` (created if missing).
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("categories.txt"), &self.categories)?;
        std::fs::write(dir.join("policy.toml"), &self.policy)?;
        std::fs::write(dir.join("users.csv"), &self.users)
    }
}

/// Generates the demo data: `domains` domain rules spread over the categories and
/// `path_rules` path-prefix rules, from `seed`. Same arguments, same bytes.
pub fn generate(seed: u64, domains: usize, path_rules: usize) -> DemoData {
    DemoData {
        categories: categories(seed, domains, path_rules),
        policy: policy(),
        users: users(),
    }
}

/// The committed demo data.
pub fn generate_default() -> DemoData {
    generate(DEMO_SEED, DEMO_DOMAINS, DEMO_PATH_RULES)
}

fn categories(seed: u64, domains: usize, path_rules: usize) -> String {
    let mut rng = SplitMix64(seed);
    let mut seen: HashSet<String> = FIXED_RULES.iter().map(|(d, _)| d.to_string()).collect();
    let mut out = String::with_capacity(domains * 32);
    out.push_str(
        "# Demo category database: `<domain>[/<path-prefix>] <category>`, one rule per line.\n\
         # Generated by `cargo run -p filter-proxy --example gen_demo` (seeded, deterministic);\n\
         # do not edit by hand. Every domain ends in a reserved TLD (.example, .test).\n\
         # A path rule (`host/prefix category`) applies only to URLs under that prefix.\n\
         \n# Hand-written rules referred to by policy.toml.\n",
    );
    for (domain, category) in FIXED_RULES {
        let _ = writeln!(out, "{domain} {category}");
    }

    // Domains by category, round robin so that every category gets its share.
    let mut by_category: Vec<Vec<String>> = vec![Vec::new(); CATEGORIES.len()];
    let mut made = 0;
    while made < domains {
        let slot = made % CATEGORIES.len();
        let (_, words) = CATEGORIES[slot];
        let domain = format!(
            "{}-{}-{}.{}",
            rng.pick(words),
            rng.pick(&TAILS),
            rng.below(10_000),
            rng.pick(&TLDS)
        );
        if seen.insert(domain.clone()) {
            by_category[slot].push(domain);
            made += 1;
        }
    }
    for ((category, _), list) in CATEGORIES.iter().zip(&by_category) {
        let _ = writeln!(out, "\n# {category}: {} domains", list.len());
        for domain in list {
            let _ = writeln!(out, "{domain} {category}");
        }
    }

    // Subdomain overrides: a more specific rule in another category (most specific wins).
    // Only on hosts of categories nobody blocks nor relies on as "allowed for all".
    let hosts_of = |name: &str| {
        CATEGORIES
            .iter()
            .position(|(c, _)| *c == name)
            .map(|i| &by_category[i])
            .expect("category is in CATEGORIES")
    };
    let neutral: Vec<&String> = ["video", "shopping", "music"]
        .iter()
        .flat_map(|c| hosts_of(c))
        .collect();
    out.push_str("\n# Subdomain overrides (most specific domain wins).\n");
    let mut overrides = HashSet::new();
    for _ in 0..path_rules / 2 {
        let host = rng.pick(&neutral);
        let sub = rng.pick(&SUBDOMAINS);
        if overrides.insert((sub, host)) {
            let category = match *sub {
                "edu" | "learn" => "education",
                "games" => "games",
                "live" => "streaming",
                _ => "reference",
            };
            let _ = writeln!(out, "{sub}.{host} {category}");
        }
    }

    out.push_str("\n# Path-prefix rules (checked before the domain rule, longest prefix first).\n");
    let mut paths = HashSet::new();
    while paths.len() < path_rules {
        let host = rng.pick(&neutral);
        let (prefix, category) = rng.pick(&PATHS);
        if paths.insert((host, prefix)) {
            let _ = writeln!(out, "{host}{prefix} {category}");
        }
    }
    out
}

fn policy() -> String {
    let quoted = |list: &[&str]| {
        list.iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all = quoted(&BLOCKED_FOR_ALL);
    let students = quoted(&BLOCKED_FOR_STUDENTS);
    format!(
        "\
# Demo group policies. Generated by `cargo run -p filter-proxy --example gen_demo`.
# Decision order: always_allow, then always_deny, then blocked_categories.
# Lists match the host and all its subdomains. `default` applies to unknown identities
# and to groups without a policy of their own.

[groups.default]
blocked_categories = [{all},
                      {students}]
# An educational games site stays reachable although `games` is blocked.
always_allow = [\"mathgames-school.example\"]
# Uncategorised sites the school denies explicitly.
always_deny = [\"homework-answers.test\", \"exam-leaks.test\"]

[groups.students]
blocked_categories = [{all},
                      {students}]
# Educational games and the classroom video platform stay reachable.
always_allow = [\"mathgames-school.example\", \"classroom-video.example\"]
# Answer sites and leaked exams, denied outright.
always_deny = [\"homework-answers.test\", \"exam-leaks.test\", \"essay-mill.test\"]

[groups.teachers]
blocked_categories = [{all}]
# The history department's archive (categorised `violence`).
always_allow = [\"war-history-archive.example\"]
# Leaked exams stay denied for teachers too.
always_deny = [\"exam-leaks.test\"]

[groups.staff]
blocked_categories = [{all}]
# The staff remote-access gateway (categorised `proxy-avoidance`).
always_allow = [\"staff-vpn-gateway.example\"]
# A known phishing host, denied whatever its category.
always_deny = [\"payroll-login-verify.test\"]
"
    )
}

fn users() -> String {
    let mut out = String::from("user,group,password\n");
    let mut add = |group: &str, prefix: &str, width: usize, count: usize| {
        for n in 1..=count {
            let user = format!("{prefix}{n:0width$}");
            let _ = writeln!(out, "{user},{group},pw-{user}");
        }
    };
    add("students", "student", 4, 3000);
    add("teachers", "teacher", 3, 200);
    add("staff", "staff", 2, 50);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::CategoryDb;
    use crate::identity::load_users;
    use crate::policy::{Decision, PolicySet};

    #[test]
    fn generation_is_deterministic_and_seeded() {
        let a = generate(7, 2_000, 40);
        let b = generate(7, 2_000, 40);
        assert_eq!(a, b);
        assert_ne!(a.categories, generate(8, 2_000, 40).categories);
    }

    #[test]
    fn generated_categories_parse_with_the_requested_sizes() {
        let data = generate(7, 2_000, 40);
        let db = CategoryDb::parse(&data.categories, "generated").expect("generated data parses");
        assert_eq!(db.category_count(), CATEGORIES.len());
        // Domains + fixed rules + path rules + subdomain overrides (up to path_rules / 2).
        let base = 2_000 + FIXED_RULES.len() + 40;
        assert!((base..=base + 20).contains(&db.len()), "{}", db.len());
        for line in data.categories.lines().filter(|l| !l.starts_with('#')) {
            if let Some(target) = line.split_whitespace().next() {
                let host = target.split('/').next().expect("split yields one item");
                assert!(
                    host.ends_with(".example") || host.ends_with(".test"),
                    "{host}"
                );
            }
        }
    }

    fn committed(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/demo")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    #[test]
    fn committed_files_match_the_generator_byte_for_byte() {
        let data = generate_default();
        assert!(
            data.categories == committed("categories.txt"),
            "categories.txt differs: run the gen_demo example"
        );
        assert!(
            data.policy == committed("policy.toml"),
            "policy.toml differs: run the gen_demo example"
        );
        assert!(
            data.users == committed("users.csv"),
            "users.csv differs: run the gen_demo example"
        );
    }

    #[test]
    fn committed_files_load_and_keep_the_load_generator_contract() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo");
        let db = CategoryDb::load(&dir.join("categories.txt")).expect("categories load");
        assert!(db.len() >= DEMO_DOMAINS + DEMO_PATH_RULES, "{}", db.len());
        let set = PolicySet::load(&dir.join("policy.toml"), &db).expect("policies load");
        let users = load_users(&dir.join("users.csv")).expect("users load");
        assert_eq!(users.len(), 3250);

        let mut checked = 0;
        for line in committed("categories.txt").lines() {
            let mut fields = line.split_whitespace();
            let (Some(host), Some(category)) = (fields.next(), fields.next()) else {
                continue;
            };
            if host.starts_with('#') || host.contains('/') {
                continue;
            }
            let blocked = BLOCKED_FOR_ALL[..3].contains(&category);
            if !blocked && !ALLOWED_FOR_ALL.contains(&category) {
                continue;
            }
            for group in ["default", "students", "teachers", "staff"] {
                let decision = set.for_group(group).decide(&db, host, "/");
                assert_eq!(
                    matches!(decision, Decision::Block(_)),
                    blocked,
                    "{group} {host} ({category}): {decision:?}"
                );
            }
            checked += 1;
        }
        assert!(checked > 20_000, "{checked}");
        for group in ["default", "students", "teachers", "staff"] {
            assert!(set.has_group(group), "{group}");
        }
    }

    #[test]
    fn users_table_has_the_demo_roster() {
        let users = users();
        let lines: Vec<&str> = users.lines().collect();
        assert_eq!(lines.len(), 1 + 3000 + 200 + 50);
        assert_eq!(lines[1], "student0001,students,pw-student0001");
        assert_eq!(lines[3000], "student3000,students,pw-student3000");
        assert_eq!(lines[3001], "teacher001,teachers,pw-teacher001");
        assert_eq!(lines[3250], "staff50,staff,pw-staff50");
    }
}
