//! Load profiles (`profiles/*.toml`): the shape of a run, as data.
//!
//! A profile names its users, how fast they ramp up, the test plan (named
//! stages), an optional target request rate, the duration and warm-up, the
//! scenario mix file, the policy store the proxy uses and which phases to
//! profile. Loading is strict: serde refuses unknown keys, then a validation
//! step collects every problem, each naming its key, before anything runs.

pub mod appliance;
pub mod connections;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::segment::{Segment, SegmentError};
use crate::units::{format_duration, Written};

/// Errors loading a profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read.
    #[error("reading profile {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key.
    #[error("profile {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// Values failed validation; one line per problem, each naming its key.
    #[error("profile {path} is invalid:\n  {}", .errors.join("\n  "))]
    Invalid {
        /// The file.
        path: String,
        /// `key: problem` lines.
        errors: Vec<String>,
    },
}

/// A profile as written (before validation).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    #[serde(default)]
    description: String,
    users: u64,
    duration: Written,
    #[serde(default)]
    warmup: Option<Written>,
    #[serde(default)]
    ramp: Option<RawRamp>,
    #[serde(default)]
    stages: Vec<RawStage>,
    #[serde(default)]
    target_rate: Option<f64>,
    scenario_mix: String,
    #[serde(default)]
    policy_store: Option<String>,
    #[serde(default)]
    profile_phases: Vec<String>,
    /// Settings read by the run harness (owned and checked there).
    #[serde(default)]
    harness: Option<toml::Table>,
    /// An appliance run (RADIUS stream, appliance hop); see [`crate::appliance`].
    #[serde(default)]
    appliance: Option<appliance::RawAppliance>,
    /// A connection storm (idle connections in thousands); see [`crate::connections`].
    #[serde(default)]
    connections: Option<connections::RawConnections>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRamp {
    #[serde(default)]
    increase_rate: Option<f64>,
    #[serde(default)]
    increase_time: Option<Written>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: String,
    users: u64,
    over: Written,
}

/// Where the proxy keeps its policies during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyStore {
    /// In the proxy's memory.
    Memory,
    /// In Redis.
    Redis,
}

/// One step of the test plan: go to `users` over `over` (hold if unchanged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// Phase name (used by `profile_phases`).
    pub name: String,
    /// Users at the end of the stage.
    pub users: u64,
    /// Length of the stage.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub over: Duration,
}

/// A validated profile, as the run uses it (and as `run.json` records it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Profile name.
    pub name: String,
    /// What it models.
    pub description: String,
    /// Most users at once.
    pub users: u64,
    /// Whole run, warm-up included.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub duration: Duration,
    /// Start of the run excluded from statistics.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub warmup: Duration,
    /// Users started per second when the stages are derived (informative otherwise).
    pub ramp_rate: f64,
    /// The test plan; derived from users, ramp and duration when the file has none.
    pub stages: Vec<Stage>,
    /// Whether `stages` came from the file.
    pub explicit_stages: bool,
    /// Target request rate (requests/s over all users), when paced.
    pub target_rate: Option<f64>,
    /// Scenario mix file (resolved against the profile's directory).
    pub scenario_mix: PathBuf,
    /// The proxy's policy store.
    pub policy_store: PolicyStore,
    /// Stages to CPU/heap profile.
    pub profile_phases: Vec<String>,
    /// Settings for the run harness, kept as written (it checks them).
    pub harness: toml::Table,
    /// The appliance run's settings, when the profile measures the appliance hop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appliance: Option<appliance::ApplianceSettings>,
    /// The connection storm's settings, when the profile measures connection scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<connections::ConnectionSettings>,
}

