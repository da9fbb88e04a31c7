//! `remove`: destroy a guest if it runs, remove its disk and its directory.

use std::fs;

use super::{disk, net, xl, Manager};
use crate::error::{IoContext, Result};

impl Manager {
    pub(super) fn remove(&self, name: &str) -> Result<()> {
        let dir = self.store.require(name)?;
        // Found before anything is destroyed: a guest whose disk cannot be
        // found (a classic guest on a host whose configuration lost its
        // volume device) is left as it is, running or not.
        let disk = self.guest_disk(name)?;
        if xl::is_running(&self.runner, name)? {
            self.log.info(&format!("destroying running guest {name}"));
            xl::destroy_if_present(&self.runner, name)?;
        }
        net::down(&self.runner, &self.paths, name)?;
        disk::remove(&self.runner, &disk, name)?;
        self.remove_versions(name)?;
        fs::remove_dir_all(&dir).with_path("cannot remove", &dir)?;
        self.log.info(&format!("guest {name} removed"));
        Ok(())
    }
}
