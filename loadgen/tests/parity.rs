//! Decision parity against a real C++ web filter: the demo category database replayed
//! through e2guardian (Debian's package, configured by the tool for the `students`
//! group) and through `filter-proxy` on the demo config, each twice, all on loopback.
//!
//! The classes where the two are known to differ are listed in `KNOWN_DIFFERENCES`;
//! every other class must agree entry for entry. A second run replays as a teacher,
//! whose policy blocks less, to show the comparison catches a changed decision.
//!
//! e2guardian is required: without it these tests fail with the install command
//! (`.ci/run` installs it through `scripts/parity.sh`).

mod built;
mod faults_support;

use std::path::Path;

use clap::Parser;
use faults_support::{proxy_bin, repo_root, ONE_RUN};
use loadgen::parity::corpus::Class;
use loadgen::parity::e2guardian::INSTALL_HINT;
use loadgen::parity::{self, ParityArgs, ParityError};
use loadgen::rig::redis::find_program;

/// Classes in which e2guardian 5.3 and the proxy decide differently (see
/// loadgen/README.md, "Decision parity"); a fix may empty a class, never add one.
const KNOWN_DIFFERENCES: &str = "path-normalisation,path-boundary,ip-literal";

/// Classes on which the two filters must agree (case and percent-encoding since the
/// proxy matches paths normalised).
const MUST_AGREE: [Class; 7] = [
    Class::Exact,
    Class::ParentDomain,
    Class::TrailingDot,
    Class::Case,
    Class::PercentEncoding,
    Class::Idn,
    Class::Port,
];

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ParityArgs,
}

fn args(out: &Path, extra: &[&str]) -> ParityArgs {
    let root = repo_root();
    let demo = |f: &str| root.join("scenarios/demo").join(f).display().to_string();
    let mut argv = vec![
        "parity".to_owned(),
        "--out".into(),
        out.display().to_string(),
        "--categories".into(),
        demo("categories.txt"),
        "--policy".into(),
        demo("policy.toml"),
        "--proxy-config".into(),
        demo("proxy.toml"),
        "--concurrency".into(),
        "16".into(),
        "--pass-timeout".into(),
        "120s".into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Cli::try_parse_from(argv).expect("valid arguments").args
}

fn require_e2guardian() {
    assert!(
        find_program(Path::new("e2guardian")).is_some(),
        "{INSTALL_HINT}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e2guardian_and_filter_proxy_differ_only_in_the_known_classes() {
    require_e2guardian();
    let _one = ONE_RUN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("parity");
    let mut a = args(&out, &["--generate", "3000", "--known", KNOWN_DIFFERENCES]);
    a.proxy_bin = Some(proxy_bin());
    let outcome = parity::execute(&a).await.expect("parity run");
    let s = &outcome.summary;
    assert_eq!(s.entries, 3000);
    assert_eq!(s.not_sent, 0);
    // Noise is set apart, but a rig whose filters flicker is not measuring anything.
    assert!(
        (s.reference_unstable + s.candidate_unstable) * 100 < s.entries,
        "noise {} / {}",
        s.reference_unstable,
        s.candidate_unstable
    );
    for class in MUST_AGREE {
        let c = s
            .classes
            .iter()
            .find(|c| c.class == class.name())
            .unwrap_or_else(|| panic!("no {class} entries"));
        assert!(c.total.entries > 0);
        assert_eq!(c.total.mismatches, 0, "{class}: {:#?}", c.examples);
    }
    assert_eq!(s.unexplained, 0, "mismatches outside the known classes");
    assert!(s.pass);
    // Both filters really filter: many entries blocked by both, many allowed by both.
    let pair = |r: &str, c: &str| {
        s.pairs
            .iter()
            .find(|p| p.reference.name() == r && p.candidate.name() == c)
            .map_or(0, |p| p.count)
    };
    assert!(pair("blocked", "blocked") * 10 > s.entries, "{:?}", s.pairs);
    assert!(pair("allowed", "allowed") * 10 > s.entries, "{:?}", s.pairs);
    // The outputs are complete and readable.
    let md = std::fs::read_to_string(out.join("parity.md")).unwrap();
    assert!(
        md.contains("## Outcomes") && md.contains("## Replay rate"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("parity.json")).unwrap()).unwrap();
    assert_eq!(json["schema_version"], 1);
    let corpus = loadgen::parity::corpus::load(&out.join("corpus.tsv")).unwrap();
    assert_eq!(corpus.len(), 3000);
    let results = std::fs::read_to_string(out.join("results.tsv")).unwrap();
    assert_eq!(results.lines().count(), 3001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_deciding_for_another_group_is_caught() {
    require_e2guardian();
    let _one = ONE_RUN.lock().await;
    let dir = tempfile::tempdir().unwrap();
    // e2guardian filters for students; the candidate sees a teacher, whose policy lets
    // games, social, streaming and chat through.
    let mut a = args(
        &dir.path().join("parity"),
        &[
            "--generate",
            "600",
            "--known",
            KNOWN_DIFFERENCES,
            "--user",
            "teacher001:pw-teacher001",
        ],
    );
    a.proxy_bin = Some(proxy_bin());
    let s = parity::execute(&a).await.expect("parity run").summary;
    assert!(!s.pass);
    let exact = s.classes.iter().find(|c| c.class == "exact").unwrap();
    assert!(exact.total.reference_blocks > 0, "{:?}", exact.total);
    assert_eq!(exact.total.candidate_blocks, 0);
    assert!(s.unexplained >= exact.total.mismatches);
}

#[tokio::test]
async fn a_missing_reference_or_bad_corpus_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(&dir.path().join("p"), &["--generate", "10"]);
    a.e2guardian_bin = "/nonexistent/e2guardian".into();
    let err = parity::execute(&a).await.unwrap_err();
    assert!(matches!(err, ParityError::MissingE2guardian));
    assert!(err.to_string().contains("apt-get install -y e2guardian"));

    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "exact\tGET\thttp://a.test/\t-\t-\nftp://b.test/\n").unwrap();
    let a = args(&dir.path().join("q"), &["--corpus", bad.to_str().unwrap()]);
    let err = parity::execute(&a).await.unwrap_err().to_string();
    assert!(err.contains("bad.tsv:2:"), "{err}");
    let a = args(&dir.path().join("r"), &[]);
    let err = parity::execute(&a).await.unwrap_err().to_string();
    assert!(err.contains("--generate"), "{err}");
    let a = args(
        &dir.path().join("s"),
        &[
            "--generate",
            "5",
            "--reference",
            "10.0.0.1:3128",
            "--candidate",
            "127.0.0.1:3128",
        ],
    );
    let err = parity::execute(&a).await.unwrap_err().to_string();
    assert!(err.contains("not a loopback address"), "{err}");
}
