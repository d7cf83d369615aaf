//! The `[store]` config section: serde shape (`deny_unknown_fields`) and its validation
//! into [`StoreSettings`] (all problems collected, each naming its key).
//!
//! ```toml
//! [store]
//! backend = "redis"            # or "memory" (default): the TOML/CSV files only
//! [store.redis]
//! url = "redis://127.0.0.1:6379/0"
//! key_prefix = "fp:"           # keys: <prefix>ip:<addr>, <prefix>user:<name>, <prefix>group:<name>
//! timeout = "200ms"            # per Redis call; no request waits longer on the store
//! cache_ttl = "30s"            # found answers
//! negative_ttl = "5s"          # "not found" answers
//! cache_capacity = 100000      # entries per cache (ip, user, group)
//! breaker_failures = 5         # consecutive failures that open the breaker
//! breaker_open = "2s"          # fail fast this long, then probe once
//! fail_mode = "open"           # open: allow with the default policy; closed: block page
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::duration::parse_duration;

/// Which store answers identity and policy lookups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The embedded files (users CSV, policy TOML): no network.
    #[default]
    Memory,
    /// A Redis server, with a local cache, a breaker and the embedded files as fallback.
    Redis,
}

/// What to do with a request when the store cannot answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Allow with the `default` group's policy (filtering continues, identity is lost).
    #[default]
    Open = 0,
    /// Block with the "filtering unavailable" page.
    Closed = 1,
}

/// The `[store]` table as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `memory` (default) or `redis`.
    #[serde(default)]
    pub backend: Backend,
    /// `[store.redis]`; required when `backend = "redis"`.
    pub redis: Option<RedisConfig>,
}

/// The `[store.redis]` table as written (durations as `"200ms"`, `"30s"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`.
    pub url: String,
    /// Prefix of every key. Default `fp:`.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Per-call timeout. Default `200ms`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// Lifetime of cached found answers. Default `30s`.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl: String,
    /// Lifetime of cached "not found" answers. Default `5s`.
    #[serde(default = "default_negative_ttl")]
    pub negative_ttl: String,
    /// Entries per cache. Default 100000.
    #[serde(default = "default_capacity")]
    pub cache_capacity: usize,
    /// Consecutive failures that open the breaker. Default 5.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker fails fast before probing. Default `2s`.
    #[serde(default = "default_breaker_open")]
    pub breaker_open: String,
    /// `open` (default) or `closed`.
    #[serde(default)]
    pub fail_mode: FailMode,
}

fn default_prefix() -> String {
    "fp:".to_string()
}
fn default_timeout() -> String {
    "200ms".to_string()
}
fn default_cache_ttl() -> String {
    "30s".to_string()
}
fn default_negative_ttl() -> String {
    "5s".to_string()
}
fn default_capacity() -> usize {
    100_000
}
fn default_breaker_failures() -> u32 {
    5
}
fn default_breaker_open() -> String {
    "2s".to_string()
}

impl RedisConfig {
    /// Settings with every default, for `url`.
    pub fn with_url(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            key_prefix: default_prefix(),
            timeout: default_timeout(),
            cache_ttl: default_cache_ttl(),
            negative_ttl: default_negative_ttl(),
            cache_capacity: default_capacity(),
            breaker_failures: default_breaker_failures(),
            breaker_open: default_breaker_open(),
            fail_mode: FailMode::Open,
        }
    }
}

/// Validated store settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    /// The embedded files.
    Memory,
    /// Redis.
    Redis(RedisSettings),
}

/// Validated `[store.redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://host:port/db`.
    pub url: String,
    /// Key prefix.
    pub key_prefix: String,
    /// Per-call timeout.
    pub timeout: Duration,
    /// Found-answer lifetime.
    pub cache_ttl: Duration,
    /// Not-found-answer lifetime.
    pub negative_ttl: Duration,
    /// Entries per cache.
    pub cache_capacity: usize,
    /// Failures that open the breaker.
    pub breaker_failures: u32,
    /// Open period of the breaker.
    pub breaker_open: Duration,
    /// Behaviour when the store cannot answer.
    pub fail_mode: FailMode,
}

