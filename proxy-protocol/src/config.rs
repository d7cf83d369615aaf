//! The `[proxy_protocol]` section of the cloud proxy's config (raw, serde) and its
//! validated form, plus the shared-key type both sides use.
//!
//! Validation collects every problem, each naming its key, so an operator fixes a config
//! in one pass.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::tlv::{CUSTOM_RANGE, DEFAULT_TLV_TYPE};

/// Shortest accepted shared key: 128 bits.
pub const MIN_KEY_LEN: usize = 16;

/// The key shared by the appliance and the cloud proxy. `Debug` never prints it.
#[derive(Clone)]
pub struct HmacKey(Arc<[u8]>);

impl HmacKey {
    /// Wraps raw key bytes (validation of the length happens at config load).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HmacKey({} bytes, redacted)", self.0.len())
    }
}

/// One config problem, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted key, e.g. `proxy_protocol.hmac_key_file`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigIssue {
    /// Builds an issue for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// All problems found in one config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config:\n{}", .0.iter().map(|i| format!("  {i}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigIssues(pub Vec<ConfigIssue>);

/// Raw `[proxy_protocol]` section of the cloud proxy config.
///
/// ```toml
/// [proxy_protocol]
/// trusted_cidrs = ["192.0.2.10/32"]   # the schools' appliances
/// hmac_key_file = "appliance.key"     # relative to the config file
/// max_skew_secs = 30
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyProtocolConfig {
    /// Peers allowed to send a PROXY header. Anyone else is served as a plain client
    /// without a byte being read, so a header it sends is refused by the HTTP parser.
    pub trusted_cidrs: Vec<IpNet>,
    /// The shared key inline (for development; prefer `hmac_key_file`).
    #[serde(default)]
    pub hmac_key: Option<String>,
    /// File holding the shared key (trailing whitespace trimmed).
    #[serde(default)]
    pub hmac_key_file: Option<PathBuf>,
    /// Largest accepted difference between the header's timestamp and our clock.
    #[serde(default = "default_skew")]
    pub max_skew_secs: u64,
    /// How long a peer may take to send its header.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// Whether a trusted peer must send a header (true) or may also speak plain HTTP.
    #[serde(default = "default_true")]
    pub require_from_trusted: bool,
    /// Our TLV type, 0xE0-0xEF; must match the appliances'.
    #[serde(default = "default_tlv_type")]
    pub tlv_type: u8,
}

fn default_skew() -> u64 {
    30
}
fn default_header_timeout() -> u64 {
    5_000
}
fn default_true() -> bool {
    true
}
/// The TLV type when none is configured (serde default; the appliance's config uses it too).
pub fn default_tlv_type() -> u8 {
    DEFAULT_TLV_TYPE
}

/// Validated cloud-side settings, as [`super::accept`] uses them.
#[derive(Debug, Clone)]
pub struct CloudSideConfig {
    /// Peers allowed to send a PROXY header.
    pub trusted_cidrs: Vec<IpNet>,
    /// The shared key.
    pub key: HmacKey,
    /// Largest accepted clock difference, seconds.
    pub max_skew_secs: u64,
    /// Deadline for the whole header.
    pub header_timeout: Duration,
    /// Whether a trusted peer must send a header.
    pub require_from_trusted: bool,
    /// Our TLV type.
    pub tlv_type: u8,
}

impl CloudSideConfig {
    /// Settings with defaults for everything but the trusted CIDRs and the key.
    pub fn new(trusted_cidrs: Vec<IpNet>, key: HmacKey) -> Self {
        Self {
            trusted_cidrs,
            key,
            max_skew_secs: default_skew(),
            header_timeout: Duration::from_millis(default_header_timeout()),
            require_from_trusted: true,
            tlv_type: DEFAULT_TLV_TYPE,
        }
    }
}

