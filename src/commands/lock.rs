//! The advisory lock writers hold on an image while they change it.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// An exclusive advisory lock on an image (file or directory), held until
/// dropped. Taken on the path's current inode; if a concurrent writer
/// replaced the file meanwhile, the lock is taken again on the new one.
pub(super) struct Lock(#[allow(dead_code)] File);

pub(super) fn lock(path: &Path) -> Result<Lock> {
    loop {
        let f = File::open(path).with_path("cannot open", path)?;
        // Poll rather than block, so that Ctrl-C still works while another
        // process holds the image.
        loop {
            match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    crate::interrupt::check().with_path("interrupted while waiting for the lock on", path)?;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io("cannot lock", path, e.into())),
            }
        }
        let held = f.metadata().with_path("cannot read", path)?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(Lock(f)),
            Ok(_) => {}
            Err(e) => return Err(Error::io("cannot read", path, e)),
        }
    }
}
