//! Writing files so that nothing half-written is left looking valid: a temporary file beside the
//! target, renamed into place only when complete.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

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

/// A thread that writes a file's data out to disk (`fdatasync`) when asked, so that the sync
/// before the rename ([`persist`]) has only the last part left to wait for: a writer asks after
/// every few MB, and the disk works while the next ones are encoded.
pub struct SyncAhead {
    tx: Option<mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl SyncAhead {
    /// Starts the thread on `file` (a clone of the writer's handle), or gives `None` when no
    /// thread can be started: the final sync then does all the work, as it would anyway.
    pub fn start(file: File) -> Option<Self> {
        let (tx, rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("rx-sync-ahead".into())
            .spawn(move || {
                let mut result = Ok(());
                while rx.recv().is_ok() {
                    // Requests that came in meanwhile are covered by this one sync.
                    while rx.try_recv().is_ok() {}
                    if result.is_ok() {
                        result = file.sync_data();
                    }
                }
                result
            })
            .ok()?;
        Some(SyncAhead {
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Asks for what has been written so far to be written out (returns at once).
    pub fn request(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(());
        }
    }

    /// Waits for the thread; an error it met is the file's error. Call it after the final
    /// `sync_all`, which then waits for the writes already under way instead of repeating them.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.tx = None;
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the background sync thread failed")),
            None => Ok(()),
        }
    }
}

/// The last sync of a finished file written with a [`SyncAhead`] (if any): `sync_all` (which
/// waits for the disk writes the background thread started, without a second flush), then the
/// thread's result; the first error of the two is the file's, reported against `path`.
pub fn sync_finished(file: &File, ahead: Option<SyncAhead>, path: &Path) -> Result<()> {
    let synced = file.sync_all();
    if let Some(s) = ahead {
        s.finish().map_err(|e| Error::io(path, e))?;
    }
    synced.map_err(|e| Error::io(path, e))
}

impl Drop for SyncAhead {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for SyncAhead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncAhead").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sync_ahead_writes_out_on_request_and_finishes() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        let sync = SyncAhead::start(tmp.as_file().try_clone().unwrap()).unwrap();
        for _ in 0..3 {
            tmp.write_all(&[7u8; 1 << 16]).unwrap();
            sync.request();
        }
        tmp.as_file().sync_all().unwrap();
        sync.finish().unwrap();
        assert_eq!(std::fs::read(tmp.path()).unwrap().len(), 3 << 16);
        // Dropped without `finish`, it still ends its thread (this would hang otherwise).
        let dropped = SyncAhead::start(tmp.as_file().try_clone().unwrap()).unwrap();
        dropped.request();
        drop(dropped);
    }
}
