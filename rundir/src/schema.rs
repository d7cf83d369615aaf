//! The JSON Schemas of the run-directory documents, generated from their types.
//!
//! The schemas are committed under `rundir/schemas/` so tools outside Rust (and reviewers)
//! can read the contract; a test checks the committed files are what the types generate
//! and that every committed document validates. After changing a type, regenerate them
//! with `cargo run -p rundir --example write_schemas`.

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;

use crate::baseline::Baseline;
use crate::browser::BrowserLoad;
use crate::run::RunJson;
use crate::verdict::{DiffVerdict, SessionVerdict};

/// One committed schema: its file name under `rundir/schemas/` and its text.
pub struct Schema {
    /// File name, e.g. `run.schema.json`.
    pub file: &'static str,
    /// The generated schema, pretty-printed with a final newline.
    pub text: String,
}

/// Every document's schema, as the types generate it (the reading contract: fields with a
/// default may be absent).
pub fn all() -> Vec<Schema> {
    vec![
        generate::<RunJson>("run.schema.json"),
        generate::<Baseline>("baseline.schema.json"),
        generate::<DiffVerdict>("verdict.schema.json"),
        generate::<SessionVerdict>("gate-verdict.schema.json"),
        generate::<BrowserLoad>("browser-load.schema.json"),
    ]
}

fn generate<T: JsonSchema>(file: &'static str) -> Schema {
    let schema = SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    let text = serde_json::to_string_pretty(&schema).expect("a schema is plain JSON") + "\n";
    Schema { file, text }
}
