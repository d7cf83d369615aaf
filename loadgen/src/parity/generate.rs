//! Generates a replay corpus from the category database: hits and misses of each rule,
//! and near-misses built with the variations two filters are known to treat differently
//! (parent domains, trailing dots, case, percent-encoding, path normalisation, prefix
//! boundaries, IDN, IP literals, ports). Each entry records its class and exact variation.
//!
//! Deterministic for a seed, so a change of verdict between two replays is the filters'
//! doing, not the corpus's. Half the base rules come from categories the group blocks and
//! half from ones it allows, so both directions of a difference can show.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::corpus::{Class, Entry, Method};
use super::db::{Database, GroupPolicy, Rule};
use super::error::ParityError;

/// Loopback in every numeric spelling a URL parser might accept: all of them are
/// 127.0.0.1 or ::1, so whichever way a filter reads them the traffic stays local.
const LOOPBACK_FORMS: [(&str, &str); 9] = [
    ("127.0.0.1", "dotted"),
    ("2130706433", "decimal"),
    ("0x7f000001", "hex"),
    ("0177.0.0.1", "octal"),
    ("127.1", "short"),
    ("0x7f.0.0.1", "hex-octet"),
    ("127.0.0.1.", "trailing-dot"),
    ("[::1]", "ipv6"),
    ("[::ffff:127.0.0.1]", "ipv4-mapped-ipv6"),
];

/// Look-alike letters for IDN near-misses: Latin letter -> Cyrillic twin.
const LOOKALIKES: [(char, char); 5] = [
    ('a', '\u{430}'),
    ('e', '\u{435}'),
    ('o', '\u{43e}'),
    ('p', '\u{440}'),
    ('c', '\u{441}'),
];

/// Classes the generator produces, with their relative weights in the corpus.
const WEIGHTS: [(Class, u32); 10] = [
    (Class::Exact, 6),
    (Class::ParentDomain, 3),
    (Class::TrailingDot, 2),
    (Class::Case, 2),
    (Class::PercentEncoding, 3),
    (Class::PathNormalisation, 3),
    (Class::PathBoundary, 3),
    (Class::Idn, 1),
    (Class::IpLiteral, 1),
    (Class::Port, 2),
];

/// Rules split by kind and by the group's verdict on their category.
struct Pools<'a> {
    blocked_domains: Vec<&'a Rule>,
    allowed_domains: Vec<&'a Rule>,
    blocked_paths: Vec<&'a Rule>,
    allowed_paths: Vec<&'a Rule>,
}

impl<'a> Pools<'a> {
    fn new(db: &'a Database, policy: &GroupPolicy) -> Self {
        let mut pools = Pools {
            blocked_domains: Vec::new(),
            allowed_domains: Vec::new(),
            blocked_paths: Vec::new(),
            allowed_paths: Vec::new(),
        };
        for rule in &db.rules {
            let blocked = policy.blocks(&rule.category);
            let pool = match (rule.path.is_some(), blocked) {
                (false, true) => &mut pools.blocked_domains,
                (false, false) => &mut pools.allowed_domains,
                (true, true) => &mut pools.blocked_paths,
                (true, false) => &mut pools.allowed_paths,
            };
            pool.push(rule);
        }
        pools
    }

    /// A domain rule, blocked or allowed with equal chance (when both exist).
    fn domain(&self, rng: &mut StdRng) -> Option<&'a Rule> {
        pick_half(rng, &self.blocked_domains, &self.allowed_domains)
    }

    /// A path rule, blocked or allowed with equal chance (when both exist).
    fn path(&self, rng: &mut StdRng) -> Option<&'a Rule> {
        pick_half(rng, &self.blocked_paths, &self.allowed_paths)
    }
}