impl ProxyProtocolConfig {
    /// Validates; `base_dir` resolves a relative key file; `prefix` is the section's key
    /// (usually `proxy_protocol`).
    pub fn validate(&self, base_dir: &Path, prefix: &str) -> Result<CloudSideConfig, ConfigIssues> {
        let mut issues = Vec::new();
        if self.trusted_cidrs.is_empty() {
            issues.push(ConfigIssue::new(
                format!("{prefix}.trusted_cidrs"),
                "must list at least one appliance network",
            ));
        }
        let key = load_key(
            self.hmac_key.as_deref(),
            self.hmac_key_file.as_deref(),
            base_dir,
            prefix,
            &mut issues,
        );
        check_tlv_type(self.tlv_type, prefix, &mut issues);
        if self.header_timeout_ms == 0 {
            issues.push(ConfigIssue::new(
                format!("{prefix}.header_timeout_ms"),
                "must be > 0",
            ));
        }
        match key {
            Some(key) if issues.is_empty() => Ok(CloudSideConfig {
                trusted_cidrs: self.trusted_cidrs.clone(),
                key,
                max_skew_secs: self.max_skew_secs,
                header_timeout: Duration::from_millis(self.header_timeout_ms),
                require_from_trusted: self.require_from_trusted,
                tlv_type: self.tlv_type,
            }),
            _ => Err(ConfigIssues(issues)),
        }
    }
}

/// Checks that `tlv_type` lies in the custom range (for both sides' configs).
pub fn check_tlv_type(tlv_type: u8, prefix: &str, issues: &mut Vec<ConfigIssue>) {
    if !CUSTOM_RANGE.contains(&tlv_type) {
        issues.push(ConfigIssue::new(
            format!("{prefix}.tlv_type"),
            format!("{tlv_type:#04x} is outside the custom range 0xE0-0xEF"),
        ));
    }
}

/// Loads the shared key from exactly one of `hmac_key` / `hmac_key_file`, recording issues
/// (for both sides' configs).
pub fn load_key(
    inline: Option<&str>,
    file: Option<&Path>,
    base_dir: &Path,
    prefix: &str,
    issues: &mut Vec<ConfigIssue>,
) -> Option<HmacKey> {
    let (bytes, key_name) = match (inline, file) {
        (Some(_), Some(_)) => {
            issues.push(ConfigIssue::new(
                format!("{prefix}.hmac_key"),
                "set either hmac_key or hmac_key_file, not both",
            ));
            return None;
        }
        (None, None) => {
            issues.push(ConfigIssue::new(
                format!("{prefix}.hmac_key_file"),
                "a shared key is required (hmac_key_file or hmac_key)",
            ));
            return None;
        }
        (Some(k), None) => (k.as_bytes().to_vec(), "hmac_key"),
        (None, Some(path)) => {
            let path = base_dir.join(path);
            match std::fs::read(&path) {
                Ok(mut b) => {
                    while b.last().is_some_and(|c| c.is_ascii_whitespace()) {
                        b.pop();
                    }
                    (b, "hmac_key_file")
                }
                Err(e) => {
                    issues.push(ConfigIssue::new(
                        format!("{prefix}.hmac_key_file"),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    return None;
                }
            }
        }
    };
    if bytes.len() < MIN_KEY_LEN {
        issues.push(ConfigIssue::new(
            format!("{prefix}.{key_name}"),
            format!("key must be at least {MIN_KEY_LEN} bytes"),
        ));
        return None;
    }
    Some(HmacKey::new(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_all_issues_with_keys() {
        let raw: ProxyProtocolConfig = toml::from_str(
            "trusted_cidrs = []\nhmac_key = \"short\"\ntlv_type = 0x20\nheader_timeout_ms = 0",
        )
        .expect("parses");
        let err = raw
            .validate(Path::new("."), "proxy_protocol")
            .expect_err("invalid");
        let keys: Vec<_> = err.0.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "proxy_protocol.trusted_cidrs",
                "proxy_protocol.hmac_key",
                "proxy_protocol.tlv_type",
                "proxy_protocol.header_timeout_ms"
            ]
        );
    }

    #[test]
    fn rejects_unknown_fields_and_reads_key_file() {
        assert!(toml::from_str::<ProxyProtocolConfig>("trusted_cidrs = []\nbogus = 1").is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("k"), "0123456789abcdef-key\n").expect("write");
        let raw: ProxyProtocolConfig =
            toml::from_str("trusted_cidrs = [\"127.0.0.1/32\"]\nhmac_key_file = \"k\"")
                .expect("parses");
        let cfg = raw.validate(dir.path(), "proxy_protocol").expect("valid");
        assert_eq!(cfg.key.as_bytes(), b"0123456789abcdef-key");
        assert!(!format!("{:?}", cfg.key).contains("0123"));
    }
}
