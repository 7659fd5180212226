//! File modes on a shared host: the data directory is the node's alone.
//!
//! Keys, the API token, every product's bytes and the database live under
//! the data directory. Another local user must not read any of it, so the
//! directory and every directory below it are 0700 and every file 0600.
//! [`secure_data_dir`] makes that so at start (with a warning naming what
//! was looser, since it may already have been read), and the token file is
//! refused outright where it is read if others could read it
//! ([`check_private_file`]): a token anyone may have copied is not a secret
//! any more, and fixing its mode silently would hide that.

use std::path::Path;

/// Mode of the data directory and the directories in it.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// Why a secret file is refused.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Group or others may read or write it.
    #[error(
        "{path} is accessible to other users (mode {mode:04o}); anyone on this machine may have read it: run `chmod 600 {path}`, and replace the token if it may have leaked"
    )]
    Exposed {
        /// The file (displayed).
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// It could not be examined.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file (displayed).
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Refuses a secret file (the API token) that group or others could read
/// or write. A file that does not exist passes (its reader says so).
pub fn check_private_file(path: &Path) -> Result<(), SecretFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(source) => {
                return Err(SecretFileError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretFileError::Exposed {
                path: path.display().to_string(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes `dir` and everything under it private to the node's user: 0700
/// for directories, 0600 for files (modes that are already tighter are
/// kept). Symbolic links are left alone, never followed. Logs one warning
/// listing what was looser. Returns how many entries were changed.
pub fn secure_data_dir(dir: &Path) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        let mut fixed = Vec::new();
        secure(dir, &mut fixed)?;
        if !fixed.is_empty() {
            let shown: Vec<String> = fixed.iter().take(8).cloned().collect();
            tracing::warn!(
                data_dir = %dir.display(),
                count = fixed.len(),
                first = %shown.join(", "),
                "data directory entries were accessible to other users; made private (dirs 0700, files 0600); what they held may have been read"
            );
        }
        Ok(fixed.len())
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(0)
    }
}

#[cfg(unix)]
fn secure(path: &Path, fixed: &mut Vec<String>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode() & 0o7777;
    let kind = meta.file_type();
    let wanted = if kind.is_dir() {
        DIR_MODE
    } else if kind.is_file() {
        FILE_MODE
    } else {
        return Ok(());
    };
    if mode & !wanted != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & wanted))?;
        fixed.push(format!("{} ({mode:04o})", path.display()));
    }
    if kind.is_dir() {
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            // An entry removed meanwhile (RocksDB compacting) is no matter.
            match secure(&entry.path(), fixed) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn loose_modes_are_tightened_and_links_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("db")).unwrap();
        std::fs::write(dir.join("db/000001.sst"), b"x").unwrap();
        std::fs::write(dir.join("domain.key"), b"k").unwrap();
        let outside = root.path().join("outside");
        std::fs::write(&outside, b"o").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("link")).unwrap();
        for (p, m) in [
            ("", 0o755),
            ("db", 0o755),
            ("db/000001.sst", 0o644),
            ("domain.key", 0o400),
        ] {
            std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        assert_eq!(secure_data_dir(&dir).unwrap(), 3);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("db")), 0o700);
        assert_eq!(mode(&dir.join("db/000001.sst")), 0o600);
        assert_eq!(
            mode(&dir.join("domain.key")),
            0o400,
            "tighter modes are kept"
        );
        assert_eq!(mode(&outside), 0o644, "a link's target is not touched");
        assert_eq!(secure_data_dir(&dir).unwrap(), 0);
    }

    #[test]
    fn an_exposed_secret_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("api.token");
        std::fs::write(&token, "t").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = check_private_file(&token).unwrap_err().to_string();
        assert!(
            err.contains("chmod 600") && err.contains("api.token"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_private_file(&token).unwrap();
        check_private_file(&dir.path().join("absent")).unwrap();
    }
}
