//! What the harness needs to know about a load profile: its length, warm-up, target
//! rate, policy store, the steady window to profile, and the profile's `[harness]`
//! table (settings only the harness reads).
//!
//! The profile itself is loaded and validated by [`crate::profile::Profile`]; this
//! module derives the harness's view from it and checks the `[harness]` table the same
//! way (unknown keys refused, every problem named), because the profile loader leaves
//! that table to the harness.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::profile::{PolicyStore, Profile};
use crate::units::Written;

use super::resources::SteadyWindow;
use crate::rig::error::RigError;

/// The `[harness]` table of a profile, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHarness {
    /// Length of a direct-to-origin pass before the proxied run (0 or absent: none).
    direct_pass: Option<Written>,
    /// Whether to take a CPU profile in the steady window (default true).
    cpu_profile: Option<bool>,
    /// Requests counted by the instruction pass after the load (0 or absent: none).
    instructions: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct HarnessOnly {
    harness: Option<toml::Value>,
}

/// The harness's view of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileView {
    /// Profile name.
    pub name: String,
    /// Most users at once (after overrides).
    pub users: u64,
    /// Attack length including warm-up, seconds.
    pub duration_s: f64,
    /// Warm-up excluded from statistics, seconds.
    pub warmup_s: f64,
    /// Target request rate, when the profile paces requests.
    pub target_rps: Option<f64>,
    /// Whether the proxy uses the Redis policy store.
    pub redis_store: bool,
    /// Whether to take a CPU profile in the steady window.
    pub cpu_profile: bool,
    /// Length of a direct-to-origin pass before the proxied run, seconds (0 = none).
    pub direct_pass_s: u64,
    /// Requests counted by the instruction pass (0 = none; see `crate::instructions`).
    pub instructions: u64,
    /// The steady window: the profiled phases (or everything after warm-up), cut to
    /// end a second before the run does.
    pub window: SteadyWindow,
    /// Where each stage of the test plan starts and ends (after overrides).
    pub stages: Vec<StageSpan>,
}

/// One stage of the test plan placed on the run's clock, recorded in `run.json` as
/// `stage_spans` (typed in `rundir`) so a report finds a spike's surge and recovery
/// without re-deriving the plan (and its scaling under `--duration`) from the profile.
pub use rundir::run::StageSpan;

/// The stages of `profile` on the run's clock, back to back from 0.
pub fn stage_spans(profile: &Profile) -> Vec<StageSpan> {
    let mut start = 0.0;
    profile
        .stages
        .iter()
        .map(|stage| {
            let end = start + stage.over.as_secs_f64();
            let span = StageSpan {
                name: stage.name.clone(),
                users: stage.users,
                start_s: start,
                end_s: end,
            };
            start = end;
            span
        })
        .collect()
}

impl ProfileView {
    /// Loads the profile at `path`, with the `--duration`/`--users` overrides applied.
    pub fn load(
        path: &Path,
        duration: Option<Duration>,
        users: Option<u64>,
    ) -> Result<Self, RigError> {
        let profile = Profile::load(path)
            .map_err(|e| RigError::Config {
                detail: e.to_string(),
            })?
            .with_overrides(duration, users);
        let text = std::fs::read_to_string(path).map_err(|source| RigError::Io {
            what: format!("read profile {}", path.display()),
            cause: source,
        })?;
        Self::from_profile(&profile, &text).map_err(|errors| RigError::Config {
            detail: format!(
                "profile {} is invalid:\n  {}",
                path.display(),
                errors.join("\n  ")
            ),
        })
    }

