//! One run at a time per cache and per build tree.
//!
//! Two runs sharing a cache would otherwise race on the same temporary and
//! final files. The lock is an advisory `flock` on a file beside the data: it
//! is released by the kernel when the process dies, so a crash never leaves a
//! stale lock behind.

use anyhow::{Context as _, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Holds the lock until dropped.
#[must_use]
pub struct DirLock {
    _file: File,
}

/// Takes the lock on `dir` (created if needed), waiting for another run that
/// holds it and saying so.
pub fn lock_dir(dir: &Path, what: &str) -> Result<DirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another ocaml-unikraft run that holds the {what} lock ({})",
                path.display()
            );
            file.lock()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Err(TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(DirLock { _file: file })
}
