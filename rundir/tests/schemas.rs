//! The committed JSON Schemas are the ones the types generate, and the committed documents
//! validate against them (as `oha` keeps its output schema).

use std::path::{Path, PathBuf};

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed_schema(file: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(crate_dir().join("schemas").join(file))
        .unwrap_or_else(|e| panic!("schemas/{file}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn committed_schemas_are_the_generated_ones() {
    for schema in rundir::schema::all() {
        let path = crate_dir().join("schemas").join(schema.file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == schema.text,
            "schemas/{} differs from what the types generate; run \
             `cargo run -p rundir --example write_schemas` and commit the result",
            schema.file
        );
    }
}

fn problems(schema: &serde_json::Value, doc: &serde_json::Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn committed_baselines_validate() {
    let schema = committed_schema("baseline.schema.json");
    let dir = crate_dir().join("../baselines");
    let paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(!paths.is_empty());
    for path in paths {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let found = problems(&schema, &doc);
        assert!(found.is_empty(), "{}: {found:#?}", path.display());
        let mut broken = doc;
        broken["forced"] = serde_json::json!("yes");
        assert!(
            !problems(&schema, &broken).is_empty(),
            "the schema checks types"
        );
    }
}

#[test]
fn migrated_run_documents_validate() {
    let schema = committed_schema("run.schema.json");
    let older = serde_json::json!({
        "schema_version": 1, "profile": "peak", "complete": false,
        "classes": [{"class": "blocked", "requests": 50, "errors": 2, "outcomes": [48, 1, 0, 0, 0, 1],
                     "ttlb": {"count": 50, "p50": 300, "p99": 900, "p99_9": 950, "mean": 310.5}}],
        "throughput_rps": 12.5,
        "provenance": {"commit": "abc", "dirty": true, "cores": 2, "started_at": "t0"},
        "steady_window": {"start_s": 5.0, "end_s": 25.0},
        "harness": {"target_rps": 20.0}
    });
    let migrated = rundir::run::migrate::to_current(older).unwrap();
    let found = problems(&schema, &migrated);
    assert!(found.is_empty(), "{found:#?}");
    let typed = rundir::run::RunJson::from_json(migrated.clone()).unwrap();
    let found = problems(&schema, &serde_json::to_value(&typed).unwrap());
    assert!(found.is_empty(), "{found:#?}");
}
