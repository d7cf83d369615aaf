//! The result directory's record of a browser run: `browser.json` (every check, what the
//! page saw, and the browser's view of the failing ones) and a plain-text table.

use std::fmt::Write as _;
use std::path::Path;

use crate::cases::CaseResult;
use crate::BrowserError;

/// Writes `browser.json` into `out` (atomically: a temporary file renamed).
pub fn write_json(out: &Path, results: &[CaseResult]) -> Result<(), BrowserError> {
    let doc = serde_json::json!({
        "passed": results.iter().all(CaseResult::passed),
        "cases": results,
    });
    let path = out.join("browser.json");
    let tmp = out.join(".browser.json.tmp");
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(&tmp, text).map_err(|e| BrowserError::io("write browser.json", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| BrowserError::io("write browser.json", e))
}

/// One line per check, and for each failing one its problems and the browser's view.
pub fn table(results: &[CaseResult]) -> String {
    let mut s = String::new();
    for r in results {
        let mark = if r.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(s, "{mark}  {:<28} {}", r.name, r.what);
        let _ = writeln!(s, "      saw: {}", r.saw);
        if !r.passed() {
            for p in &r.problems {
                let _ = writeln!(s, "      problem: {p}");
            }
            let _ = writeln!(s, "      the browser's view:");
            for line in &r.view {
                let _ = writeln!(s, "        {line}");
            }
        }
    }
    s
}