impl Profile {
    /// Loads and validates a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            cause: source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, &path.display().to_string())
    }

    /// Parses and validates profile text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path, origin: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        validate(raw, base).map_err(|errors| ProfileError::Invalid {
            path: origin.to_string(),
            errors,
        })
    }

    /// Applies `--duration` and `--users` overrides. Derived stages are derived
    /// again; explicit stages scale in proportion. The warm-up keeps its length
    /// unless it would take more than a third of the shortened run.
    pub fn with_overrides(mut self, duration: Option<Duration>, users: Option<u64>) -> Profile {
        if let Some(users) = users.filter(|u| *u > 0) {
            if self.explicit_stages {
                for s in &mut self.stages {
                    s.users = (s.users * users).div_ceil(self.users.max(1)).min(users);
                }
            }
            self.users = users;
        }
        if let Some(duration) = duration.filter(|d| !d.is_zero()) {
            if self.explicit_stages {
                let old = self.duration.as_secs_f64().max(1.0);
                let scale = duration.as_secs_f64() / old;
                for s in &mut self.stages {
                    s.over = Duration::from_secs((s.over.as_secs_f64() * scale).round() as u64);
                }
                let sum: Duration = self.stages.iter().map(|s| s.over).sum();
                if let Some(last) = self.stages.last_mut() {
                    last.over = (last.over + duration).saturating_sub(sum);
                }
            }
            self.duration = duration;
            self.warmup = self.warmup.min(duration / 3);
        }
        if !self.explicit_stages {
            self.stages = derive_stages(self.users, self.ramp_rate, self.duration);
        }
        self
    }

    /// This worker's slice of the profile (after any overrides): users and every stage's
    /// users split by the segment's exact arithmetic (the slices of each add up to the
    /// whole), ramp and target rates in proportion; stage lengths, duration and warm-up
    /// unchanged, so every worker's windows line up.
    pub fn segment(mut self, segment: Segment) -> Result<Profile, SegmentError> {
        if segment.is_whole() {
            return Ok(self);
        }
        self.users = segment.scale_nonzero(self.users, "users")?;
        for s in &mut self.stages {
            s.users = segment.scale(s.users);
        }
        self.ramp_rate = segment.scale_rate(self.ramp_rate);
        self.target_rate = self.target_rate.map(|r| segment.scale_rate(r));
        Ok(self)
    }

    /// The test plan in Goose's `--test-plan` syntax, ending with a stop.
    pub fn goose_test_plan(&self) -> String {
        let mut plan: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{},{}s", s.users, s.over.as_secs()))
            .collect();
        plan.push("0,0s".into());
        plan.join(";")
    }
}

/// Ramp to `users` at `rate` users/s, then hold for the rest of `duration`.
fn derive_stages(users: u64, rate: f64, duration: Duration) -> Vec<Stage> {
    let ramp_s = ((users as f64 / rate).ceil() as u64).min(duration.as_secs().saturating_sub(1));
    let mut stages = Vec::new();
    if ramp_s > 0 {
        stages.push(Stage {
            name: "ramp-up".into(),
            users,
            over: Duration::from_secs(ramp_s),
        });
    }
    stages.push(Stage {
        name: "steady".into(),
        users,
        over: Duration::from_secs(duration.as_secs() - ramp_s),
    });
    stages
}

