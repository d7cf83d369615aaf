//! Appliance runs end to end: the real `filter-proxy` and `filter-proxy appliance`
//! binaries, the test origin, a RADIUS stream of a few hundred sessions and a few seconds
//! of traffic from per-user loopback addresses; plus the `[appliance]` profile checks.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use loadgen::profile::{Profile, ProfileError};
use serde_json::Value;

mod built;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives inside the workspace")
        .to_path_buf()
}

fn loadgen_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadgen"))
}

fn proxy_bin() -> PathBuf {
    built::workspace_bin("filter-proxy")
}

fn report_bin() -> PathBuf {
    built::workspace_bin("perf-report")
}

/// An appliance profile: 60 users, 300 churn sessions, 60 req/s.
fn profile_text(extra: &str) -> String {
    format!(
        r#"name = "appliance"
users = 60
duration = "8s"
warmup = "2s"
target_rate = 60
scenario_mix = "{mix}"
[ramp]
increase_time = "0s"
[appliance]
secret = "test-radius-secret"
radius_rate = 400
interim_interval = "2s"
churn_users = 300
{extra}
"#,
        mix = repo_root().join("scenarios/school-day.toml").display()
    )
}

fn run(dir: &Path, extra: &str) -> (Output, PathBuf) {
    let profile = dir.join("appliance.toml");
    std::fs::write(&profile, profile_text(extra)).unwrap();
    let out = dir.join("run");
    let output = Command::new(loadgen_bin())
        .arg("run")
        .arg("--profile")
        .arg(&profile)
        .arg("--out")
        .arg(&out)
        .arg("--proxy-bin")
        .arg(proxy_bin())
        .arg("--proxy-config")
        .arg(repo_root().join("scenarios/demo/proxy.toml"))
        .arg("--quiet")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .expect("run loadgen");
    (output, out)
}

fn run_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_short_run_carries_every_identity_and_renders_the_section() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run(dir.path(), "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "loadgen run failed: {stderr}");
    let doc = run_json(&out);
    assert_eq!(doc["complete"], true);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("rundir/schemas/run.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "run.json breaks its schema: {problems:#?}"
    );
    let typed =
        rundir::run::RunJson::from_json(doc.clone()).expect("the reports can read run.json");
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        &doc,
        "run.json is written in the layout it is read in: read and written again, it is unchanged"
    );

    assert!(out.join("timeseries.csv").is_file() && out.join("hist/allowed.hdr").is_file());
    let a = &doc["appliance"];
    let id = &a["identity"];
    let checked = id["checked"].as_u64().unwrap();
    assert!(checked > 0, "{id}");
    assert_eq!(id["matched"].as_u64(), Some(checked), "{id}");
    assert_eq!(
        (id["mismatched"].as_u64(), id["missing"].as_u64()),
        (Some(0), Some(0))
    );
    let radius = &a["radius"];
    assert!(
        radius["acked"]["start"].as_u64().unwrap() >= 60 + 300,
        "{radius}"
    );
    assert_eq!(radius["sent_total"], radius["acked_total"], "{radius}");
    assert!(radius["acked"]["interim"].as_u64().unwrap() > 0, "{radius}");
    assert!(radius["acked"]["stop"].as_u64().unwrap() >= 60, "{radius}");
    assert_eq!(a["requests"]["through_appliance_failures"], 0);
    assert_eq!(a["requests"]["direct_failures"], 0);
    assert!(a["added_latency_us"]["p50"].is_number(), "{a}");
    let conns = a["appliance_metrics"]["connections"].as_f64().unwrap();
    assert_eq!(
        conns as u64,
        a["requests"]["through_appliance"].as_u64().unwrap()
    );
    assert_eq!(a["verdict"]["pass"], true);

    let rendered = Command::new(report_bin())
        .arg("render")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Appliance hop"), "{md}");
    assert!(md.contains("added by the appliance"), "{md}");
    assert!(md.contains("| appliance_added_p50_us |"), "{md}");
    assert!(md.contains("| identity_mismatches | 0 |"), "{md}");
}

#[test]
fn a_wrong_hmac_key_fails_the_run_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (output, out) = run(dir.path(), "wrong_hmac_key = true");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the run must fail: {stderr}");
    assert!(stderr.contains("failed its checks"), "{stderr}");
    assert!(stderr.contains("bad_hmac"), "{stderr}");
    let doc = run_json(&out);
    let a = &doc["appliance"];
    assert_eq!(a["verdict"]["pass"], false);
    assert_eq!(
        a["identity"]["checked"], 0,
        "nothing reached the origin: {a}"
    );
    assert!(a["proxy_protocol"]["refused"]["bad_hmac"].as_f64().unwrap() > 0.0);
    assert!(
        a["requests"]["through_appliance_failures"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(
        a["requests"]["direct_failures"], 0,
        "the direct route still works"
    );
}

fn invalid(extra: &str) -> Vec<String> {
    let text = profile_text("").replace(
        "secret = \"test-radius-secret\"\nradius_rate = 400\ninterim_interval = \"2s\"\nchurn_users = 300\n",
        extra,
    );
    match Profile::parse(&text, &repo_root(), "test.toml") {
        Err(ProfileError::Invalid { errors, .. }) => errors,
        other => panic!("expected validation errors, got {other:?}"),
    }
}

#[test]
fn bad_appliance_values_are_rejected_with_their_keys() {
    let errors = invalid(
        "secret = \"\"\nradius_rate = 0\ninterim_interval = \"2s\"\nsession_timeout = \"1s\"\nchurn_users = 70000\n",
    );
    let joined = errors.join("\n");
    for key in [
        "appliance.secret:",
        "appliance.radius_rate:",
        "appliance.session_timeout:",
        "appliance.churn_users:",
    ] {
        assert!(joined.contains(key), "{key} missing from:\n{joined}");
    }
    let errors = invalid("secret = \"s\"\nradius_rate = 10\ninterim_interval = \"soon\"\n");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("appliance.interim_interval:")),
        "{errors:?}"
    );
    let text = profile_text("radius_rte = 5");
    match Profile::parse(&text, &repo_root(), "test.toml") {
        Err(ProfileError::Parse { message, .. }) => {
            assert!(message.contains("radius_rte"), "{message}")
        }
        other => panic!("an unknown key must be refused, got {other:?}"),
    }
    let ok = Profile::parse(&profile_text(""), &repo_root(), "test.toml").unwrap();
    let a = ok.appliance.expect("the table is read");
    assert_eq!(a.session_timeout, a.interim_interval * 3);
}
