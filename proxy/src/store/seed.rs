//! Loads identity and policy data into a Redis server in the store's key layout
//! ([`super::keys`]): the body of the `filter-proxy seed-redis` subcommand and of the
//! store tests' fixtures.
//!
//! Writes are pipelined `SET`s in chunks, over one multiplexed connection, so seeding the
//! demo data (3250 users, 4 groups) takes a handful of round trips.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::error::StoreError;
use super::keys;
use crate::identity::{load_users, IdentityError, UserRecord};
use crate::policy::{PolicyError, PolicySet, PolicySpec};

/// `SET`s per pipeline.
const CHUNK: usize = 500;

/// First address of the demo loopback assignment (`127.16.0.1` is the first user).
pub const LOOPBACK_BASE: Ipv4Addr = Ipv4Addr::new(127, 16, 0, 0);

/// What to write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedData {
    /// Client address -> user.
    pub ip_users: Vec<(IpAddr, String)>,
    /// User -> group (passwords are not written: Basic credentials stay local).
    pub users: Vec<UserRecord>,
    /// Group -> policy.
    pub groups: BTreeMap<String, PolicySpec>,
}

/// Errors of [`SeedData::from_files`] and [`seed_redis`].
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The users file is unreadable or invalid.
    #[error(transparent)]
    Users(#[from] IdentityError),
    /// The policy file is unreadable or invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Redis refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts of keys written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// `ip:` keys.
    pub ips: usize,
    /// `user:` keys.
    pub users: usize,
    /// `group:` keys.
    pub groups: usize,
}

impl SeedData {
    /// Reads a users CSV and a policy TOML (category names are checked when the proxy
    /// resolves a group, against its own category database).
    pub fn from_files(users_file: &Path, policy_file: &Path) -> Result<Self, SeedError> {
        let users = load_users(users_file)?;
        let text = std::fs::read_to_string(policy_file).map_err(|source| PolicyError::Io {
            path: policy_file.display().to_string(),
            source,
        })?;
        let groups = PolicySet::parse_specs(&text, &policy_file.display().to_string())?;
        Ok(SeedData {
            ip_users: Vec::new(),
            users,
            groups,
        })
    }

    /// Assigns every user, in table order, a loopback address from [`LOOPBACK_BASE`]
    /// (`127.16.0.1`, `127.16.0.2`, ...), so that a load generator binding those source
    /// addresses is identified by client IP. Replaces any previous assignment.
    pub fn assign_loopback_ips(&mut self) {
        let base = u32::from(LOOPBACK_BASE);
        self.ip_users = (1u32..)
            .zip(&self.users)
            .map(|(n, record)| (IpAddr::V4(Ipv4Addr::from(base + n)), record.user.clone()))
            .collect();
    }
}

/// Writes `data` into the Redis at `url` under `prefix`.
pub async fn seed_redis(url: &str, prefix: &str, data: &SeedData) -> Result<SeedReport, SeedError> {
    let redis_error = |e: redis::RedisError| SeedError::Store(StoreError::Redis(e.to_string()));
    let client = redis::Client::open(url).map_err(redis_error)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(redis_error)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (ip, user) in &data.ip_users {
        pairs.push((keys::ip(prefix, *ip), user.clone()));
    }
    for record in &data.users {
        pairs.push((keys::user(prefix, &record.user), record.group.clone()));
    }
    for (name, spec) in &data.groups {
        let json = serde_json::to_string(spec).expect("a policy spec always serialises to JSON");
        pairs.push((keys::group(prefix, name), json));
    }
    for chunk in pairs.chunks(CHUNK) {
        let mut pipe = redis::pipe();
        for (key, value) in chunk {
            pipe.cmd("SET").arg(key).arg(value).ignore();
        }
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)?;
    }
    Ok(SeedReport {
        ips: data.ip_users.len(),
        users: data.users.len(),
        groups: data.groups.len(),
    })
}

/// The `seed-redis` subcommand: reads a users CSV and a policy TOML, optionally assigns
/// loopback client addresses ([`SeedData::assign_loopback_ips`]), and writes it all.
pub async fn seed_files(
    url: &str,
    prefix: &str,
    users_file: &Path,
    policy_file: &Path,
    loopback_ips: bool,
) -> Result<SeedReport, SeedError> {
    let mut data = SeedData::from_files(users_file, policy_file)?;
    if loopback_ips {
        data.assign_loopback_ips();
    }
    seed_redis(url, prefix, &data).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_files_load_and_loopback_ips_are_sequential() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/demo");
        let mut data = SeedData::from_files(&dir.join("users.csv"), &dir.join("policy.toml"))
            .expect("demo files load");
        assert_eq!(data.users.len(), 3250);
        assert_eq!(data.groups.len(), 4);
        data.assign_loopback_ips();
        assert_eq!(data.ip_users.len(), 3250);
        assert_eq!(
            data.ip_users[0],
            ("127.16.0.1".parse().expect("ip"), "student0001".to_string())
        );
        assert_eq!(
            data.ip_users[3249],
            ("127.16.12.178".parse().expect("ip"), "staff50".to_string())
        );
    }
}
