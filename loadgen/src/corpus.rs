//! The URL corpus of a run, built once at load from the category database.
//!
//! Allowed URLs are hosts of categories every group may visit, ranked by a
//! Zipf popularity and each given a body size from the mix's size weights;
//! blocked URLs come from categories every group is denied. Hosts whose
//! decision could depend on something else (another category on the host or
//! a parent domain, a policy exception) are left out, so the expected answer
//! of every URL is certain. All URLs are pre-formatted: requests only pick one.

use std::collections::HashSet;
use std::net::SocketAddr;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::mix::{CorpusSpec, Mix};

/// Errors building the corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The category database could not be read.
    #[error("reading categories {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Too few usable entries.
    #[error("corpus: no usable {what} entries in the category database")]
    Empty {
        /// Allowed or blocked.
        what: &'static str,
    },
}

/// How URLs reach the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// Through the proxy: plain host names, default ports.
    Proxy,
    /// Straight to the origin: host names with the origin's ports (the client
    /// resolves every name to the origin).
    Direct {
        /// Plain HTTP address.
        http: SocketAddr,
        /// HTTPS address.
        https: SocketAddr,
    },
}

/// An allowed URL with its expected body size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizedUrl {
    /// The URL.
    pub url: String,
    /// Expected body length.
    pub size: u64,
}

/// Every URL a run uses.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Allowed browsing, by popularity rank.
    pub allowed: Vec<SizedUrl>,
    /// The same pages over HTTPS (CONNECT tunnels), by rank.
    pub allowed_https: Vec<SizedUrl>,
    /// Blocked pages.
    pub blocked: Vec<String>,
    /// `/cors` on allowed hosts.
    pub cors_allowed: Vec<String>,
    /// `/cors` on blocked hosts.
    pub cors_blocked: Vec<String>,
    /// `/echo/headers` on allowed hosts.
    pub identity: Vec<String>,
    /// Large chunked downloads on allowed hosts.
    pub downloads: Vec<SizedUrl>,
    zipf_cdf: Vec<f64>,
}

/// One usable entry: a host and an optional path prefix (`/gaming`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    host: String,
    prefix: String,
}

