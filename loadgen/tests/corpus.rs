//! Scenario mixes, the roster and the URL corpus built from the demo data.

use std::collections::HashSet;
use std::path::Path;

use loadgen::corpus::{Addressing, Corpus};
use loadgen::mix::{Mix, MixError};
use loadgen::roster::Roster;
use rand::SeedableRng;

fn school_day() -> Mix {
    Mix::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/school-day.toml")).unwrap()
}

#[test]
fn the_school_day_mix_loads_with_all_six_scenarios() {
    let mix = school_day();
    for name in loadgen::mix::SCENARIOS {
        assert!(mix.weight(name) > 0, "{name}");
    }
    let roster = Roster::load(&mix.roster, mix.roster_seed).unwrap();
    let groups = roster.group_counts();
    assert_eq!(groups.get("students"), Some(&3000));
    assert_eq!(groups.get("teachers"), Some(&200));
    assert_eq!(groups.get("staff"), None);
    // Shuffled: the first users are not all of one group.
    let first: HashSet<String> = (0..50).map(|i| roster.get(i).group.clone()).collect();
    assert_eq!(first.len(), 2);
    let someone = roster.get(0);
    let expected = format!("pw-{}", someone.user);
    assert_eq!(someone.password, expected);
    assert!(someone
        .proxy_authorization
        .to_str()
        .unwrap()
        .starts_with("Basic "));
}

#[test]
fn a_mix_with_an_unknown_scenario_or_key_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/school-day.toml"),
    )
    .unwrap()
    .replace(
        "\"demo/",
        &format!(
            "\"{}/",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scenarios/demo")
                .display()
        ),
    );
    let path = dir.path().join("mix.toml");
    std::fs::write(&path, base.replace("cors_xhr = 8", "cors_xhrr = 8")).unwrap();
    let err = Mix::load(&path).unwrap_err();
    assert!(matches!(err, MixError::Invalid { .. }));
    assert!(err.to_string().contains("weights.cors_xhrr"), "{err}");
    std::fs::write(&path, base.replace("zipf_exponent", "zipf_exp")).unwrap();
    let err = Mix::load(&path).unwrap_err().to_string();
    assert!(err.contains("zipf_exp"), "{err}");
}

#[test]
fn the_corpus_keeps_only_hosts_whose_answer_is_certain() {
    let mix = school_day();
    let corpus = Corpus::build(&mix, Addressing::Proxy).unwrap();
    assert_eq!(corpus.allowed.len(), mix.corpus.allowed_urls);
    assert_eq!(corpus.blocked.len(), mix.corpus.blocked_urls);
    let categories = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo/categories.txt"),
    )
    .unwrap();
    let blocked_hosts: HashSet<&str> = categories
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, c)| {
            ![
                "education",
                "news",
                "search",
                "reference",
                "technology",
                "health",
                "sports",
                "travel",
            ]
            .contains(c)
        })
        .map(|(t, _)| t.split('/').next().unwrap())
        .collect();
    for u in &corpus.allowed {
        let host = u
            .url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap();
        assert!(
            !blocked_hosts.contains(host),
            "{host} has a non-allowed rule"
        );
        assert!(u.url.ends_with(&format!("/bytes/{}", u.size)));
    }
    assert!(corpus.allowed_https[0].url.starts_with("https://"));
    assert!(corpus.downloads.iter().all(|d| d.size >= 4 << 20));

    let direct = Corpus::build(
        &mix,
        Addressing::Direct {
            http: "127.0.0.1:1111".parse().unwrap(),
            https: "127.0.0.1:2222".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(direct.allowed[0].url.contains(":1111/"));
    assert!(direct.allowed_https[0].url.contains(":2222/"));
}

#[test]
fn zipf_ranks_favour_the_head_of_the_corpus() {
    let corpus = Corpus::build(&school_day(), Addressing::Proxy).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut counts = vec![0u32; corpus.allowed.len()];
    for _ in 0..100_000 {
        counts[corpus.zipf_rank(&mut rng)] += 1;
    }
    // With exponent 1, rank 1 is drawn about twice as often as rank 2 and ten
    // times as often as rank 10.
    let ratio_2 = f64::from(counts[0]) / f64::from(counts[1]);
    let ratio_10 = f64::from(counts[0]) / f64::from(counts[9]);
    assert!((1.7..2.3).contains(&ratio_2), "{ratio_2}");
    assert!((7.0..13.0).contains(&ratio_10), "{ratio_10}");
    assert!(
        counts.iter().skip(100).any(|c| *c > 0),
        "the tail is reached too"
    );
}