fn pick_half<'a>(rng: &mut StdRng, a: &[&'a Rule], b: &[&'a Rule]) -> Option<&'a Rule> {
    let list = match (a.is_empty(), b.is_empty()) {
        (true, true) => return None,
        (false, true) => a,
        (true, false) => b,
        (false, false) => {
            if rng.random_bool(0.5) {
                a
            } else {
                b
            }
        }
    };
    Some(list[rng.random_range(0..list.len())])
}

/// Builds one entry.
/// The variations that spell the same host another way (a trailing dot, a port): a GET
/// of the rule's domain, a CONNECT to it, and, for a path rule, a GET below the path on
/// its domain. `hosts` is those three targets' hosts, `rules` the domain and path rules.
fn suffixed(
    class: Class,
    hosts: [&str; 3],
    rules: [&str; 2],
    below: Option<String>,
    details: [&str; 3],
) -> Vec<Entry> {
    let mut v = vec![
        entry(
            class,
            Method::Get,
            format!("http://{}/", hosts[0]),
            rules[0],
            details[0],
        ),
        entry(
            class,
            Method::Connect,
            hosts[1].to_owned(),
            rules[0],
            details[1],
        ),
    ];
    if let Some(below) = below {
        let target = format!("http://{}{below}", hosts[2]);
        v.push(entry(class, Method::Get, target, rules[1], details[2]));
    }
    v
}

fn entry(class: Class, method: Method, target: String, rule: &str, detail: &str) -> Entry {
    Entry {
        class,
        method,
        target,
        rule: rule.to_owned(),
        detail: detail.to_owned(),
    }
}

/// Generates about `size` entries (at least one of each generated class when `size`
/// allows) from `db` for `policy`'s group, deterministically for `seed`.
pub fn generate(
    db: &Database,
    policy: &GroupPolicy,
    size: usize,
    seed: u64,
) -> Result<Vec<Entry>, ParityError> {
    let pools = Pools::new(db, policy);
    if pools.blocked_domains.is_empty() && pools.allowed_domains.is_empty() {
        return Err(ParityError::Input(
            "the database has no domain rules".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let total_weight: u32 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut out = Vec::with_capacity(size + 16);
    // Policy lists first: each always-allow and always-deny entry once, as written.
    for (list, detail) in [
        (&policy.always_allow, "always-allow"),
        (&policy.always_deny, "always-deny"),
    ] {
        for domain in list.iter().take(size / 4) {
            let rule = format!("{detail}:{domain}");
            out.push(entry(
                Class::Exact,
                Method::Get,
                format!("http://{domain}/"),
                &rule,
                detail,
            ));
        }
    }
    // Bounded: every round adds at least one entry unless the pools are empty, which
    // was ruled out above; the cap guards against a class producing nothing forever.
    let mut rounds = 0usize;
    while out.len() < size && rounds < size.saturating_mul(4) + 64 {
        rounds += 1;
        let mut roll = rng.random_range(0..total_weight);
        let class = WEIGHTS
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map(|(c, _)| *c)
            .expect("the roll is below the total weight");
        let page = rng.random_range(0..1_000_000u32);
        out.extend(variations(class, &pools, &mut rng, page));
    }
    out.truncate(size.max(1));
    Ok(out)
}

/// The entries of one variation of `class` around a randomly chosen rule.
fn variations(class: Class, pools: &Pools<'_>, rng: &mut StdRng, page: u32) -> Vec<Entry> {
    let mut v = Vec::new();
    let domain_rule = pools.domain(rng);
    let path_rule = pools.path(rng).or(domain_rule);
    let Some(d) = domain_rule else {
        return v;
    };
    let Some(p) = path_rule else {
        return v;
    };
    let dom = d.domain.as_str();
    let drule = d.text();
    let pdom = p.domain.as_str();
    let prefix = p.path.as_deref().unwrap_or("/");
    let prule = p.text();
    let page = format!("page-{page}");
    let get = |host: &str, path: &str| format!("http://{host}{path}");
    match class {
        Class::Exact => {
            v.push(entry(
                class,
                Method::Get,
                get(dom, &format!("/{page}")),
                &drule,
                "domain",
            ));
            v.push(entry(
                class,
                Method::Connect,
                format!("{dom}:443"),
                &drule,
                "connect",
            ));
            if p.path.is_some() {
                let below = format!("{prefix}/{page}");
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, prefix),
                    &prule,
                    "path-exact",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &below),
                    &prule,
                    "path-below",
                ));
                let sibling = format!("/other-{page}");
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &sibling),
                    &prule,
                    "path-outside",
                ));
            }
            let miss = format!("unlisted-{}.test", rng.random_range(0..100_000u32));
            v.push(entry(class, Method::Get, get(&miss, "/"), "-", "unlisted"));
        }
        Class::ParentDomain => {
            let path = format!("/{page}");
            v.push(entry(
                class,
                Method::Get,
                get(&format!("www.{dom}"), &path),
                &drule,
                "subdomain",
            ));
            v.push(entry(
                class,
                Method::Get,
                get(&format!("a.b.{dom}"), &path),
                &drule,
                "deep-subdomain",
            ));
            v.push(entry(
                class,
                Method::Connect,
                format!("www.{dom}:443"),
                &drule,
                "subdomain-connect",
            ));
            v.push(entry(
                class,
                Method::Get,
                get(&format!("x{dom}"), &path),
                &drule,
                "label-prefix",
            ));
            if p.path.is_some() {
                let below = format!("{prefix}/{page}");
                v.push(entry(
                    class,
                    Method::Get,
                    get(&format!("www.{pdom}"), &below),
                    &prule,
                    "subdomain-path",
                ));
            }
        }
        Class::TrailingDot => v.extend(suffixed(
            class,
            [
                &format!("{dom}."),
                &format!("{dom}.:443"),
                &format!("{pdom}."),
            ],
            [&drule, &prule],
            p.path.is_some().then(|| format!("{prefix}/{page}")),
            ["host", "connect", "path-rule-host"],
        )),
        Class::Case => {
            v.push(entry(
                class,
                Method::Get,
                get(&dom.to_ascii_uppercase(), "/"),
                &drule,
                "host-upper",
            ));
            v.push(entry(
                class,
                Method::Connect,
                format!("{}:443", dom.to_ascii_uppercase()),
                &drule,
                "connect-upper",
            ));
            if p.path.is_some() {
                let upper = format!("{}/{page}", prefix.to_ascii_uppercase());
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &upper),
                    &prule,
                    "path-upper",
                ));
                let first = capitalise_first(prefix);
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("{first}/{page}")),
                    &prule,
                    "path-capitalised",
                ));
            }
        }
        Class::PercentEncoding => {
            if p.path.is_some() {
                let tail = format!("/{page}");
                v.push(entry(
                    class,
                    Method::Get,
                    get(
                        pdom,
                        &format!("{}{tail}", encode_first_letter(prefix, false)),
                    ),
                    &prule,
                    "encoded-unreserved",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(
                        pdom,
                        &format!("{}{tail}", encode_first_letter(prefix, true)),
                    ),
                    &prule,
                    "encoded-unreserved-upper-hex",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("{}{tail}", encode_all(prefix))),
                    &prule,
                    "encoded-whole-prefix",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("{prefix}%2F{page}")),
                    &prule,
                    "encoded-slash-after",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("/%2F{}{tail}", &prefix[1..])),
                    &prule,
                    "encoded-slash-before",
                ));
            }
        }
        Class::PathNormalisation => {
            if p.path.is_some() {
                let rest = &prefix[1..];
                let tail = format!("/{page}");
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("//{rest}{tail}")),
                    &prule,
                    "double-slash",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("/./{rest}{tail}")),
                    &prule,
                    "dot-segment",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("/x/../{rest}{tail}")),
                    &prule,
                    "dot-dot-segment",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("{prefix}//{page}")),
                    &prule,
                    "double-slash-inside",
                ));
                v.push(entry(
                    class,
                    Method::Get,
                    get(pdom, &format!("{prefix}/./{page}")),
                    &prule,
                    "dot-segment-inside",
                ));
            }
        }
        Class::PathBoundary => {
            if p.path.is_some() {
                for (suffix, detail) in [
                    ("foo", "suffix-letters"),
                    ("/", "trailing-slash"),
                    ("?q=1", "query"),
                    ("=1", "equals"),
                    ("&x=1", "ampersand"),
                    (";x", "semicolon"),
                    (".html", "dot-suffix"),
                    ("-x", "hyphen"),
                ] {
                    v.push(entry(
                        class,
                        Method::Get,
                        get(pdom, &format!("{prefix}{suffix}")),
                        &prule,
                        detail,
                    ));
                }
            }
        }
        Class::Idn => {
            if let Some(lookalike) = lookalike_punycode(dom) {
                v.push(entry(
                    class,
                    Method::Get,
                    get(&lookalike, "/"),
                    &drule,
                    "lookalike-punycode",
                ));
            }
            if let Ok(sub) = idna::domain_to_ascii(&format!("b\u{fc}cher.{dom}")) {
                v.push(entry(
                    class,
                    Method::Get,
                    get(&sub, "/"),
                    &drule,
                    "unicode-subdomain-punycode",
                ));
                v.push(entry(
                    class,
                    Method::Connect,
                    format!("{sub}:443"),
                    &drule,
                    "unicode-subdomain-connect",
                ));
            }
        }
        Class::IpLiteral => {
            let (form, detail) = LOOPBACK_FORMS[rng.random_range(0..LOOPBACK_FORMS.len())];
            v.push(entry(
                class,
                Method::Get,
                get(form, &format!("/{page}")),
                "-",
                detail,
            ));
            v.push(entry(
                class,
                Method::Connect,
                format!("{form}:443"),
                "-",
                &format!("{detail}-connect"),
            ));
        }
        Class::Port => v.extend(suffixed(
            class,
            [
                &format!("{dom}:8080"),
                &format!("{dom}:8443"),
                &format!("{pdom}:8080"),
            ],
            [&drule, &prule],
            p.path.is_some().then(|| format!("{prefix}/{page}")),
            ["other-port", "connect-other-port", "path-rule-other-port"],
        )),
        Class::User => {}
    }
    v
}

