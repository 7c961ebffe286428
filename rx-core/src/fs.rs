//! Writing files so that nothing half-written is left looking valid: a temporary file beside the
//! target, renamed into place only when complete.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directory `path` lives in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A temporary file in the directory of `path` (named `.NAME.XXXX.tmp`), to be renamed over it
/// with [`persist`] when complete; it is removed if dropped before that.
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{stem}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A temporary file is private (0600); the finished file gets the usual mode for new files
    // (0666 less the umask), as any other program's output would.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(&dir).map_err(|e| Error::io(dir, e))
}

/// Renames a finished temporary file into place: without replacing an existing file when
/// `overwrite` is false (then the result is [`Error::Exists`]).
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path, overwrite: bool) -> Result<()> {
    let res = if overwrite {
        tmp.persist(path).map(|_| ())
    } else {
        tmp.persist_noclobber(path).map(|_| ())
    };
    res.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists {
                path: path.to_path_buf(),
            }
        } else {
            Error::io(path, e.error)
        }
    })
}
