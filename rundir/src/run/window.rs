//! The steady-state window of a run, shared by the document and the harness's windows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The steady-state window of a run, in seconds since its start.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, JsonSchema)]
pub struct SteadyWindow {
    /// First second of the window (inclusive).
    pub start: f64,
    /// Last second of the window (inclusive).
    pub end: f64,
}
