//! One configuration decision of the rollout plan (a row of `deploy/DECISIONS.md`), with
//! where its value came from; its own file so the plan and the timing derived for it share
//! it without importing each other.

/// One configuration decision: what, its value, and where the value came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The parameter, as it appears in the generated files.
    pub parameter: String,
    /// Its value.
    pub value: String,
    /// The baseline figure, rule or reasoning it came from.
    pub source: String,
}