/// A text file, or its gzip (told apart by the gzip magic): a category database too big
/// for a Kubernetes ConfigMap travels gzipped under its own name (`loadgen k8s render`).
pub fn read_text(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read;
    let bytes = std::fs::read(path)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice()).read_to_string(&mut text)?;
        Ok(text)
    } else {
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

impl Corpus {
    /// Builds the corpus of a mix.
    pub fn build(mix: &Mix, addressing: Addressing) -> Result<Corpus, CorpusError> {
        let spec = &mix.corpus;
        let mut rng = rand::rngs::StdRng::seed_from_u64(spec.seed);
        let (mut allowed, mut blocked) = match &spec.categories {
            Some(path) => {
                let text = read_text(path).map_err(|source| CorpusError::Read {
                    path: path.display().to_string(),
                    cause: source,
                })?;
                entries(&text, spec)
            }
            None => synthetic(spec),
        };
        if allowed.is_empty() {
            return Err(CorpusError::Empty { what: "allowed" });
        }
        if blocked.is_empty() {
            return Err(CorpusError::Empty { what: "blocked" });
        }
        allowed.shuffle(&mut rng);
        blocked.shuffle(&mut rng);
        allowed.truncate(spec.allowed_urls);
        blocked.truncate(spec.blocked_urls);

        let total_weight: u64 = spec.sizes.iter().map(|(_, w)| w).sum();
        let pick_size = |rng: &mut rand::rngs::StdRng| {
            let mut roll = rng.random_range(0..total_weight);
            for (size, w) in &spec.sizes {
                if roll < *w {
                    return *size;
                }
                roll -= w;
            }
            spec.sizes.last().map_or(1024, |(s, _)| *s)
        };
        let sizes: Vec<u64> = allowed.iter().map(|_| pick_size(&mut rng)).collect();
        let url = |scheme: Scheme, e: &Entry, tail: &str| format_url(addressing, scheme, e, tail);
        let allowed_urls = allowed
            .iter()
            .zip(&sizes)
            .map(|(e, s)| SizedUrl {
                url: url(Scheme::Http, e, &format!("/bytes/{s}")),
                size: *s,
            })
            .collect();
        let allowed_https = allowed
            .iter()
            .zip(&sizes)
            .map(|(e, s)| SizedUrl {
                url: url(Scheme::Https, e, &format!("/bytes/{s}")),
                size: *s,
            })
            .collect();
        let few = |v: &[Entry]| v.iter().take(256).cloned().collect::<Vec<_>>();
        let downloads = few(&allowed)
            .iter()
            .take(64)
            .enumerate()
            .map(|(i, e)| {
                let size = mix
                    .download_sizes
                    .get(i % mix.download_sizes.len().max(1))
                    .copied()
                    .unwrap_or(4 << 20);
                SizedUrl {
                    url: url(Scheme::Http, e, &format!("/stream/{size}")),
                    size,
                }
            })
            .collect();
        Ok(Corpus {
            zipf_cdf: zipf_cdf(allowed.len(), spec.zipf_exponent),
            allowed: allowed_urls,
            allowed_https,
            blocked: blocked
                .iter()
                .map(|e| url(Scheme::Http, e, "/bytes/1024"))
                .collect(),
            cors_allowed: few(&allowed)
                .iter()
                .map(|e| url(Scheme::Http, e, "/cors"))
                .collect(),
            cors_blocked: few(&blocked)
                .iter()
                .map(|e| url(Scheme::Http, e, "/cors"))
                .collect(),
            identity: few(&allowed)
                .iter()
                .map(|e| url(Scheme::Http, e, "/echo/headers"))
                .collect(),
            downloads,
        })
    }

    /// Draws a popularity rank (Zipf) for the allowed lists.
    pub fn zipf_rank(&self, rng: &mut impl Rng) -> usize {
        let u: f64 = rng.random();
        self.zipf_cdf
            .partition_point(|c| *c < u)
            .min(self.zipf_cdf.len() - 1)
    }
}

#[derive(Debug, Clone, Copy)]
enum Scheme {
    Http,
    Https,
}

fn format_url(addressing: Addressing, scheme: Scheme, e: &Entry, tail: &str) -> String {
    let (s, port) = match (scheme, addressing) {
        (Scheme::Http, Addressing::Proxy) => ("http", None),
        (Scheme::Https, Addressing::Proxy) => ("https", None),
        (Scheme::Http, Addressing::Direct { http, .. }) => ("http", Some(http.port())),
        (Scheme::Https, Addressing::Direct { https, .. }) => ("https", Some(https.port())),
    };
    match port {
        Some(p) => format!("{s}://{}:{p}{}{tail}", e.host, e.prefix),
        None => format!("{s}://{}{}{tail}", e.host, e.prefix),
    }
}

/// Cumulative Zipf weights 1/(k+1)^s, normalised to end at 1.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (0..n)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// Whether `host` or one of its parent domains is in `set`.
fn covered(set: &HashSet<&str>, host: &str) -> bool {
    let mut h = host;
    loop {
        if set.contains(h) {
            return true;
        }
        match h.split_once('.') {
            Some((_, parent)) => h = parent,
            None => return false,
        }
    }
}

fn entries(text: &str, spec: &CorpusSpec) -> (Vec<Entry>, Vec<Entry>) {
    let rules: Vec<(&str, &str, &str)> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (target, category) = l.split_once(char::is_whitespace)?;
            let (host, prefix) = match target.find('/') {
                Some(i) => (&target[..i], &target[i..]),
                None => (target, ""),
            };
            Some((host, prefix.trim_end_matches('/'), category.trim()))
        })
        .collect();
    let is_allowed = |c: &str| spec.allowed_categories.iter().any(|a| a == c);
    let is_blocked = |c: &str| spec.blocked_categories.iter().any(|b| b == c);
    // Hosts with any rule outside the allowed set: their answer may vary.
    let not_allowed: HashSet<&str> = rules
        .iter()
        .filter(|(_, _, c)| !is_allowed(c))
        .map(|(h, _, _)| *h)
        .collect();
    let with_allowed: HashSet<&str> = rules
        .iter()
        .filter(|(_, _, c)| is_allowed(c))
        .map(|(h, _, _)| *h)
        .collect();
    let excluded: HashSet<&str> = spec.exclude_hosts.iter().map(String::as_str).collect();
    let mut seen = HashSet::new();
    let mut allowed = Vec::new();
    let mut blocked = Vec::new();
    for (host, prefix, cat) in &rules {
        if covered(&excluded, host) || !seen.insert((*host, *prefix)) {
            continue;
        }
        let entry = Entry {
            host: host.to_string(),
            prefix: prefix.to_string(),
        };
        if is_allowed(cat) && prefix.is_empty() && !covered(&not_allowed, host) {
            allowed.push(entry);
        } else if is_blocked(cat) && !with_allowed.contains(host) {
            blocked.push(entry);
        }
    }
    (allowed, blocked)
}

fn synthetic(spec: &CorpusSpec) -> (Vec<Entry>, Vec<Entry>) {
    let make = |n: usize, kind: &str| {
        (0..n)
            .map(|i| Entry {
                host: format!("site{i}.{kind}.test"),
                prefix: String::new(),
            })
            .collect()
    };
    (
        make(spec.allowed_urls, "allowed"),
        make(spec.blocked_urls, "blocked"),
    )
}
