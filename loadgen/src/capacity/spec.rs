//! The capacity profile file: the SLO that ends each climb, and the paths climbed in one
//! run (`[[paths]]`: a scenario mix, a driver and its offered-load steps), and the `wrk`
//! cross-check (`[wrk]`).
//!
//! Its own small schema for the same reason as the fault profiles: the load profile
//! refuses unknown keys and describes one level of load, not a staircase. Several paths
//! in one run because a knee per core is only comparable between paths measured against
//! the same proxy, quota and machine minutes: the plain 1 KiB GET (the proxy's ceiling)
//! and the school-day mix (what sizing uses).

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
    step_duration: Written,
    paths: Vec<RawPath>,
    slo: RawSlo,
    #[serde(default)]
    wrk: Option<RawWrk>,
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
struct RawPath {
    name: String,
    #[serde(default)]
    description: String,
    load_profile: PathBuf,
    #[serde(default)]
    scenario_mix: Option<PathBuf>,
    driver: String,
    connections: u64,
    rates: Vec<f64>,
    #[serde(default)]
    slo_classes: Option<Vec<String>>,
    #[serde(default)]
    step_duration: Option<Written>,
    #[serde(default)]
    warmup: Option<Written>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrk {
    path: String,
    connections: u64,
    duration: Written,
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

/// Which driver climbs a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PathDriver {
    /// The lean open-loop driver: allowed-browsing GETs on a fixed schedule.
    OpenLoop,
    /// Goose users running the whole scenario mix, each paced to its share of the rate
    /// (latency from the intended send, so overload shows as it does open loop).
    Goose,
}

/// One path climbed: what is sent, by which driver, at which rates.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CapacityPath {
    /// Name (the steps' directory, the report's heading).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// The base load profile (its roster, client settings and warm-up).
    pub load_profile: PathBuf,
    /// The scenario mix sent, instead of the load profile's.
    pub scenario_mix: Option<PathBuf>,
    /// The driver.
    pub driver: PathDriver,
    /// Connections (open loop) or users (Goose).
    pub connections: u64,
    /// Offered rates, ascending.
    pub rates: Vec<f64>,
    /// The request classes whose p99 the SLO bounds (`None`: every class measured).
    pub slo_classes: Option<Vec<String>>,
    /// This path's step length, instead of the profile's.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub step_duration: Option<Duration>,
    /// This path's warm-up at the start of each step (left out of the step's figures),
    /// instead of [`STEP_WARMUP`](super::load::STEP_WARMUP): a path of many users needs
    /// them all started, connected and paced before its window is measured.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub warmup: Option<Duration>,
}

impl CapacityPath {
    /// The length of this path's steps, given the profile's.
    pub fn step(&self, profile_step: Duration) -> Duration {
        self.step_duration.unwrap_or(profile_step)
    }
}

fn serialize_opt_duration<S: serde::Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => crate::units::serialize_duration(d, s),
        None => s.serialize_none(),
    }
}

/// The `wrk` cross-check: the same closed-loop load from `wrk` and from the open-loop
/// driver (no schedule), against the same proxy, one after the other.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WrkCheck {
    /// The path (by name) whose mix gives the URL; an open-loop path.
    pub path: String,
    /// Connections each side keeps busy.
    pub connections: u64,
    /// How long each side runs.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub duration: Duration,
}

/// A validated capacity profile.
#[derive(Debug, Clone)]
pub struct CapacityProfile {
    /// Name.
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Length of each step.
    pub step_duration: Duration,
    /// The paths climbed, in order.
    pub paths: Vec<CapacityPath>,
    /// The `wrk` cross-check, when asked for.
    pub wrk: Option<WrkCheck>,
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
        // Paths in the file start at its directory, made absolute: each step's load
        // profile is written elsewhere and names them.
        let base = std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| path.parent().unwrap_or(Path::new(".")).to_path_buf());
        validate(raw, &base).map_err(|errors| SpecError::Invalid {
            path: origin,
            errors,
        })
    }
}

