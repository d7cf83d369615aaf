//! What the harness needs to know about a load profile: its length, warm-up, target
//! rate, policy store, and the steady window to profile.
//!
//! The profile format belongs to the load generator (which validates it strictly when
//! `loadgen attack` loads it); the harness only reads these few values, leniently, so
//! the two can evolve separately. Durations are integers (seconds) or strings such as
//! `"90s"`, `"3m"`, `"500ms"`.

use std::path::Path;

use toml::{Table, Value};

use super::resources::SteadyWindow;
use super::HarnessError;

/// The harness's view of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileView {
    /// Profile name (the `name` key, else the file stem).
    pub name: String,
    /// Attack length including warm-up, seconds.
    pub duration_s: f64,
    /// Warm-up excluded from statistics, seconds.
    pub warmup_s: f64,
    /// Target request rate, when the profile caps it.
    pub target_rps: Option<f64>,
    /// Whether the proxy uses the Redis policy store.
    pub redis_store: bool,
    /// Whether to take a CPU profile in the steady window.
    pub cpu_profile: bool,
    /// Length of a direct-to-origin pass before the proxied run, seconds (0 = none).
    pub direct_pass_s: u64,
}

/// Parses a duration value: an integer or float of seconds, or a string with a unit.
pub fn parse_duration(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => (*i >= 0).then_some(*i as f64),
        Value::Float(f) => (*f >= 0.0).then_some(*f),
        Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let (num, unit) = s.split_at(split);
            let num: f64 = num.parse().ok()?;
            let scale = match unit.trim() {
                "ms" => 0.001,
                "s" | "sec" | "secs" => 1.0,
                "m" | "min" | "mins" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
            Some(num * scale)
        }
        _ => None,
    }
}

fn first<'a>(doc: &'a Table, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| doc.get(*k))
}

impl ProfileView {
    /// Reads the profile at `path`.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io {
            what: format!("read profile {}", path.display()),
            source,
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        Self::parse(&text, &stem).map_err(|detail| HarnessError::Config {
            detail: format!("profile {}: {detail}", path.display()),
        })
    }

    /// Reads a profile from its text; `stem` names it when it has no `name` key.
    pub fn parse(text: &str, stem: &str) -> Result<Self, String> {
        let doc: Table = toml::from_str(text).map_err(|e| e.to_string())?;
        let duration_s = first(&doc, &["duration", "duration_s", "duration_secs"])
            .and_then(parse_duration)
            .ok_or("no valid `duration`")?;
        let warmup_s = first(&doc, &["warmup", "warm_up", "warmup_s"])
            .and_then(parse_duration)
            .unwrap_or(0.0);
        let target_rps =
            first(&doc, &["target_rps", "target_rate", "rate"]).and_then(|v| match v {
                Value::Integer(i) => Some(*i as f64),
                Value::Float(f) => Some(*f),
                _ => None,
            });
        let store = first(&doc, &["store", "policy_store"]).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Table(t) => t.get("kind").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        });
        let harness = doc.get("harness").and_then(Value::as_table);
        let cpu_profile = harness
            .and_then(|h| h.get("cpu_profile"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let direct_pass_s = harness
            .and_then(|h| h.get("direct_pass"))
            .and_then(parse_duration)
            .unwrap_or(0.0) as u64;
        Ok(Self {
            name: doc
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(stem)
                .to_owned(),
            duration_s,
            warmup_s,
            target_rps,
            redis_store: store.as_deref() == Some("redis"),
            cpu_profile,
            direct_pass_s,
        })
    }

    /// Applies a `--duration` override: the warm-up keeps its length unless it would
    /// take more than a third of the shortened run.
    pub fn with_duration(mut self, duration_s: f64) -> Self {
        self.duration_s = duration_s;
        self.warmup_s = self.warmup_s.min(duration_s / 3.0);
        self
    }

    /// The steady window: after warm-up, up to one second before the end (the last
    /// second is cut short by the stop).
    pub fn steady_window(&self) -> SteadyWindow {
        let end = (self.duration_s - 1.0).max(self.warmup_s);
        SteadyWindow {
            start_s: self.warmup_s,
            end_s: end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_several_spellings() {
        assert_eq!(parse_duration(&Value::Integer(90)), Some(90.0));
        assert_eq!(parse_duration(&Value::String("3m".into())), Some(180.0));
        assert_eq!(parse_duration(&Value::String("500ms".into())), Some(0.5));
        assert_eq!(parse_duration(&Value::String("2.5s".into())), Some(2.5));
        assert_eq!(parse_duration(&Value::String("7 parsecs".into())), None);
        assert_eq!(parse_duration(&Value::Integer(-1)), None);
    }

    #[test]
    fn reads_a_profile_and_derives_the_window() {
        let text = r#"
name = "peak"
users = 200
duration = "3m"
warmup = "20s"
target_rps = 2000
store = "redis"
[harness]
direct_pass = "10s"
"#;
        let p = ProfileView::parse(text, "x").unwrap();
        assert_eq!(p.name, "peak");
        assert_eq!((p.duration_s, p.warmup_s), (180.0, 20.0));
        assert_eq!(p.target_rps, Some(2000.0));
        assert!(p.redis_store && p.cpu_profile);
        assert_eq!(p.direct_pass_s, 10);
        assert_eq!(
            p.steady_window(),
            SteadyWindow {
                start_s: 20.0,
                end_s: 179.0
            }
        );
        let short = p.with_duration(6.0);
        assert_eq!(
            short.steady_window(),
            SteadyWindow {
                start_s: 2.0,
                end_s: 5.0
            }
        );
    }

    #[test]
    fn a_profile_without_duration_is_refused() {
        let err = ProfileView::parse("users = 3", "ci").unwrap_err();
        assert!(err.contains("duration"), "{err}");
    }
}
