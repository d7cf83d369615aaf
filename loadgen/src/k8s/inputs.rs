//! The files a profile reads, laid out for a ConfigMap volume.
//!
//! A profile names its scenario mix by a relative path, and the mix names its roster and
//! category database the same way (`../scenarios/school-day.toml`, `demo/users.csv`).
//! Mounted flat, those paths would break. So every input keeps its path relative to the
//! inputs' common directory (`profiles/ci.toml`, `scenarios/school-day.toml`,
//! `scenarios/demo/users.csv`), the ConfigMap's `items` put each key back at that path,
//! and the profile loads in the pod exactly as it does in the checkout.

use std::path::{Component, Path, PathBuf};

use crate::mix::{Mix, RosterSource};
use crate::profile::Profile;

use super::error::K8sError;

/// A ConfigMap holds at most 1 MiB (etcd's object limit, less its own fields).
pub const CONFIGMAP_LIMIT: usize = 1024 * 1024 - 16 * 1024;

/// Files larger than this travel gzipped (`binaryData`); the load generator reads a
/// gzipped category database as the text it was (`corpus::read_text`).
pub const GZIP_ABOVE: usize = 256 * 1024;

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The ConfigMap key (its relative path with `/` as `.`, which keys may hold).
    pub key: String,
    /// Where it is mounted, relative to the inputs' mount point.
    pub path: String,
    /// Its content.
    pub content: Content,
}

/// An input's content as the ConfigMap holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Text, in `data`.
    Text(String),
    /// Gzipped text, in `binaryData` (base64).
    Gzip(Vec<u8>),
}

impl Content {
    /// Bytes it takes in the ConfigMap.
    pub fn stored_len(&self) -> usize {
        match self {
            Content::Text(t) => t.len(),
            Content::Gzip(b) => b.len().div_ceil(3) * 4,
        }
    }

    fn of(text: String) -> Result<Content, std::io::Error> {
        use std::io::Write;
        if text.len() <= GZIP_ABOVE {
            return Ok(Content::Text(text));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(text.as_bytes())?;
        Ok(Content::Gzip(gz.finish()?))
    }
}

/// Every input of a profile, and where the profile itself lands.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The files, profile first.
    pub files: Vec<Input>,
    /// The profile's path relative to the mount point.
    pub profile: String,
}

impl Inputs {
    /// Collects the profile at `path` (already loaded as `profile`) and the files it names.
    pub fn collect(path: &Path, profile: &Profile) -> Result<Inputs, K8sError> {
        let profile_path = std::fs::canonicalize(path).map_err(|cause| K8sError::Io {
            what: format!("read profile {}", path.display()),
            cause,
        })?;
        let mix = Mix::load(&profile.scenario_mix)
            .map_err(|e| K8sError::Input(format!("scenario mix: {e}")))?;
        let mut paths = vec![profile_path.clone(), profile.scenario_mix.clone()];
        if let RosterSource::Csv { path, .. } = &mix.roster {
            paths.push(path.clone());
        }
        if let Some(categories) = &mix.corpus.categories {
            paths.push(categories.clone());
        }
        let paths = paths
            .iter()
            .map(|p| {
                std::fs::canonicalize(p).map_err(|cause| K8sError::Io {
                    what: format!("read input {}", p.display()),
                    cause,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let root = common_dir(&paths);
        let mut files: Vec<Input> = Vec::new();
        for p in &paths {
            let rel = relative(p, &root);
            if files.iter().any(|f| f.path == rel) {
                continue;
            }
            let io = |cause| K8sError::Io {
                what: format!("read input {}", p.display()),
                cause,
            };
            let content = Content::of(crate::corpus::read_text(p).map_err(io)?).map_err(io)?;
            let key = rel.replace('/', ".");
            if let Some(other) = files.iter().find(|f| f.key == key) {
                return Err(K8sError::Input(format!(
                    "inputs {} and {} would share the ConfigMap key {key}; rename one",
                    other.path, rel
                )));
            }
            files.push(Input {
                key,
                path: rel,
                content,
            });
        }
        let size: usize = files
            .iter()
            .map(|f| f.content.stored_len() + f.key.len())
            .sum();
        if size > CONFIGMAP_LIMIT {
            return Err(K8sError::Input(format!(
                "the profile's inputs take {size} bytes (large files gzipped), more than a \
                 ConfigMap's {CONFIGMAP_LIMIT}; shrink the roster or category database"
            )));
        }
        Ok(Inputs {
            profile: relative(&profile_path, &root),
            files,
        })
    }
}

/// The deepest directory holding every path.
fn common_dir(paths: &[PathBuf]) -> PathBuf {
    let mut root: Vec<Component> = match paths.first().and_then(|p| p.parent()) {
        Some(dir) => dir.components().collect(),
        None => return PathBuf::from("/"),
    };
    for p in &paths[1..] {
        let dir: Vec<Component> = p
            .parent()
            .map(|d| d.components().collect())
            .unwrap_or_default();
        let same = root.iter().zip(&dir).take_while(|(a, b)| a == b).count();
        root.truncate(same);
    }
    root.iter().collect()
}

/// `path` below `root`, with `/` separators.
fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_directory_keeps_relative_paths_between_inputs() {
        let paths = [
            PathBuf::from("/repo/profiles/ci.toml"),
            PathBuf::from("/repo/scenarios/school-day.toml"),
            PathBuf::from("/repo/scenarios/demo/users.csv"),
        ];
        let root = common_dir(&paths);
        assert_eq!(root, PathBuf::from("/repo"));
        assert_eq!(relative(&paths[2], &root), "scenarios/demo/users.csv");
        assert_eq!(common_dir(&paths[1..]), PathBuf::from("/repo/scenarios"));
    }
}
