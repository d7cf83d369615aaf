//! Regenerates the committed JSON Schemas (`rundir/schemas/*.schema.json`) from the types:
//! `cargo run -p rundir --example write_schemas`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    std::fs::create_dir_all(&dir)?;
    for schema in rundir::schema::all() {
        std::fs::write(dir.join(schema.file), schema.text)?;
        println!("wrote schemas/{}", schema.file);
    }
    Ok(())
}
