//! Domain-name helpers shared by the category database and the policy lists: validation
//! at load time, the allocation-free walk over a host and its parent domains, and a fast
//! non-keyed string hasher for the read-only lookup tables.
//!
//! Why a custom hasher: the tables are built from trusted files at load and only *queried*
//! with client input, so hash flooding cannot degrade them (a client cannot insert keys);
//! SipHash would spend most of the lookup budget hashing short host names.

use std::hash::{BuildHasherDefault, Hasher};

/// Longest domain name accepted (RFC 1035, without the trailing dot).
const MAX_DOMAIN_LEN: usize = 253;
/// Longest label accepted (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// A multiply-rotate hasher (the FxHash scheme): a few cycles per 8 bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact yields 8 bytes"));
            self.add(word);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// `BuildHasher` for [`FastHasher`], for `HashMap`/`HashSet` keyed by domain strings.
pub type FastBuildHasher = BuildHasherDefault<FastHasher>;

/// Strips one trailing dot (the absolute-name form `example.com.`).
#[inline]
pub fn trim_trailing_dot(host: &str) -> &str {
    host.strip_suffix('.').unwrap_or(host)
}

/// The host itself, then each parent domain, most specific first:
/// `a.b.example` yields `a.b.example`, `b.example`, `example`. No allocation.
#[inline]
pub fn suffixes(host: &str) -> Suffixes<'_> {
    Suffixes {
        rest: Some(trim_trailing_dot(host)).filter(|h| !h.is_empty()),
    }
}

/// Like [`suffixes`], but skips the suffixes with more than `max_labels` labels: a table
/// whose longest key has `max_labels` labels cannot hold them, so probing them is waste.
#[inline]
pub fn suffixes_within(host: &str, max_labels: usize) -> Suffixes<'_> {
    let mut walk = suffixes(host);
    let labels = walk
        .rest
        .map_or(0, |h| h.bytes().filter(|b| *b == b'.').count() + 1);
    for _ in max_labels..labels {
        walk.next();
    }
    walk
}

/// Number of labels of a domain (`a.example` has 2).
pub fn label_count(domain: &str) -> usize {
    domain.bytes().filter(|b| *b == b'.').count() + 1
}

/// Iterator returned by [`suffixes`].
#[derive(Debug, Clone)]
pub struct Suffixes<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Suffixes<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let current = self.rest?;
        self.rest = current
            .find('.')
            .map(|dot| &current[dot + 1..])
            .filter(|s| !s.is_empty());
        Some(current)
    }
}

/// Normalises a domain from a data file: lowercases ASCII, strips one trailing dot and
/// checks the characters and label lengths. Returns the reason when it is not a domain.
pub fn normalise_domain(raw: &str) -> Result<String, String> {
    let domain = trim_trailing_dot(raw).to_ascii_lowercase();
    if domain.is_empty() {
        return Err("empty domain".to_string());
    }
    if domain.len() > MAX_DOMAIN_LEN {
        return Err(format!(
            "domain {raw:?} is longer than {MAX_DOMAIN_LEN} characters"
        ));
    }
    if let Some(bad) = domain
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("invalid character {bad:?} in domain {raw:?}"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(format!("empty label in domain {raw:?}"));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(format!(
                "label {label:?} of domain {raw:?} is longer than {MAX_LABEL_LEN} characters"
            ));
        }
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_walk_host_then_parents() {
        let all: Vec<&str> = suffixes("a.b.example.com").collect();
        assert_eq!(
            all,
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
    }

    #[test]
    fn suffixes_tolerate_trailing_dot_and_empty() {
        let all: Vec<&str> = suffixes("example.com.").collect();
        assert_eq!(all, ["example.com", "com"]);
        assert_eq!(suffixes("").count(), 0);
        assert_eq!(suffixes(".").count(), 0);
        // A malformed trailing double dot never yields an empty suffix.
        assert!(suffixes("a..").all(|s| !s.is_empty()));
    }

    #[test]
    fn suffixes_within_skip_longer_suffixes() {
        let all: Vec<&str> = suffixes_within("a.b.example.com.", 2).collect();
        assert_eq!(all, ["example.com", "com"]);
        let all: Vec<&str> = suffixes_within("example.com", 5).collect();
        assert_eq!(all, ["example.com", "com"]);
        assert_eq!(suffixes_within("a.b.c", 0).count(), 0);
        assert_eq!(label_count("a.example"), 2);
    }

    #[test]
    fn normalise_accepts_and_rejects() {
        assert_eq!(
            normalise_domain("WWW.Example.COM.").unwrap(),
            "www.example.com"
        );
        assert!(normalise_domain("exa mple.com").is_err());
        assert!(normalise_domain("a..b").is_err());
        assert!(normalise_domain("ex!ample.com").is_err());
        assert!(normalise_domain(&"a".repeat(64)).is_err());
        assert!(normalise_domain("").is_err());
    }
}