    /// Derives the view from a validated profile and its text (for `[harness]`).
    pub fn from_profile(profile: &Profile, text: &str) -> Result<Self, Vec<String>> {
        let only: HarnessOnly = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let raw: RawHarness = match only.harness {
            Some(v) => v
                .try_into()
                .map_err(|e: toml::de::Error| vec![format!("harness: {}", e.message())])?,
            None => RawHarness::default(),
        };
        let mut errors = Vec::new();
        let direct_pass_s = match raw.direct_pass.as_ref().map(Written::duration) {
            None => 0,
            Some(Ok(d)) => d.as_secs(),
            Some(Err(e)) => {
                errors.push(format!("harness.direct_pass: {e}"));
                0
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let duration_s = profile.duration.as_secs_f64();
        let warmup_s = profile.warmup.as_secs_f64();
        Ok(Self {
            name: profile.name.clone(),
            users: profile.users,
            duration_s,
            warmup_s,
            target_rps: profile.target_rate,
            redis_store: profile.policy_store == PolicyStore::Redis,
            cpu_profile: raw.cpu_profile.unwrap_or(true),
            direct_pass_s,
            instructions: raw.instructions.unwrap_or(0),
            window: steady_window(profile),
            stages: stage_spans(profile),
        })
    }
}

/// The span of the profiled phases (all stages when none are named), after warm-up and
/// ending one second before the run (the last second is cut short by the stop).
pub fn steady_window(profile: &Profile) -> SteadyWindow {
    let mut start = 0.0;
    let mut spans = Vec::new();
    for stage in &profile.stages {
        let end = start + stage.over.as_secs_f64();
        if profile.profile_phases.is_empty() || profile.profile_phases.contains(&stage.name) {
            spans.push((start, end));
        }
        start = end;
    }
    let duration = profile.duration.as_secs_f64();
    let warmup = profile.warmup.as_secs_f64();
    let first = spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let last = spans.iter().map(|s| s.1).fold(0.0, f64::max);
    let start_s = if first.is_finite() {
        first.max(warmup)
    } else {
        warmup
    };
    let end_s = last.min(duration - 1.0).max(start_s);
    SteadyWindow { start_s, end_s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(extra: &str) -> (Profile, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mix.toml"), "").unwrap();
        let text = format!(
            "name = \"t\"\nusers = 10\nduration = \"60s\"\nwarmup = \"10s\"\n\
             scenario_mix = \"mix.toml\"\nramp = {{ increase_rate = 1.0 }}\n{extra}"
        );
        (Profile::parse(&text, dir.path(), "t.toml").unwrap(), text)
    }

    #[test]
    fn window_is_after_warmup_and_before_the_end() {
        let (p, text) = profile("");
        let v = ProfileView::from_profile(&p, &text).unwrap();
        assert_eq!(
            v.window,
            SteadyWindow {
                start_s: 10.0,
                end_s: 59.0
            }
        );
        assert!(v.cpu_profile && !v.redis_store);
        assert_eq!(v.direct_pass_s, 0);
    }

    #[test]
    fn window_follows_the_profiled_phases() {
        let (p, text) = profile(
            "profile_phases = [\"hold\"]\n\
             [[stages]]\nname = \"up\"\nusers = 10\nover = \"20s\"\n\
             [[stages]]\nname = \"hold\"\nusers = 10\nover = \"30s\"\n\
             [[stages]]\nname = \"down\"\nusers = 1\nover = \"10s\"\n",
        );
        let v = ProfileView::from_profile(&p, &text).unwrap();
        assert_eq!(
            v.window,
            SteadyWindow {
                start_s: 20.0,
                end_s: 50.0
            }
        );
        let spans: Vec<(&str, f64, f64)> = v
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.start_s, s.end_s))
            .collect();
        assert_eq!(
            spans,
            [
                ("up", 0.0, 20.0),
                ("hold", 20.0, 50.0),
                ("down", 50.0, 60.0)
            ]
        );
    }

    #[test]
    fn harness_table_is_read_and_checked() {
        let (p, text) = profile("[harness]\ndirect_pass = \"5s\"\ncpu_profile = false\n");
        let v = ProfileView::from_profile(&p, &text).unwrap();
        assert_eq!(v.direct_pass_s, 5);
        assert!(!v.cpu_profile);
        let (p, text) = profile("[harness]\ndirekt_pass = \"5s\"\n");
        let err = ProfileView::from_profile(&p, &text).unwrap_err().join(" ");
        assert!(err.contains("direkt_pass"), "{err}");
        let (p, text) = profile("[harness]\ndirect_pass = \"5 parsecs\"\n");
        let err = ProfileView::from_profile(&p, &text).unwrap_err().join(" ");
        assert!(err.contains("harness.direct_pass"), "{err}");
    }

    #[test]
    fn shortened_runs_keep_a_window() {
        let (p, text) = profile("");
        let p = p.with_overrides(Some(Duration::from_secs(6)), Some(2));
        let v = ProfileView::from_profile(&p, &text).unwrap();
        assert_eq!(
            v.window,
            SteadyWindow {
                start_s: 2.0,
                end_s: 5.0
            }
        );
    }
}