impl StoreConfig {
    /// Validates the section; every problem is returned, naming its key (`store.…`).
    pub fn validate(&self) -> Result<StoreSettings, Vec<String>> {
        match (self.backend, &self.redis) {
            (Backend::Memory, _) => Ok(StoreSettings::Memory),
            (Backend::Redis, None) => Err(vec![
                "store.redis: required when store.backend = \"redis\"".to_string(),
            ]),
            (Backend::Redis, Some(redis)) => redis.validate().map(StoreSettings::Redis),
        }
    }
}

impl RedisConfig {
    /// Validates `[store.redis]`; every problem is returned, naming its key.
    pub fn validate(&self) -> Result<RedisSettings, Vec<String>> {
        let mut errors = Vec::new();
        let mut duration = |key: &str, text: &str, allow_zero: bool| {
            match parse_duration(text) {
                Ok(d) if d.is_zero() && !allow_zero => {
                    errors.push(format!("store.redis.{key}: must be greater than zero"))
                }
                Ok(d) => return d,
                Err(e) => errors.push(format!("store.redis.{key}: {e}")),
            }
            Duration::ZERO
        };
        let timeout = duration("timeout", &self.timeout, false);
        let cache_ttl = duration("cache_ttl", &self.cache_ttl, true);
        let negative_ttl = duration("negative_ttl", &self.negative_ttl, true);
        let breaker_open = duration("breaker_open", &self.breaker_open, false);
        if let Err(e) = redis::Client::open(self.url.as_str()) {
            errors.push(format!("store.redis.url: {e}"));
        }
        if self.cache_capacity == 0 {
            errors.push("store.redis.cache_capacity: must be at least 1".to_string());
        }
        if self.breaker_failures == 0 {
            errors.push("store.redis.breaker_failures: must be at least 1".to_string());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RedisSettings {
            url: self.url.clone(),
            key_prefix: self.key_prefix.clone(),
            timeout,
            cache_ttl,
            negative_ttl,
            cache_capacity: self.cache_capacity,
            breaker_failures: self.breaker_failures,
            breaker_open,
            fail_mode: self.fail_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let cfg: StoreConfig = toml::from_str("").expect("empty section parses");
        assert_eq!(cfg.validate(), Ok(StoreSettings::Memory));
        let cfg: StoreConfig =
            toml::from_str("backend = \"redis\"\n[redis]\nurl = \"redis://127.0.0.1:1/0\"\n")
                .expect("parses");
        let Ok(StoreSettings::Redis(s)) = cfg.validate() else {
            panic!("expected redis settings");
        };
        assert_eq!(s.timeout, Duration::from_millis(200));
        assert_eq!(s.fail_mode, FailMode::Open);
        assert_eq!(s.key_prefix, "fp:");
    }

    #[test]
    fn errors_name_every_key() {
        let cfg: StoreConfig = toml::from_str(
            "backend = \"redis\"\n[redis]\nurl = \"nope://x\"\ntimeout = \"0ms\"\n\
             cache_ttl = \"10\"\ncache_capacity = 0\nbreaker_failures = 0\n",
        )
        .expect("parses");
        let errors = cfg.validate().expect_err("invalid");
        for key in [
            "store.redis.url",
            "store.redis.timeout",
            "store.redis.cache_ttl",
            "store.redis.cache_capacity",
            "store.redis.breaker_failures",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(key)),
                "{key}: {errors:?}"
            );
        }
        let missing: StoreConfig = toml::from_str("backend = \"redis\"").expect("parses");
        assert!(missing.validate().is_err());
        assert!(toml::from_str::<StoreConfig>("backnd = \"redis\"").is_err());
    }
}
