//! Every committed baseline loads through the types, and nothing is lost on the way: a
//! document read and written again is the document that was committed.

use std::path::{Path, PathBuf};

use rundir::baseline::{Baseline, BASELINE_SCHEMA_VERSION};

fn committed_baselines() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../baselines");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the baselines directory is committed")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_committed_baseline_loads_and_round_trips() {
    let paths = committed_baselines();
    assert!(!paths.is_empty(), "no committed baselines found");
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let baseline =
            Baseline::from_json(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(baseline.schema_version, BASELINE_SCHEMA_VERSION);
        assert_eq!(
            serde_json::to_value(&baseline).unwrap(),
            doc,
            "{} changes when read and written again",
            path.display()
        );
        let histograms = baseline.decoded_histograms().unwrap();
        assert_eq!(histograms.len(), baseline.histograms.len());
        if let Some(folded) = &baseline.folded {
            let text = std::fs::read_to_string(path.with_file_name(folded)).unwrap();
            assert!(
                rundir::folded::parse(&text).count() > 0,
                "{folded} has stacks"
            );
        }
    }
}

#[test]
fn other_versions_are_refused_before_the_rest_is_read() {
    let doc = serde_json::json!({"schema_version": 9, "profile": 3});
    let err = Baseline::from_json(doc).unwrap_err();
    assert_eq!(err.to_string(), "schema_version 9, expected 1");
}
