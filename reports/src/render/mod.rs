//! Rendering: the document model (Markdown + HTML), shared tables, the run report and the
//! CSV summary.

pub mod appliance;
pub mod baseline_doc;
pub mod browser;
pub mod doc;
pub mod headline;
pub mod machine;
pub mod run;
pub mod sizing;
pub mod soak;
pub mod spike;
pub mod summary;
pub mod tables;

pub use run::{render, render_against, Rendered};