fn validate(raw: RawProfile, base: &Path) -> Result<Profile, Vec<String>> {
    let mut errors = Vec::new();
    let mut duration_of = |key: &str, w: &Written| -> Duration {
        match w.duration() {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{key}: {e}"));
                Duration::ZERO
            }
        }
    };
    let duration = duration_of("duration", &raw.duration);
    let warmup = raw
        .warmup
        .as_ref()
        .map_or(Duration::ZERO, |w| duration_of("warmup", w));
    let ramp_time = raw
        .ramp
        .as_ref()
        .and_then(|r| r.increase_time.as_ref())
        .map(|w| duration_of("ramp.increase_time", w));
    let stage_overs: Vec<Duration> = raw
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| duration_of(&format!("stages[{i}].over"), &s.over))
        .collect();

    if raw.name.trim().is_empty() {
        errors.push("name: must not be empty".into());
    }
    if raw.users == 0 {
        errors.push("users: must be at least 1".into());
    }
    if duration < Duration::from_secs(1) || duration.subsec_nanos() != 0 {
        errors.push("duration: must be a whole number of seconds, at least 1s".into());
    }
    if !duration.is_zero() && warmup >= duration {
        errors.push("warmup: must be shorter than duration".into());
    }
    let ramp_rate = match (&raw.ramp, ramp_time) {
        (None, _) => {
            errors.push("ramp: missing (set ramp.increase_rate or ramp.increase_time)".into());
            1.0
        }
        (
            Some(RawRamp {
                increase_rate: Some(_),
                increase_time: Some(_),
            }),
            _,
        ) => {
            errors.push("ramp: set only one of increase_rate and increase_time".into());
            1.0
        }
        (
            Some(RawRamp {
                increase_rate: Some(r),
                ..
            }),
            _,
        ) if !(*r > 0.0 && r.is_finite()) => {
            errors.push("ramp.increase_rate: must be a positive number of users per second".into());
            1.0
        }
        (
            Some(RawRamp {
                increase_rate: Some(r),
                ..
            }),
            _,
        ) => *r,
        (Some(_), Some(t)) if t.is_zero() => raw.users as f64 * 1000.0,
        (Some(_), Some(t)) => raw.users as f64 / t.as_secs_f64(),
        (Some(_), None) => {
            errors.push("ramp: set increase_rate or increase_time".into());
            1.0
        }
    };
    if let Some(rate) = raw.target_rate {
        if !(rate > 0.0 && rate.is_finite()) {
            errors.push("target_rate: must be a positive number of requests per second".into());
        }
    }
    let policy_store = match raw.policy_store.as_deref() {
        None | Some("memory") => PolicyStore::Memory,
        Some("redis") => PolicyStore::Redis,
        Some(other) => {
            errors.push(format!(
                "policy_store: `{other}` is not `memory` or `redis`"
            ));
            PolicyStore::Memory
        }
    };
    let scenario_mix = base.join(&raw.scenario_mix);
    if !scenario_mix.is_file() {
        errors.push(format!(
            "scenario_mix: no file at {} (relative paths start at the profile's directory)",
            scenario_mix.display()
        ));
    }

    let explicit_stages = !raw.stages.is_empty();
    let stages: Vec<Stage> = if explicit_stages {
        let mut names = std::collections::HashSet::new();
        for (i, s) in raw.stages.iter().enumerate() {
            if s.name.trim().is_empty() || !names.insert(s.name.as_str()) {
                errors.push(format!("stages[{i}].name: must be non-empty and unique"));
            }
            if s.users > raw.users {
                errors.push(format!(
                    "stages[{i}].users: {} exceeds users = {}",
                    s.users, raw.users
                ));
            }
            if stage_overs[i].subsec_nanos() != 0 {
                errors.push(format!("stages[{i}].over: must be whole seconds"));
            }
        }
        let sum: Duration = stage_overs.iter().sum();
        if !duration.is_zero() && sum != duration {
            errors.push(format!(
                "stages: lengths add up to {}, but duration is {}",
                format_duration(sum),
                format_duration(duration)
            ));
        }
        raw.stages
            .iter()
            .zip(&stage_overs)
            .map(|(s, over)| Stage {
                name: s.name.clone(),
                users: s.users,
                over: *over,
            })
            .collect()
    } else {
        derive_stages(raw.users, ramp_rate, duration.max(Duration::from_secs(1)))
    };
    for (i, phase) in raw.profile_phases.iter().enumerate() {
        if !stages.iter().any(|s| &s.name == phase) {
            let known: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
            errors.push(format!(
                "profile_phases[{i}]: `{phase}` is not a stage (stages: {})",
                known.join(", ")
            ));
        }
    }
    let appliance = raw.appliance.map(|a| a.validate(raw.users, &mut errors));
    let connections = raw
        .connections
        .map(|c| c.validate(raw.users, duration, &mut errors));
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Profile {
        name: raw.name,
        description: raw.description,
        users: raw.users,
        duration,
        warmup,
        ramp_rate,
        stages,
        explicit_stages,
        target_rate: raw.target_rate,
        scenario_mix,
        policy_store,
        profile_phases: raw.profile_phases,
        harness: raw.harness.unwrap_or_default(),
        appliance,
        connections,
    })
}
