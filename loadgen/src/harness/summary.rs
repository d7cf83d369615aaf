//! The short human summary printed at the end of a run.

use std::path::Path;

use serde_json::{Map, Value};

/// Renders the summary of the run whose `run.json` is `doc`.
pub fn render(doc: &Map<String, Value>, run_dir: &Path) -> String {
    let complete = doc
        .get("complete")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    format!(
        "{}\nrun directory: {}",
        if complete {
            "run complete"
        } else {
            "run INCOMPLETE"
        },
        run_dir.display()
    )
}