/// `/gaming` -> `/Gaming`.
fn capitalise_first(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    let mut done = false;
    for c in prefix.chars() {
        if !done && c.is_ascii_alphabetic() {
            out.push(c.to_ascii_uppercase());
            done = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// `/gaming` -> `/%67aming`: the first letter or digit percent-encoded. With `upper_hex`,
/// the first one whose code has a hex letter (`l` = `%6C`, `o` = `%6F`), in upper case,
/// so the spelling really differs from the lower-case one; the first letter when none has.
fn encode_first_letter(prefix: &str, upper_hex: bool) -> String {
    let has_hex_letter = |c: char| {
        format!("{:02x}", c as u8)
            .bytes()
            .any(|b| b.is_ascii_alphabetic())
    };
    let target = prefix
        .char_indices()
        .find(|&(_, c)| c.is_ascii_alphanumeric() && (!upper_hex || has_hex_letter(c)))
        .or_else(|| {
            prefix
                .char_indices()
                .find(|&(_, c)| c.is_ascii_alphanumeric())
        });
    match target {
        Some((at, c)) => format!(
            "{}{}{}",
            &prefix[..at],
            hex(c as u8, upper_hex),
            &prefix[at + 1..]
        ),
        None => prefix.to_owned(),
    }
}

/// Every byte after the leading slash percent-encoded (`/ab` -> `/%61%62`).
fn encode_all(prefix: &str) -> String {
    let mut out = String::from("/");
    for b in prefix.bytes().skip(1) {
        out.push_str(&hex(b, false));
    }
    out
}

fn hex(b: u8, upper: bool) -> String {
    if upper {
        format!("%{b:02X}")
    } else {
        format!("%{b:02x}")
    }
}

/// The domain with its first look-alike-able letter swapped for a Cyrillic twin, in
/// punycode (`xn--...`): a different name that reads the same.
fn lookalike_punycode(domain: &str) -> Option<String> {
    let (first, rest) = domain.split_once('.')?;
    let (at, twin) = first.char_indices().find_map(|(i, c)| {
        LOOKALIKES
            .iter()
            .find(|(l, _)| *l == c)
            .map(|(_, t)| (i, *t))
    })?;
    let mut label = String::from(&first[..at]);
    label.push(twin);
    label.push_str(&first[at + 1..]);
    idna::domain_to_ascii(&format!("{label}.{rest}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn demo() -> (Database, GroupPolicy) {
        let db = Database::parse(
            "games.test games\nnews.test news\nshop.test shopping\nshop.test/gaming games\n\
             gamesite.test/learn education\n",
            "db",
        )
        .unwrap();
        let policy = GroupPolicy::parse(
            "[groups.students]\nblocked_categories = [\"games\"]\nalways_deny = [\"deny.test\"]\n",
            "p",
            "students",
        )
        .unwrap();
        (db, policy)
    }

    #[test]
    fn every_generated_class_appears_with_its_variations_recorded() {
        let (db, policy) = demo();
        let corpus = generate(&db, &policy, 3000, 7).unwrap();
        assert_eq!(corpus.len(), 3000);
        let classes: HashSet<Class> = corpus.iter().map(|e| e.class).collect();
        for (class, _) in WEIGHTS {
            assert!(classes.contains(&class), "{class} missing");
        }
        let details: HashSet<&str> = corpus.iter().map(|e| e.detail.as_str()).collect();
        for d in [
            "always-deny",
            "subdomain",
            "label-prefix",
            "encoded-slash-after",
            "double-slash",
            "dot-segment",
            "suffix-letters",
            "equals",
            "lookalike-punycode",
            "hex",
            "octal",
            "connect-other-port",
            "path-upper",
        ] {
            assert!(details.contains(d), "variation {d} missing");
        }
        // Every entry is a target the replay can send, and carries the rule it came from.
        let text = super::super::corpus::render(&corpus);
        assert_eq!(super::super::corpus::parse(&text, "gen").unwrap(), corpus);
        let e = corpus
            .iter()
            .find(|e| e.detail == "encoded-slash-after")
            .unwrap();
        assert!(e.target.contains("%2F") && e.rule.contains('/'), "{e:?}");
        let e = corpus
            .iter()
            .find(|e| e.detail == "suffix-letters")
            .unwrap();
        assert!(e
            .target
            .ends_with(&format!("{}foo", e.rule.split_once('/').unwrap().1)));
    }

    #[test]
    fn the_same_seed_gives_the_same_corpus_and_another_seed_another() {
        let (db, policy) = demo();
        let a = generate(&db, &policy, 500, 1).unwrap();
        assert_eq!(a, generate(&db, &policy, 500, 1).unwrap());
        assert_ne!(a, generate(&db, &policy, 500, 2).unwrap());
    }

    #[test]
    fn ip_literals_are_loopback_only() {
        for (form, _) in LOOPBACK_FORMS {
            let bare = form.trim_matches(['[', ']']).trim_end_matches('.');
            let ok = matches!(bare, "::1" | "::ffff:127.0.0.1")
                || bare.starts_with("127.")
                || bare.starts_with("0x7f")
                || bare.starts_with("0177.")
                || bare == "2130706433";
            assert!(ok, "{form} is not a loopback spelling");
        }
    }

    #[test]
    fn encodings_and_lookalikes() {
        assert_eq!(encode_first_letter("/learn", false), "/%6cearn");
        assert_eq!(encode_first_letter("/learn", true), "/%6Cearn");
        assert_eq!(encode_first_letter("/chat", false), "/%63hat");
        // No letter of `chat` has a hex letter in its code: the first one is taken.
        assert_eq!(encode_first_letter("/chat", true), "/%63hat");
        assert_eq!(encode_first_letter("/docs", true), "/d%6Fcs");
        assert_eq!(encode_all("/ab"), "/%61%62");
        assert_eq!(capitalise_first("/gaming"), "/Gaming");
        let l = lookalike_punycode("shop.test").unwrap();
        assert!(l.starts_with("xn--") && l.ends_with(".test"), "{l}");
        assert!(lookalike_punycode("xyz.test").is_none());
    }
}
