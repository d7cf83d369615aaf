//! Reading baseline documents (`baselines/NAME.json`, typed in `rundir::baseline`) and the
//! collapsed stacks committed beside them.

use crate::error::{ReportError, Result};
use crate::rundir::read_to_string;
use rundir::baseline::Baseline;
use std::collections::BTreeMap;
use std::path::Path;

use hdrhistogram::Histogram;

/// Reads a baseline document, refusing other schema versions.
pub fn read(path: &Path) -> Result<Baseline> {
    crate::rundir::read_document(path, Baseline::from_json)
}

/// The baseline's decoded histograms; a corrupt entry is an error naming the class.
pub fn histograms(b: &Baseline, path: &Path) -> Result<BTreeMap<String, Histogram<u64>>> {
    b.decoded_histograms()
        .map_err(|(class, e)| ReportError::Malformed {
            path: path.to_owned(),
            detail: format!("histograms.{class}: {e}"),
        })
}

/// The collapsed stacks beside the document, if referenced and present.
pub fn folded_stacks(b: &Baseline, path: &Path) -> Result<Option<String>> {
    let Some(name) = &b.folded else {
        return Ok(None);
    };
    let file = path.parent().unwrap_or(Path::new(".")).join(name);
    if file.is_file() {
        read_to_string(&file).map(Some)
    } else {
        Ok(None)
    }
}
