//! The capacity profile file: offered-load steps, the SLO that ends the climb, and the
//! base load profile whose scenario mix gives URLs and users.
//!
//! Its own small schema for the same reason as the fault profiles: the load profile
//! refuses unknown keys and describes one level of load, not a staircase.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::faults::spec::SpecError;
use crate::units::Written;

/// Most steps one profile may ask for.
pub const MAX_STEPS: usize = 40;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    name: String,
    #[serde(default)]
    description: String,
    load_profile: PathBuf,
    connections: u64,
    step_duration: Written,
    rates: Vec<f64>,
    slo: RawSlo,
    #[serde(default)]
    origin_delay_ms: u64,
    #[serde(default)]
    proxy: toml::Table,
    #[serde(default)]
    pin: Option<bool>,
    #[serde(default)]
    proxy_cores: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    p99: Written,
    error_budget: f64,
    min_achieved: f64,
    #[serde(default)]
    min_knee_rps: Option<f64>,
}

/// The SLO every step must keep.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slo {
    /// Highest acceptable p99 (from the intended send time).
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub p99: Duration,
    /// Highest acceptable error fraction.
    pub error_budget: f64,
    /// Lowest acceptable achieved / offered.
    pub min_achieved: f64,
    /// The run fails (exit 1) when the knee is below this rate.
    pub min_knee_rps: Option<f64>,
}

/// A validated capacity profile.
#[derive(Debug, Clone)]
pub struct CapacityProfile {
    /// Name.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// The base load profile.
    pub load_profile: PathBuf,
    /// Connections of the open-loop driver.
    pub connections: u64,
    /// Length of each step.
    pub step_duration: Duration,
    /// Offered rates, ascending.
    pub rates: Vec<f64>,
    /// The SLO.
    pub slo: Slo,
    /// Delay the origin adds to every answer (0: none).
    pub origin_delay_ms: u64,
    /// Settings merged over the generated proxy config.
    pub proxy: toml::Table,
    /// Pin the proxy to a CPU of its own (default true).
    pub pin: bool,
    /// Hold the proxy to this many cores with a cgroup CPU quota, so that it saturates
    /// before the load generator and the machine do (`None`: no quota).
    pub proxy_cores: Option<f64>,
}

impl CapacityProfile {
    /// Loads and validates a capacity profile.
    pub fn load(path: &Path) -> Result<CapacityProfile, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            cause: source,
        })?;
        let origin = path.display().to_string();
        let raw: RawCapacity = toml::from_str(&text).map_err(|e| SpecError::Parse {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        validate(raw, path.parent().unwrap_or(Path::new("."))).map_err(|errors| {
            SpecError::Invalid {
                path: origin,
                errors,
            }
        })
    }
}

fn validate(raw: RawCapacity, base: &Path) -> Result<CapacityProfile, Vec<String>> {
    let mut errors = Vec::new();
    let mut dur = |key: &str, w: &Written| {
        w.duration().unwrap_or_else(|e| {
            errors.push(format!("{key}: {e}"));
            Duration::ZERO
        })
    };
    let step = dur("step_duration", &raw.step_duration);
    let p99 = dur("slo.p99", &raw.slo.p99);
    if step < Duration::from_secs(2) || step > Duration::from_secs(120) {
        errors.push("step_duration: must be 2s to 120s".into());
    }
    if p99.is_zero() {
        errors.push("slo.p99: must be above zero".into());
    }
    if !(1..=4096).contains(&raw.connections) {
        errors.push("connections: must be 1 to 4096".into());
    }
    if raw.rates.is_empty() || raw.rates.len() > MAX_STEPS {
        errors.push(format!("rates: 1 to {MAX_STEPS} steps"));
    }
    if raw.rates.iter().any(|r| !(*r > 0.0 && *r <= 200_000.0)) {
        errors.push("rates: each must be above 0 and at most 200000".into());
    }
    if raw.rates.windows(2).any(|w| w[1] <= w[0]) {
        errors.push("rates: must be ascending".into());
    }
    if !(0.0..=1.0).contains(&raw.slo.error_budget) {
        errors.push("slo.error_budget: must be between 0 and 1".into());
    }
    if !(raw.slo.min_achieved > 0.0 && raw.slo.min_achieved <= 1.0) {
        errors.push("slo.min_achieved: must be above 0 and at most 1".into());
    }
    if raw
        .proxy_cores
        .is_some_and(|c| !(crate::rig::cpu_quota::MIN_CORES..=64.0).contains(&c))
    {
        errors.push("proxy_cores: must be between 0.01 and 64".into());
    }
    if raw.origin_delay_ms > 60_000 {
        errors.push("origin_delay_ms: must be at most 60000".into());
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CapacityProfile {
        name: raw.name,
        description: raw.description,
        load_profile: base.join(raw.load_profile),
        connections: raw.connections,
        step_duration: step,
        rates: raw.rates,
        slo: Slo {
            p99,
            error_budget: raw.slo.error_budget,
            min_achieved: raw.slo.min_achieved,
            min_knee_rps: raw.slo.min_knee_rps,
        },
        origin_delay_ms: raw.origin_delay_ms,
        proxy: raw.proxy,
        pin: raw.pin.unwrap_or(true),
        proxy_cores: raw.proxy_cores,
    })
}
