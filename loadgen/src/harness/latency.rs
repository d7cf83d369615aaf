//! The latency the proxy adds: percentiles of a light pass through the proxy minus
//! those of the same light pass straight to the origin (same mix, same few users, same
//! origin, same session). Both passes are light so the difference is the proxy's own
//! work, not queueing in a saturated load generator or origin.
//!
//! The comparison uses the `allowed` class, the one that does the same thing with and
//! without the proxy (blocked requests and tunnels only exist through it), and its time
//! to first byte, which holds the proxy's per-request work without the body transfer
//! that dominates time to last byte for large bodies.

use std::path::{Path, PathBuf};

use rundir::hdr;

/// `proxy_added_latency_us` of `run.json` (typed in `rundir`).
pub use rundir::run::AddedLatency;

/// The histogram compared, relative to a run directory: the `allowed` class's time to
/// first byte (`hist/ttfb/allowed.hdr`), else its time to last byte
/// (`hist/allowed.hdr`).
pub fn basis_histogram(run_dir: &Path) -> Option<PathBuf> {
    ["hist/ttfb/allowed.hdr", "hist/allowed.hdr"]
        .iter()
        .map(PathBuf::from)
        .find(|rel| run_dir.join(rel).is_file())
}

/// Compares the proxied pass in `proxied_dir` with the direct pass in `direct_dir`;
/// `None` when there was no direct pass or either side lacks the histogram.
pub fn proxy_added(proxied_dir: &Path, direct_dir: &Path) -> Option<AddedLatency> {
    let rel = basis_histogram(direct_dir)?;
    let d = hdr::read(&direct_dir.join(&rel)).ok()?;
    let p = hdr::read(&proxied_dir.join(&rel)).ok()?;
    if d.is_empty() || p.is_empty() {
        return None;
    }
    let q = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64;
    Some(AddedLatency {
        p50: Some(q(&p, 0.5) - q(&d, 0.5)),
        p99: Some(q(&p, 0.99) - q(&d, 0.99)),
        basis: Some(rel.display().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::new_histogram;

    fn write(dir: &Path, rel: &str, values: impl Iterator<Item = u64>) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut h = new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        hdr::write(&path, &h).unwrap();
    }

    #[test]
    fn subtracts_direct_from_proxied_for_the_allowed_class() {
        let root = tempfile::tempdir().unwrap();
        let (proxied, direct) = (root.path().join("p"), root.path().join("p/direct"));
        write(
            &proxied,
            "hist/ttfb/allowed.hdr",
            (1..=1000).map(|v| v + 100),
        );
        write(&direct, "hist/ttfb/allowed.hdr", 1..=1000);
        write(&proxied, "hist/allowed.hdr", 1..=10);
        write(&direct, "hist/allowed.hdr", 1..=10);
        let added = proxy_added(&proxied, &direct).unwrap();
        assert_eq!(added.basis.as_deref(), Some("hist/ttfb/allowed.hdr"));
        assert!((added.p50.unwrap() - 100.0).abs() <= 1.0, "{added:?}");
        assert!((added.p99.unwrap() - 100.0).abs() <= 2.0, "{added:?}");
    }

    #[test]
    fn no_direct_pass_means_none() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "hist/ttfb/allowed.hdr", 1..=10);
        assert_eq!(proxy_added(root.path(), &root.path().join("direct")), None);
    }
}
