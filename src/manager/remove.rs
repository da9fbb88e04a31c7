//! `remove`: destroy a guest if it runs, remove its disk and its directory.

use std::fs;

use super::store::Disk;
use super::{disk, xl, Manager};
use crate::error::{IoContext, Result};

impl Manager {
    pub(super) fn remove(&self, name: &str) -> Result<()> {
        let dir = self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            self.log.info(&format!("destroying running guest {name}"));
            xl::destroy_if_present(&self.runner, name)?;
        }
        let disk = if let Some(d) = self.store.disk(name)? {
            d
        } else {
            // A guest made by the classic manager: its disk is the logical
            // volume the classic manager would have made (it had no files).
            let path = dir.join("disk.cfg");
            let text = fs::read_to_string(&path).unwrap_or_default();
            match self.disk_for(name, &crate::config::DiskConfig::parse(&text))? {
                Disk::File(_) => Disk::None,
                d => d,
            }
        };
        disk::remove(&self.runner, &disk, name)?;
        fs::remove_dir_all(&dir).with_path("cannot remove", &dir)?;
        self.log.info(&format!("guest {name} removed"));
        Ok(())
    }
}