fn validate(raw: RawCapacity, base: &Path) -> Result<CapacityProfile, Vec<String>> {
    let mut errors = Vec::new();
    let dur = |key: &str, w: &Written, errors: &mut Vec<String>| {
        w.duration().unwrap_or_else(|e| {
            errors.push(format!("{key}: {e}"));
            Duration::ZERO
        })
    };
    let step = dur("step_duration", &raw.step_duration, &mut errors);
    let p99 = dur("slo.p99", &raw.slo.p99, &mut errors);
    if step < Duration::from_secs(2) || step > Duration::from_secs(120) {
        errors.push("step_duration: must be 2s to 120s".into());
    }
    if p99.is_zero() {
        errors.push("slo.p99: must be above zero".into());
    }
    if raw.paths.is_empty() {
        errors.push("paths: at least one [[paths]]".into());
    }
    let mut paths = Vec::new();
    for (i, p) in raw.paths.into_iter().enumerate() {
        match path(p, base) {
            Ok(p) if paths.iter().any(|q: &CapacityPath| q.name == p.name) => {
                errors.push(format!("paths[{i}].name: '{}' twice", p.name))
            }
            Ok(p) => paths.push(p),
            Err(e) => errors.extend(e.into_iter().map(|e| format!("paths[{i}].{e}"))),
        }
    }
    for p in paths.iter().filter(|p| p.step_duration.is_none()) {
        if p.warmup
            .is_some_and(|w| step.saturating_sub(w) < Duration::from_secs(2))
        {
            errors.push(format!(
                "paths '{}'.warmup: must leave at least 2s of the step measured",
                p.name
            ));
        }
    }
    let mut wrk = None;
    if let Some(w) = raw.wrk {
        let duration = dur("wrk.duration", &w.duration, &mut errors);
        if duration < Duration::from_secs(2) || duration > Duration::from_secs(60) {
            errors.push("wrk.duration: must be 2s to 60s".into());
        }
        if !(1..=1024).contains(&w.connections) {
            errors.push("wrk.connections: must be 1 to 1024".into());
        }
        match paths.iter().find(|p| p.name == w.path) {
            Some(p) if p.driver == PathDriver::OpenLoop => {}
            Some(_) => errors.push(format!("wrk.path: '{}' is not an open-loop path", w.path)),
            None => errors.push(format!("wrk.path: no path named '{}'", w.path)),
        }
        wrk = Some(WrkCheck {
            path: w.path,
            connections: w.connections,
            duration,
        });
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
        step_duration: step,
        paths,
        wrk,
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

fn path(raw: RawPath, base: &Path) -> Result<CapacityPath, Vec<String>> {
    let mut errors = Vec::new();
    let valid_name = !raw.name.is_empty()
        && raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        errors.push("name: letters, digits, '-' or '_' (it names a directory)".into());
    }
    let driver = match raw.driver.as_str() {
        "open-loop" => PathDriver::OpenLoop,
        "goose" => PathDriver::Goose,
        other => {
            errors.push(format!("driver: '{other}' is not open-loop or goose"));
            PathDriver::OpenLoop
        }
    };
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
    if let Some(bad) = raw
        .slo_classes
        .iter()
        .flatten()
        .find(|c| !rundir::columns::CLASSES.contains(&c.as_str()))
    {
        errors.push(format!("slo_classes: '{bad}' is not a request class"));
    }
    let dur = |key: &str, w: &Option<Written>, errors: &mut Vec<String>| {
        w.as_ref().and_then(|w| {
            w.duration()
                .map_err(|e| errors.push(format!("{key}: {e}")))
                .ok()
        })
    };
    let step_duration = dur("step_duration", &raw.step_duration, &mut errors);
    let warmup = dur("warmup", &raw.warmup, &mut errors);
    if step_duration.is_some_and(|d| d < Duration::from_secs(2) || d > Duration::from_secs(120)) {
        errors.push("step_duration: must be 2s to 120s".into());
    }
    if let (Some(w), Some(d)) = (warmup, step_duration) {
        if d.saturating_sub(w) < Duration::from_secs(2) {
            errors.push("warmup: must leave at least 2s of the step measured".into());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CapacityPath {
        name: raw.name,
        description: raw.description,
        load_profile: base.join(raw.load_profile),
        scenario_mix: raw.scenario_mix.map(|m| base.join(m)),
        driver,
        connections: raw.connections,
        rates: raw.rates,
        slo_classes: raw.slo_classes,
        step_duration,
        warmup,
    })
}
