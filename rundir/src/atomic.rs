//! Atomic file writes: a temporary file in the destination directory, flushed and synced,
//! then renamed over the target. A reader (or a release review) never sees a half-written
//! run document or baseline, and a crash leaves the previous version intact.
//!
//! Here because both sides of the run directory write files a reader may open at any
//! moment: the load generator's `run.json` and proxy configs, the reports' baselines.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written (the previous version, if any, is intact).
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {cause}", path.display())]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub cause: std::io::Error,
}

/// Writes `bytes` to `path` atomically (same-directory temp file + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_all_atomic(&[(path, bytes)])
}

/// Writes several files: every temp file is written and synced first, then all are renamed
/// in order. A failure while writing changes nothing; only a failing rename (rare: the
/// data is already on disk) can leave the earlier files of the set replaced.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<(), WriteError> {
    let staged = files
        .iter()
        .map(|(path, bytes)| stage(path, bytes).map(|tmp| (tmp, *path)))
        .collect::<Result<Vec<_>, _>>()?;
    for (tmp, path) in staged {
        tmp.persist(path).map_err(|e| WriteError {
            path: path.to_owned(),
            cause: e.error,
        })?;
    }
    Ok(())
}

fn stage(path: &Path, bytes: &[u8]) -> Result<tempfile::NamedTempFile, WriteError> {
    let err = |cause| WriteError {
        path: path.to_owned(),
        cause,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    // Temp files are created 0600; a run document or baseline is for every reader.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    Ok(tmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_readable_by_everyone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.md");
        write_atomic(&path, b"doc").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn failure_leaves_previous_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        write_atomic(&path, b"old").unwrap();
        // A directory in the way of the rename: the write fails, the old file stays.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
