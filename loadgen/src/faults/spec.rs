//! The fault profile file: a base load profile, proxy settings for the run, and a
//! timeline of faults, each with the behaviour it expects.
//!
//! A separate small file (rather than more keys in the load profile) because the load
//! profile schema refuses unknown keys and is shared by every driver; a fault profile
//! only borrows its scenario mix. Parsed strictly (`deny_unknown_fields`), then
//! validated with every problem collected and named by its key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::units::Written;

use super::expect;
pub use super::expect::{Expect, FailMode};

/// Most slowloris connections one fault may open.
pub const MAX_SLOW_CLIENTS: u64 = 10_000;
/// Longest run a fault profile may ask for.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Highest offered rate of the background traffic.
pub const MAX_RATE: f64 = 20_000.0;

/// Why a fault profile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("read {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// Values out of range, each naming its key.
    #[error("{path}: {}", errors.join("; "))]
    Invalid {
        /// The file.
        path: String,
        /// One line per problem.
        errors: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: String,
    #[serde(default)]
    description: String,
    load_profile: PathBuf,
    duration: Written,
    rate: f64,
    connections: u64,
    #[serde(default)]
    redis: bool,
    #[serde(default)]
    proxy: toml::Table,
    #[serde(default)]
    faults: Vec<RawFault>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    kind: String,
    start: Written,
    length: Written,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    reset_rate: Option<f64>,
    #[serde(default)]
    clients: Option<u64>,
    #[serde(default)]
    expect: expect::RawExpect,
}

/// What is injected.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultKind {
    /// `CLIENT PAUSE` on the Redis the proxy uses.
    RedisSlow,
    /// Redis killed at the start and restarted (same port) at the end.
    RedisDown,
    /// The origin delays every answer by `delay_ms`.
    OriginSlow {
        /// Added delay.
        delay_ms: u64,
    },
    /// The origin drops this fraction of connections without an answer.
    OriginReset {
        /// Fraction 0..=1.
        reset_rate: f64,
    },
    /// This many slowloris connections held open against the proxy.
    SlowClients {
        /// Connection count.
        clients: u64,
    },
}

impl FaultKind {
    /// The name used in files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::RedisSlow => "redis-slow",
            FaultKind::RedisDown => "redis-down",
            FaultKind::OriginSlow { .. } => "origin-slow",
            FaultKind::OriginReset { .. } => "origin-reset",
            FaultKind::SlowClients { .. } => "slow-clients",
        }
    }

    /// Whether the fault needs the Redis store.
    pub fn needs_redis(&self) -> bool {
        matches!(self, FaultKind::RedisSlow | FaultKind::RedisDown)
    }
}

/// One fault of the timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fault {
    /// What is injected.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Offset from the start of the traffic.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub start: Duration,
    /// How long the fault lasts.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub length: Duration,
    /// What must hold.
    pub expect: Expect,
}

impl Fault {
    /// Offset of the fault's end.
    pub fn end(&self) -> Duration {
        self.start + self.length
    }
}

/// A validated fault profile.
#[derive(Debug, Clone)]
pub struct FaultProfile {
    /// Name (reports, run directory).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// The base load profile whose scenario mix gives URLs and users.
    pub load_profile: PathBuf,
    /// Length of the background traffic.
    pub duration: Duration,
    /// Offered rate of the background traffic (requests/s, open loop).
    pub rate: f64,
    /// Connections the background traffic uses.
    pub connections: u64,
    /// Whether the proxy uses a Redis store started for the run.
    pub redis: bool,
    /// Settings merged over the generated proxy config (same layout as the config).
    pub proxy: toml::Table,
    /// The timeline.
    pub faults: Vec<Fault>,
}

impl FaultProfile {
    /// Loads and validates a fault profile; relative paths resolve against its directory.
    pub fn load(path: &Path) -> Result<FaultProfile, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            cause: source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, &path.display().to_string())
    }

    /// Parses and validates profile text.
    pub fn parse(text: &str, base: &Path, origin: &str) -> Result<FaultProfile, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| SpecError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })?;
        validate(raw, base).map_err(|errors| SpecError::Invalid {
            path: origin.to_owned(),
            errors,
        })
    }

    /// Shortens the run to `duration`, scaling every fault's start and length alike.
    pub fn shortened(mut self, duration: Duration) -> FaultProfile {
        if duration.is_zero() || duration >= self.duration {
            return self;
        }
        let scale = duration.as_secs_f64() / self.duration.as_secs_f64();
        for f in &mut self.faults {
            f.start = f.start.mul_f64(scale);
            f.length = f.length.mul_f64(scale);
        }
        self.duration = duration;
        self
    }
}

fn duration(errors: &mut Vec<String>, key: &str, w: &Written) -> Duration {
    w.duration().unwrap_or_else(|e| {
        errors.push(format!("{key}: {e}"));
        Duration::ZERO
    })
}

