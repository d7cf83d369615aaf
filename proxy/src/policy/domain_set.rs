//! A set of domains matched on a host and its parent domains: the always-allow and
//! always-deny lists. Normalised at load so that a lookup is one hash probe per suffix.

use std::collections::HashSet;

use crate::filter::domain::{label_count, normalise_domain, suffixes_within, FastBuildHasher};

/// Domains matched on the host itself and every parent domain.
#[derive(Debug, Default, Clone)]
pub struct DomainSet {
    entries: HashSet<Box<str>, FastBuildHasher>,
    /// Most labels of any entry: longer suffixes of a host are not probed.
    max_labels: usize,
}

impl DomainSet {
    /// Builds a set from list entries; errors name `key` and the entry index.
    pub fn build(list: &[String], key: &str) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let mut entries = HashSet::default();
        let mut max_labels = 0;
        for (index, raw) in list.iter().enumerate() {
            match normalise_domain(raw) {
                Ok(domain) => {
                    max_labels = max_labels.max(label_count(&domain));
                    entries.insert(domain.into_boxed_str());
                }
                Err(message) => errors.push(format!("{key}[{index}]: {message}")),
            }
        }
        if errors.is_empty() {
            Ok(DomainSet {
                entries,
                max_labels,
            })
        } else {
            Err(errors)
        }
    }

    /// The entry matching `host` (itself or its nearest listed parent), if any.
    #[inline]
    pub fn matches(&self, host: &str) -> Option<&str> {
        suffixes_within(host, self.max_labels)
            .find_map(|suffix| self.entries.get(suffix).map(|entry| &**entry))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
