//! The category database + policy snapshot and its atomic reload.
//!
//! Requests load the current [`Snapshot`] once (an `arc-swap` load, no lock) and decide
//! against it; a reload (SIGHUP or admin `POST /reload`) builds a complete new snapshot
//! off the hot path and swaps it in whole, so in-flight requests finish on the old one and
//! a broken file never replaces a good snapshot.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::filter::{CategoryDb, FilterError};
use crate::policy::{PolicyError, PolicySet};

/// One immutable generation of filtering data.
#[derive(Debug)]
pub struct Snapshot {
    /// The category database.
    pub db: CategoryDb,
    /// Every group's policy, resolved against `db`.
    pub policies: PolicySet,
    /// Generation counter: 1 at start, +1 per successful reload.
    pub version: u64,
    /// Hash of both files' contents (changes only when the data changes).
    pub fingerprint: u64,
}

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The category database is unreadable or invalid.
    #[error("categories: {0}")]
    Categories(#[from] FilterError),
    /// The policy file is unreadable or invalid.
    #[error("policy: {0}")]
    Policy(#[from] PolicyError),
}

impl Snapshot {
    /// Loads both files into a new snapshot with the given version.
    pub fn load(categories: &Path, policy: &Path, version: u64) -> Result<Snapshot, SnapshotError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|source| (p.display().to_string(), source))
        };
        let cat_text =
            read(categories).map_err(|(path, source)| FilterError::Io { path, source })?;
        let db = CategoryDb::parse(&cat_text, &categories.display().to_string())?;
        let pol_text = read(policy).map_err(|(path, source)| PolicyError::Io { path, source })?;
        let policies = PolicySet::parse(&pol_text, &policy.display().to_string(), &db)?;
        let mut h = DefaultHasher::new();
        cat_text.hash(&mut h);
        pol_text.hash(&mut h);
        Ok(Snapshot {
            db,
            policies,
            version,
            fingerprint: h.finish(),
        })
    }

    /// `"<version>-<fingerprint hex>"`, for logs and summaries.
    pub fn version_label(&self) -> String {
        format!("{}-{:016x}", self.version, self.fingerprint)
    }
}

/// Holds the current snapshot and rebuilds it on demand.
#[derive(Debug)]
pub struct Reloader {
    current: ArcSwap<Snapshot>,
    categories: PathBuf,
    policy: PathBuf,
    /// Serialises reloads so versions are handed out in order.
    lock: tokio::sync::Mutex<()>,
}

impl Reloader {
    /// Starts from an already loaded snapshot.
    pub fn new(initial: Arc<Snapshot>, categories: PathBuf, policy: PathBuf) -> Self {
        Reloader {
            current: ArcSwap::new(initial),
            categories,
            policy,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The current snapshot (cheap; hold it for the duration of one request).
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Rebuilds from the files and swaps the result in; on error the old snapshot stays.
    pub async fn reload(&self) -> Result<Arc<Snapshot>, SnapshotError> {
        let _serial = self.lock.lock().await;
        let version = self.current.load().version + 1;
        let (categories, policy) = (self.categories.clone(), self.policy.clone());
        let built =
            tokio::task::spawn_blocking(move || Snapshot::load(&categories, &policy, version))
                .await
                .expect("snapshot loading does not panic")?;
        let built = Arc::new(built);
        self.current.store(built.clone());
        Ok(built)
    }
}
