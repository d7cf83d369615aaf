//! The load profile one step runs: the path's base load profile with the step's rate,
//! users, length and scenario mix written in, saved into the step's directory.
//!
//! Why a file per step: both drivers take their rate, warm-up and mix from a load
//! profile, and Goose paces users only from the profile's `target_rate`; writing the
//! step's profile beside its `run.json` also records exactly what the step ran.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::spec::CapacityPath;
use crate::faults::FaultError;

/// Warm-up of every step: its seconds are left out of the step's figures.
pub const STEP_WARMUP: Duration = Duration::from_secs(2);

/// What one step sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLoad {
    /// Requests per second; `None`: closed loop, every connection back to back.
    pub rate: Option<f64>,
    /// Connections (open loop) or users (Goose).
    pub connections: u64,
    /// Length, warm-up included.
    pub duration: Duration,
    /// Warm-up left out of the figures (`None`: [`STEP_WARMUP`]).
    pub warmup: Option<Duration>,
}

/// The step's load profile as TOML: `base` (the path's load profile, read as a table)
/// with the step's settings. Paths are made absolute, since the file moves.
pub fn step_profile(
    base: &toml::Table,
    base_dir: &Path,
    path: &CapacityPath,
    load: &StepLoad,
) -> toml::Table {
    let mut t = base.clone();
    let mix = match &path.scenario_mix {
        Some(m) => m.clone(),
        None => base_dir.join(t.get("scenario_mix").and_then(|v| v.as_str()).unwrap_or("")),
    };
    t.insert("scenario_mix".into(), mix.display().to_string().into());
    t.insert("users".into(), (load.connections as i64).into());
    t.insert(
        "duration".into(),
        format!("{}s", load.duration.as_secs()).into(),
    );
    t.insert(
        "warmup".into(),
        format!("{}s", load.warmup.unwrap_or(STEP_WARMUP).as_secs()).into(),
    );
    match load.rate {
        Some(r) => t.insert("target_rate".into(), r.into()),
        None => t.remove("target_rate"),
    };
    // Every user within the first second: a step measures its rate, not a ramp.
    let mut ramp = toml::Table::new();
    ramp.insert(
        "increase_rate".into(),
        (load.connections.max(1) as f64).into(),
    );
    t.insert("ramp".into(), ramp.into());
    t.remove("stages");
    // The harness's settings (instruction counts, light passes) are not a step's.
    t.remove("harness");
    t
}

/// Reads `path`'s load profile and writes the step's into `dir` (`load-profile.toml`).
pub fn write(dir: &Path, path: &CapacityPath, load: &StepLoad) -> Result<PathBuf, FaultError> {
    let setup = |what: String| FaultError::Setup(what);
    let text = std::fs::read_to_string(&path.load_profile)
        .map_err(|e| setup(format!("{}: {e}", path.load_profile.display())))?;
    let base: toml::Table = toml::from_str(&text)
        .map_err(|e| setup(format!("{}: {e}", path.load_profile.display())))?;
    let base_dir = path.load_profile.parent().unwrap_or(Path::new("."));
    let table = step_profile(&base, base_dir, path, load);
    std::fs::create_dir_all(dir).map_err(|e| setup(format!("{}: {e}", dir.display())))?;
    let out = dir.join("load-profile.toml");
    let text = toml::to_string(&table).map_err(|e| setup(format!("step profile: {e}")))?;
    std::fs::write(&out, text).map_err(|e| setup(format!("{}: {e}", out.display())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::spec::PathDriver;

    fn path(mix: Option<&str>) -> CapacityPath {
        CapacityPath {
            name: "p".into(),
            description: String::new(),
            load_profile: PathBuf::from("/repo/profiles/ci.toml"),
            scenario_mix: mix.map(PathBuf::from),
            driver: PathDriver::Goose,
            connections: 40,
            rates: vec![100.0],
            slo_classes: None,
            step_duration: None,
            warmup: None,
        }
    }

    #[test]
    fn the_step_profile_carries_the_steps_settings_and_absolute_paths() {
        let base: toml::Table = toml::from_str(
            "name = \"ci\"\nusers = 60\nduration = \"60s\"\ntarget_rate = 300\nscenario_mix = \"../scenarios/school-day.toml\"\n[harness]\ninstructions = 2000\n",
        )
        .unwrap();
        let load = StepLoad {
            rate: Some(500.0),
            connections: 40,
            duration: Duration::from_secs(8),
            warmup: None,
        };
        let t = step_profile(&base, Path::new("/repo/profiles"), &path(None), &load);
        assert_eq!(t["users"].as_integer(), Some(40));
        assert_eq!(t["target_rate"].as_float(), Some(500.0));
        assert_eq!(t["duration"].as_str(), Some("8s"));
        assert_eq!(
            t["scenario_mix"].as_str(),
            Some("/repo/profiles/../scenarios/school-day.toml")
        );
        assert_eq!(t["ramp"]["increase_rate"].as_float(), Some(40.0));
        assert!(!t.contains_key("harness"));
        assert_eq!(t["warmup"].as_str(), Some("2s"));
        let warm = StepLoad {
            warmup: Some(Duration::from_secs(6)),
            ..load
        };
        let t = step_profile(&base, Path::new("/repo/profiles"), &path(None), &warm);
        assert_eq!(t["warmup"].as_str(), Some("6s"), "the path's own warm-up");
        let closed = StepLoad { rate: None, ..load };
        let t = step_profile(
            &base,
            Path::new("/repo/profiles"),
            &path(Some("/m.toml")),
            &closed,
        );
        assert!(!t.contains_key("target_rate"), "closed loop has no rate");
        assert_eq!(t["scenario_mix"].as_str(), Some("/m.toml"));
    }
}
