//! The roster of simulated users: who each Goose user browses as.
//!
//! Each user is a student or teacher with credentials the proxy knows, taken
//! from the demo user table or generated (`pw-<user>` passwords). The
//! `Proxy-Authorization` value is built here, once per identity, so requests
//! never format or encode credentials.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use http::HeaderValue;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::mix::{GeneratedGroup, RosterSource};
use crate::segment::{Segment, SegmentError};

/// Errors building the roster.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    /// The CSV could not be read or parsed.
    #[error("roster {path}: {message}")]
    Csv {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// No user matched.
    #[error("roster: no users (check roster.groups)")]
    Empty,
}

/// One simulated person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// Group name.
    pub group: String,
    /// Password.
    pub password: String,
    /// `Basic base64(user:password)`.
    pub proxy_authorization: HeaderValue,
}

impl Identity {
    /// An identity with its header pre-built.
    pub fn new(user: &str, group: &str, password: &str) -> Identity {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Identity {
            user: user.to_string(),
            group: group.to_string(),
            password: password.to_string(),
            proxy_authorization: HeaderValue::from_str(&format!("Basic {token}"))
                .expect("base64 text is a valid header value"),
        }
    }
}

/// The users of a run, in a seeded shuffle so groups mix.
#[derive(Debug, Clone)]
pub struct Roster {
    users: Vec<Arc<Identity>>,
}

#[derive(Debug, serde::Deserialize)]
struct Row {
    user: String,
    group: String,
    password: String,
}

impl Roster {
    /// Builds the roster from its source.
    pub fn load(source: &RosterSource, seed: u64) -> Result<Roster, RosterError> {
        let mut users = match source {
            RosterSource::Csv { path, groups } => read_csv(path, groups)?,
            RosterSource::Generated(groups) => generate(groups),
        };
        if users.is_empty() {
            return Err(RosterError::Empty);
        }
        users.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        Ok(Roster { users })
    }

    /// Number of identities.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none (never true for a loaded roster).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The identity of the `n`-th user (wrapping around).
    pub fn get(&self, n: usize) -> Arc<Identity> {
        Arc::clone(&self.users[n % self.users.len()])
    }

    /// This worker's share of the roster: a contiguous, disjoint slice of the shuffled
    /// users, so no identity is used by two workers (identity checks need the proxy to
    /// see each user from one place) and together the workers use every identity once.
    /// Returns the slice and where it lies in the whole roster.
    pub fn segment(&self, segment: Segment) -> Result<(Roster, Range<u64>), SegmentError> {
        let range = segment.range(self.users.len() as u64);
        segment.scale_nonzero(self.users.len() as u64, "roster identities")?;
        let users = self.users[range.start as usize..range.end as usize].to_vec();
        Ok((Roster { users }, range))
    }

    /// Users per group.
    pub fn group_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for u in &self.users {
            *counts.entry(u.group.clone()).or_insert(0) += 1;
        }
        counts
    }
}

fn read_csv(path: &Path, groups: &[String]) -> Result<Vec<Arc<Identity>>, RosterError> {
    let err = |message: String| RosterError::Csv {
        path: path.display().to_string(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| err(e.to_string()))?;
    let mut users = Vec::new();
    for row in reader.deserialize::<Row>() {
        let row = row.map_err(|e| err(e.to_string()))?;
        if groups.is_empty() || groups.contains(&row.group) {
            users.push(Arc::new(Identity::new(
                &row.user,
                &row.group,
                &row.password,
            )));
        }
    }
    Ok(users)
}

fn generate(groups: &[GeneratedGroup]) -> Vec<Arc<Identity>> {
    let mut users = Vec::new();
    for g in groups {
        for n in 1..=g.count {
            let user = format!("{}{:0width$}", g.prefix, n, width = g.width);
            let password = format!("pw-{user}");
            users.push(Arc::new(Identity::new(&user, &g.group, &password)));
        }
    }
    users
}
