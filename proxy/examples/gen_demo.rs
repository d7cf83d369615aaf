//! Regenerates the demo filtering data (`scenarios/demo/categories.txt`, `policy.toml`,
//! `users.csv`) from the seeded generator, so that the committed files stay reproducible.
//!
//! Usage: `cargo run -p filter-proxy --example gen_demo [-- <output-dir>]`
//! (default output directory: `scenarios/demo` of the workspace).

use std::path::PathBuf;

use anyhow::Context as _;
use filter_proxy::demo;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo"),
        PathBuf::from,
    );
    let data = demo::generate_default();
    data.write_to(&dir)
        .with_context(|| format!("writing the demo data to {}", dir.display()))?;
    println!(
        "wrote {} ({} domains, {} path rules, seed {:#x})",
        dir.display(),
        demo::DEMO_DOMAINS,
        demo::DEMO_PATH_RULES,
        demo::DEMO_SEED
    );
    Ok(())
}