fn validate(raw: RawSpec, base: &Path) -> Result<FaultProfile, Vec<String>> {
    let mut errors = Vec::new();
    if raw.name.trim().is_empty() {
        errors.push("name: must not be empty".into());
    }
    let total = duration(&mut errors, "duration", &raw.duration);
    if total.is_zero() || total > MAX_DURATION {
        errors.push(format!(
            "duration: must be between 1s and {}s",
            MAX_DURATION.as_secs()
        ));
    }
    if !(raw.rate > 0.0 && raw.rate <= MAX_RATE) {
        errors.push(format!("rate: must be above 0 and at most {MAX_RATE}"));
    }
    if !(1..=4096).contains(&raw.connections) {
        errors.push("connections: must be between 1 and 4096".into());
    }
    if raw.faults.is_empty() {
        errors.push("faults: the timeline needs at least one [[faults]] entry".into());
    }
    let mut faults = Vec::new();
    for (i, f) in raw.faults.iter().enumerate() {
        let key = |k: &str| format!("faults[{i}].{k}");
        let start = duration(&mut errors, &key("start"), &f.start);
        let length = duration(&mut errors, &key("length"), &f.length);
        if length.is_zero() {
            errors.push(format!("{}: must be above zero", key("length")));
        }
        if start + length > total {
            errors.push(format!(
                "{}: the fault must end before `duration`",
                key("length")
            ));
        }
        let mut need = |name: &str, present: bool| {
            if !present {
                errors.push(format!("{}: required for kind `{}`", key(name), f.kind));
            }
        };
        let kind = match f.kind.as_str() {
            "redis-slow" => Some(FaultKind::RedisSlow),
            "redis-down" => Some(FaultKind::RedisDown),
            "origin-slow" => {
                need("delay_ms", f.delay_ms.is_some());
                Some(FaultKind::OriginSlow {
                    delay_ms: f.delay_ms.unwrap_or(0),
                })
            }
            "origin-reset" => {
                need("reset_rate", f.reset_rate.is_some());
                Some(FaultKind::OriginReset {
                    reset_rate: f.reset_rate.unwrap_or(0.0),
                })
            }
            "slow-clients" => {
                need("clients", f.clients.is_some());
                Some(FaultKind::SlowClients {
                    clients: f.clients.unwrap_or(0),
                })
            }
            other => {
                errors.push(format!(
                    "{}: unknown `{other}` (redis-slow, redis-down, origin-slow, origin-reset, slow-clients)",
                    key("kind")
                ));
                None
            }
        };
        match kind {
            Some(FaultKind::OriginSlow { delay_ms }) if delay_ms == 0 || delay_ms > 60_000 => {
                errors.push(format!("{}: must be 1 to 60000", key("delay_ms")))
            }
            Some(FaultKind::OriginReset { reset_rate })
                if !(reset_rate > 0.0 && reset_rate <= 1.0) =>
            {
                errors.push(format!(
                    "{}: must be above 0 and at most 1",
                    key("reset_rate")
                ))
            }
            Some(FaultKind::SlowClients { clients })
                if clients == 0 || clients > MAX_SLOW_CLIENTS =>
            {
                errors.push(format!(
                    "{}: must be 1 to {MAX_SLOW_CLIENTS}",
                    key("clients")
                ))
            }
            Some(k) if k.needs_redis() && !raw.redis => errors.push(format!(
                "{}: `{}` needs `redis = true`",
                key("kind"),
                k.name()
            )),
            _ => {}
        }
        let expect = f.expect.validate(&mut errors, &key("expect"));
        if expect == Expect::default() {
            errors.push(format!("{}: a fault must expect something", key("expect")));
        }
        if let Some(kind) = kind {
            faults.push(Fault {
                kind,
                start,
                length,
                expect,
            });
        }
    }
    for (i, pair) in faults.windows(2).enumerate() {
        if pair[1].start < pair[0].end() {
            errors.push(format!(
                "faults[{}].start: must not begin before the previous fault ends",
                i + 1
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(FaultProfile {
        name: raw.name,
        description: raw.description,
        load_profile: base.join(raw.load_profile),
        duration: total,
        rate: raw.rate,
        connections: raw.connections,
        redis: raw.redis,
        proxy: raw.proxy,
        faults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
load_profile = "ci.toml"
duration = "20s"
rate = 100
connections = 8
redis = true
[proxy.store.redis]
timeout = "200ms"
[[faults]]
kind = "redis-slow"
start = "5s"
length = "5s"
expect = { max_wait = "500ms", store_fail_mode = "open" }
"#;

    #[test]
    fn parses_a_timeline_and_shortens_it_in_proportion() {
        let p = FaultProfile::parse(GOOD, Path::new("/p"), "t.toml").unwrap();
        assert_eq!(p.faults.len(), 1);
        assert_eq!(p.faults[0].kind, FaultKind::RedisSlow);
        assert_eq!(p.faults[0].expect.store_fail_mode, Some(FailMode::Open));
        assert_eq!(p.load_profile, Path::new("/p/ci.toml"));
        let s = p.shortened(Duration::from_secs(10));
        assert_eq!(s.faults[0].start, Duration::from_millis(2500));
        assert_eq!(s.faults[0].end(), Duration::from_secs(5));
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let bad = GOOD
            .replace("redis = true", "redis = false")
            .replace("rate = 100", "rate = 0")
            .replace("length = \"5s\"", "length = \"50s\"");
        let err = FaultProfile::parse(&bad, Path::new("."), "t.toml").unwrap_err();
        let text = err.to_string();
        for key in ["rate:", "faults[0].length", "needs `redis = true`"] {
            assert!(text.contains(key), "{key} missing from: {text}");
        }
        let unknown = GOOD.replace("connections = 8", "connections = 8\nspeed = 1");
        assert!(FaultProfile::parse(&unknown, Path::new("."), "t").is_err());
    }
}
