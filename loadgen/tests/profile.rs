//! Load profiles: the shipped ones load, bad ones are refused naming the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::profile::{PolicyStore, Profile, ProfileError};

fn profiles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles")
}

#[test]
fn every_shipped_profile_loads() {
    for name in ["ci", "peak", "soak", "spike"] {
        let p = Profile::load(&profiles_dir().join(format!("{name}.toml")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(p.name, name);
        let total: Duration = p.stages.iter().map(|s| s.over).sum();
        assert_eq!(total, p.duration, "{name}");
        assert!(p.warmup < p.duration);
    }
    let ci = Profile::load(&profiles_dir().join("ci.toml")).unwrap();
    assert!(ci.duration <= Duration::from_secs(90));
    assert_eq!(ci.target_rate, Some(300.0));
    let soak = Profile::load(&profiles_dir().join("soak.toml")).unwrap();
    assert_eq!(soak.policy_store, PolicyStore::Redis);
    assert_eq!(soak.duration, Duration::from_secs(30 * 60));
}

fn parse(text: &str) -> Result<Profile, ProfileError> {
    let base = profiles_dir();
    Profile::parse(text, &base, "test.toml")
}

const GOOD: &str = r#"
name = "t"
users = 10
duration = "20s"
warmup = "5s"
scenario_mix = "../scenarios/school-day.toml"
[ramp]
increase_rate = 5
"#;

#[test]
fn a_misspelt_key_is_refused_by_name() {
    let text = GOOD.replace("users = 10", "userz = 10");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("userz"), "{err}");
    let text = GOOD.replace("increase_rate = 5", "increase_rat = 5");
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("increase_rat"), "{err}");
}

#[test]
fn every_invalid_value_is_reported_with_its_key() {
    let text = r#"
name = "t"
users = 0
duration = "20 parsecs"
warmup = "5s"
target_rate = -3
scenario_mix = "nowhere.toml"
policy_store = "etcd"
profile_phases = ["lunch"]
[ramp]
increase_rate = 5
increase_time = "3s"
"#;
    let err = parse(text).unwrap_err();
    let ProfileError::Invalid { errors, .. } = &err else {
        panic!("expected a validation error, got {err}");
    };
    for key in [
        "users:",
        "duration:",
        "target_rate:",
        "scenario_mix:",
        "policy_store:",
        "profile_phases[0]:",
        "ramp:",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(key)),
            "{key} missing in {errors:?}"
        );
    }
}

#[test]
fn stages_must_add_up_to_the_duration() {
    let text = format!(
        "{GOOD}\n[[stages]]\nname = \"up\"\nusers = 10\nover = \"5s\"\n[[stages]]\nname = \"hold\"\nusers = 20\nover = \"5s\"\n"
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(err.contains("stages: lengths add up to 10s"), "{err}");
    assert!(err.contains("stages[1].users"), "{err}");
}

#[test]
fn derived_plan_and_overrides() {
    let p = parse(GOOD).unwrap();
    assert_eq!(p.goose_test_plan(), "10,2s;10,18s;0,0s");
    let short = p
        .clone()
        .with_overrides(Some(Duration::from_secs(6)), Some(4));
    assert_eq!(short.users, 4);
    assert_eq!(short.duration, Duration::from_secs(6));
    assert_eq!(short.warmup, Duration::from_secs(2));
    assert_eq!(short.goose_test_plan(), "4,1s;4,5s;0,0s");

    let spike = Profile::load(&profiles_dir().join("spike.toml")).unwrap();
    let short = spike.with_overrides(Some(Duration::from_secs(18)), Some(150));
    let total: Duration = short.stages.iter().map(|s| s.over).sum();
    assert_eq!(total, Duration::from_secs(18));
    assert!(short.stages.iter().all(|s| s.users <= 150));
    assert_eq!(short.stages[2].users, 150);
}

/// Every shipped profile split over uneven worker counts: users, each stage's users and
/// the rates add up to the whole run's, and stage lengths are the same on every worker.
#[test]
fn segments_of_every_profile_add_up_to_the_whole() {
    use loadgen::segment::Segment;
    for name in ["ci", "peak", "soak", "spike"] {
        let whole = Profile::load(&profiles_dir().join(format!("{name}.toml"))).unwrap();
        for n in [2u64, 3, 5, 7] {
            let parts: Vec<Profile> = (1..=n)
                .filter_map(|i| whole.clone().segment(Segment::new(i, n).unwrap()).ok())
                .collect();
            if parts.len() < n as usize {
                assert!(
                    whole.users < n,
                    "{name} over {n}: only too few users may refuse"
                );
                continue;
            }
            assert_eq!(
                parts.iter().map(|p| p.users).sum::<u64>(),
                whole.users,
                "{name}/{n}"
            );
            for (k, stage) in whole.stages.iter().enumerate() {
                let users: u64 = parts.iter().map(|p| p.stages[k].users).sum();
                assert_eq!(users, stage.users, "{name}/{n} stage {k}");
                assert!(parts.iter().all(|p| p.stages[k].over == stage.over));
            }
            let rate: f64 = parts.iter().filter_map(|p| p.target_rate).sum();
            assert!(
                (rate - whole.target_rate.unwrap_or(0.0)).abs() < 1e-6,
                "{name}/{n}"
            );
            let ramp: f64 = parts.iter().map(|p| p.ramp_rate).sum();
            assert!((ramp - whole.ramp_rate).abs() < 1e-6, "{name}/{n}");
        }
    }
    let one = parse(GOOD).unwrap().with_overrides(None, Some(2));
    let err = one.segment(Segment::new(2, 3).unwrap()).unwrap_err();
    assert!(err.to_string().contains("gets no users"), "{err}");
}
