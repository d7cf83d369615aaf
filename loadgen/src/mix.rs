//! Scenario mix files (`scenarios/*.toml`): what traffic a run sends.
//!
//! Weights of the six scenarios, think time, the roster of simulated users and
//! the URL corpus parameters are data, validated like profiles: unknown keys
//! are refused by serde, then every problem is collected with its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::units::Written;

/// Names of the scenarios a mix can weight, in report order.
pub const SCENARIOS: [&str; 6] = [
    "browse_allowed",
    "browse_blocked",
    "https_tunnel",
    "cors_xhr",
    "identity_check",
    "large_download",
];

/// Errors loading a mix.
#[derive(Debug, thiserror::Error)]
pub enum MixError {
    /// The file could not be read.
    #[error("reading scenario mix {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Malformed TOML or an unknown key.
    #[error("scenario mix {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (names the key).
        message: String,
    },
    /// Values failed validation, one `key: problem` per line.
    #[error("scenario mix {path} is invalid:\n  {}", .errors.join("\n  "))]
    Invalid {
        /// The file.
        path: String,
        /// The problems.
        errors: Vec<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMix {
    weights: BTreeMap<String, u64>,
    #[serde(default)]
    think_time: Option<RawThink>,
    #[serde(default)]
    client: Option<RawClient>,
    roster: RawRoster,
    corpus: RawCorpus,
    #[serde(default)]
    download: Option<RawDownload>,
    #[serde(default)]
    cors: Option<RawCors>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThink {
    min: Written,
    max: Written,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    request_timeout: Written,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoster {
    #[serde(default)]
    users_csv: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    generate: Vec<GeneratedGroup>,
    #[serde(default)]
    seed: u64,
}

/// A generated part of the roster: `count` users named `<prefix><n>` (n zero
/// padded to `width`), password `pw-<user>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedGroup {
    /// Group name.
    pub group: String,
    /// User name prefix.
    pub prefix: String,
    /// Number of users.
    pub count: u64,
    /// Digits of the number.
    #[serde(default = "default_width")]
    pub width: usize,
}

fn default_width() -> usize {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCorpus {
    #[serde(default)]
    categories: Option<String>,
    #[serde(default)]
    allowed_categories: Vec<String>,
    #[serde(default)]
    blocked_categories: Vec<String>,
    #[serde(default)]
    exclude_hosts: Vec<String>,
    allowed_urls: usize,
    blocked_urls: usize,
    zipf_exponent: f64,
    #[serde(default)]
    seed: u64,
    sizes: Vec<RawSize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSize {
    size: Written,
    weight: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDownload {
    sizes: Vec<Written>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCors {
    page_origin: String,
}

/// Where the roster comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RosterSource {
    /// Rows of a `user,group,password` CSV, keeping these groups (all if empty).
    Csv {
        /// The file.
        path: PathBuf,
        /// Groups kept.
        groups: Vec<String>,
    },
    /// Generated users.
    Generated(Vec<GeneratedGroup>),
}

/// URL corpus parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorpusSpec {
    /// Category database (`<domain>[/<prefix>] <category>`); synthetic hosts when absent.
    pub categories: Option<PathBuf>,
    /// Categories allowed for every group.
    pub allowed_categories: Vec<String>,
    /// Categories blocked for every group.
    pub blocked_categories: Vec<String>,
    /// Hosts left out (policy exceptions).
    pub exclude_hosts: Vec<String>,
    /// Distinct allowed URLs.
    pub allowed_urls: usize,
    /// Distinct blocked URLs.
    pub blocked_urls: usize,
    /// Zipf exponent of URL popularity.
    pub zipf_exponent: f64,
    /// Seed of every random choice made at load.
    pub seed: u64,
    /// Body sizes and their weights.
    pub sizes: Vec<(u64, u64)>,
}

/// A validated mix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mix {
    /// The file it came from.
    pub path: PathBuf,
    /// Weight per scenario name (every name of [`SCENARIOS`], 0 if not given).
    pub weights: BTreeMap<String, u64>,
    /// Think time bounds.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub think_min: Duration,
    /// Think time bounds.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub think_max: Duration,
    /// Per-request timeout.
    #[serde(serialize_with = "crate::units::serialize_duration")]
    pub request_timeout: Duration,
    /// Roster source.
    pub roster: RosterSource,
    /// Roster shuffle seed.
    pub roster_seed: u64,
    /// Corpus parameters.
    pub corpus: CorpusSpec,
    /// Sizes of large downloads.
    pub download_sizes: Vec<u64>,
    /// Origin of the page making cross-origin requests.
    pub cors_origin: String,
}

impl Mix {
    /// Loads and validates a mix file.
    pub fn load(path: &Path) -> Result<Mix, MixError> {
        let text = std::fs::read_to_string(path).map_err(|source| MixError::Read {
            path: path.display().to_string(),
            cause: source,
        })?;
        let raw: RawMix = toml::from_str(&text).map_err(|e| MixError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        validate(raw, base, path).map_err(|errors| MixError::Invalid {
            path: path.display().to_string(),
            errors,
        })
    }

    /// The weight of a scenario.
    pub fn weight(&self, scenario: &str) -> u64 {
        self.weights.get(scenario).copied().unwrap_or(0)
    }
}

fn validate(raw: RawMix, base: &Path, path: &Path) -> Result<Mix, Vec<String>> {
    let mut errors = Vec::new();
    let mut weights = BTreeMap::new();
    for name in SCENARIOS {
        weights.insert(name.to_string(), 0);
    }
    for (name, w) in &raw.weights {
        if SCENARIOS.contains(&name.as_str()) {
            weights.insert(name.clone(), *w);
        } else {
            errors.push(format!(
                "weights.{name}: unknown scenario (known: {})",
                SCENARIOS.join(", ")
            ));
        }
    }
    if weights.values().all(|w| *w == 0) {
        errors.push("weights: at least one scenario needs a weight above 0".into());
    }
    let mut dur = |key: &str, w: &Written| match w.duration() {
        Ok(d) => d,
        Err(e) => {
            errors.push(format!("{key}: {e}"));
            Duration::ZERO
        }
    };
    let (think_min, think_max) = match &raw.think_time {
        Some(t) => (dur("think_time.min", &t.min), dur("think_time.max", &t.max)),
        None => (Duration::ZERO, Duration::ZERO),
    };
    let request_timeout = raw.client.as_ref().map_or(Duration::from_secs(30), |c| {
        dur("client.request_timeout", &c.request_timeout)
    });
    if think_min > think_max {
        errors.push("think_time: min is above max".into());
    }
    if request_timeout.is_zero() {
        errors.push("client.request_timeout: must be above 0".into());
    }

    let roster = match (&raw.roster.users_csv, raw.roster.generate.is_empty()) {
        (Some(csv), true) => {
            let p = base.join(csv);
            if !p.is_file() {
                errors.push(format!("roster.users_csv: no file at {}", p.display()));
            }
            RosterSource::Csv {
                path: p,
                groups: raw.roster.groups.clone(),
            }
        }
        (None, false) => {
            for (i, g) in raw.roster.generate.iter().enumerate() {
                if g.count == 0 || g.prefix.is_empty() || g.group.is_empty() {
                    errors.push(format!(
                        "roster.generate[{i}]: needs a group, a prefix and a count above 0"
                    ));
                }
            }
            RosterSource::Generated(raw.roster.generate.clone())
        }
        _ => {
            errors.push("roster: set exactly one of users_csv and generate".into());
            RosterSource::Generated(Vec::new())
        }
    };

    let c = &raw.corpus;
    let categories = c.categories.as_ref().map(|f| base.join(f));
    if let Some(p) = &categories {
        if !p.is_file() {
            errors.push(format!("corpus.categories: no file at {}", p.display()));
        }
    }
    if categories.is_some() && (c.allowed_categories.is_empty() || c.blocked_categories.is_empty())
    {
        errors.push(
            "corpus: allowed_categories and blocked_categories are needed with categories".into(),
        );
    }
    if c.allowed_urls == 0 || c.blocked_urls == 0 {
        errors.push("corpus.allowed_urls / corpus.blocked_urls: must be above 0".into());
    }
    if !(c.zipf_exponent >= 0.0 && c.zipf_exponent.is_finite()) {
        errors.push("corpus.zipf_exponent: must be 0 or more".into());
    }
    let mut sizes = Vec::new();
    for (i, s) in c.sizes.iter().enumerate() {
        match s.size.size() {
            Ok(n) if n <= crate::origin::routes::MAX_BODY => sizes.push((n, s.weight)),
            Ok(_) => errors.push(format!("corpus.sizes[{i}].size: above 1GiB")),
            Err(e) => errors.push(format!("corpus.sizes[{i}].size: {e}")),
        }
    }
    if sizes.iter().all(|(_, w)| *w == 0) {
        errors.push("corpus.sizes: needs at least one size with a weight above 0".into());
    }
    let mut download_sizes = Vec::new();
    for (i, s) in raw.download.iter().flat_map(|d| d.sizes.iter()).enumerate() {
        match s.size() {
            Ok(n) if n > 0 && n <= crate::origin::routes::MAX_BODY => download_sizes.push(n),
            Ok(_) => errors.push(format!("download.sizes[{i}]: must be 1 byte to 1GiB")),
            Err(e) => errors.push(format!("download.sizes[{i}]: {e}")),
        }
    }
    if download_sizes.is_empty() && weights["large_download"] > 0 {
        errors.push("download.sizes: needed when large_download has a weight".into());
    }
    let cors_origin = raw
        .cors
        .as_ref()
        .map_or("https://portal.school.example".to_string(), |c| {
            c.page_origin.clone()
        });
    if http::HeaderValue::from_str(&cors_origin).is_err() || !cors_origin.contains("://") {
        errors.push(
            "cors.page_origin: must be an origin such as https://portal.school.example".into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Mix {
        path: path.to_path_buf(),
        weights,
        think_min,
        think_max,
        request_timeout,
        roster,
        roster_seed: raw.roster.seed,
        corpus: CorpusSpec {
            categories,
            allowed_categories: c.allowed_categories.clone(),
            blocked_categories: c.blocked_categories.clone(),
            exclude_hosts: c.exclude_hosts.clone(),
            allowed_urls: c.allowed_urls,
            blocked_urls: c.blocked_urls,
            zipf_exponent: c.zipf_exponent,
            seed: c.seed,
            sizes,
        },
        download_sizes,
        cors_origin,
    })
}
