//! Writes a synthetic run directory (for trying `perf-report` before real runs exist):
//! `cargo run -p reports --example fixture_run -- OUT_DIR [cpu_us_per_request]`.

use reports::fixtures::Fixture;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "fixture-run".to_owned()));
    let mut fixture = Fixture::default();
    if let Some(cpu) = args.next().and_then(|a| a.parse().ok()) {
        fixture.cpu_us_per_request = cpu;
    }
    fixture.write(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
