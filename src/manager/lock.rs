//! The lock that serialises managers: `/run/xenguest/xenguest-manager.lock`.
//!
//! Anyone who can open the lock file can `flock` it and make every manager
//! wait, so it lives in a directory only root can use: the directory is
//! created 0700 and the file 0600, and an existing directory or file that
//! is a symbolic link, of another type, owned by another user or open to
//! other users is refused (naming it and what to fix) instead of used.

use std::fs::{self, DirBuilder, File, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use super::log::Log;
use crate::error::{Error, IoContext, Result};

/// An exclusive lock serialising managers, held until dropped.
#[derive(Debug)]
pub struct Lock(#[allow(dead_code)] File);

/// Takes the lock at `path`, waiting (and saying so in `log`) while
/// another manager holds it; a signal (SIGINT, SIGTERM) ends the wait at
/// once with an error.
pub fn acquire(path: &Path, log: &Log) -> Result<Lock> {
    let f = open(path)?;
    let mut told = false;
    loop {
        match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Lock(f)),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                if !told {
                    log.info("waiting for another xenguest-manager to finish");
                    told = true;
                }
                crate::interrupt::check().with_path("interrupted while waiting for the lock", path)?;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::io("cannot lock", path, e.into())),
        }
    }
}

/// Opens (creating if needed) the lock file at `path` and its directory,
/// refusing either when another user could reach them.
fn open(path: &Path) -> Result<File> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Refused(format!("lock `{}` has no directory", path.display())))?;
    if let Some(above) = dir.parent() {
        fs::create_dir_all(above).with_path("cannot create directory", above)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("cannot create directory", dir, e)),
    }
    let meta = fs::symlink_metadata(dir).with_path("cannot read", dir)?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(Error::Refused(format!(
            "lock directory `{}` is {} - remove it, the manager creates the directory itself",
            dir.display(),
            if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a directory"
            }
        )));
    }
    check_private(dir, &meta, 0o022, "directory", "chmod 700")?;
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(crate::regular::open_flags(rustix::fs::OFlags::NOFOLLOW))
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                Error::Refused(format!(
                    "lock `{}` is a symbolic link - remove it, the manager creates the lock itself",
                    path.display()
                ))
            } else {
                Error::io("cannot open the lock", path, e)
            }
        })?;
    let meta = f.metadata().with_path("cannot read", path)?;
    if !meta.is_file() {
        return Err(Error::Refused(format!(
            "lock `{}` is not a regular file - remove it, the manager creates the lock itself",
            path.display()
        )));
    }
    check_private(path, &meta, 0o077, "file", "chmod 600")?;
    Ok(f)
}

/// Refuses `path` unless this process's user owns it and no bit of
/// `forbidden` is set in its mode.
fn check_private(path: &Path, meta: &Metadata, forbidden: u32, what: &str, fix: &str) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::Refused(format!(
            "lock {what} `{}` belongs to user {}, not to the manager's user {me} - another user could hold the lock; remove it",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & forbidden != 0 {
        return Err(Error::Refused(format!(
            "lock {what} `{}` is open to other users (mode {mode:04o}), who could hold the lock and stop every manager - `{fix}` it",
            path.display()
        )));
    }
    Ok(())
}
