//! Guests the classic bash manager created, adopted as they are: a
//! `guests/NAME/` directory with `guest.cfg`, `params.cfg` and `disk.cfg`
//! but no `manager.state`. `list`, `status`, `start`, `stop`, `kill` and
//! `remove` work on them; nothing is rewritten, so the classic manager can
//! still drive them after a roll back.
//!
//! The classic manager kept no record of a guest's disk: it found it again
//! from `disk.cfg` and the configuration, every time. So does this one
//! ([`Manager::guest_disk`]): no disk when `DISK_SIZE` is 0, else the
//! logical volume `GROUP/NAME`, GROUP being `vg-xen-$(basename
//! DISK_DEVICE)` when the guest's `disk.cfg` names a device, else
//! `XENGUEST_VOLUME_NAME` (default `vg-xen-$(basename
//! XENGUEST_VOLUME_DEVICE)`). The classic manager had no file-backed disks.

use super::config;
use super::store::Disk;
use super::Manager;
use crate::error::{Error, Result};

impl Manager {
    /// Where guest `name`'s disk lives: the manager's record
    /// (`manager.state`), else, for a guest the classic manager created,
    /// the classic convention.
    pub(super) fn guest_disk(&self, name: &str) -> Result<Disk> {
        match self.store.disk(name)? {
            Some(disk) => Ok(disk),
            None => self.classic_disk(name),
        }
    }

    /// Whether guest `name` was created by the classic manager (it has no
    /// `manager.state`).
    pub(super) fn is_classic(&self, name: &str) -> bool {
        !self.store.guest_dir(name).join(super::store::STATE_FILE).exists()
    }

    /// The disk of a guest the classic manager created, found as the
    /// classic manager found it (see the module documentation).
    fn classic_disk(&self, name: &str) -> Result<Disk> {
        let path = self.store.guest_dir(name).join("disk.cfg");
        let cfg = super::store::disk_cfg(&self.store.guest_dir(name))?;
        if cfg.size_mb().map_err(|e| in_file(&path, &e))? == 0 {
            return Ok(Disk::None);
        }
        let own = cfg.0.get("DISK_DEVICE").unwrap_or("");
        if !own.is_empty() {
            return Ok(Disk::Lvm {
                device: own.to_owned(),
                group: config::default_group(own),
            });
        }
        match self.config.volume_device() {
            Some(dev) => Ok(Disk::Lvm {
                device: dev.to_owned(),
                group: self.config.volume_group(dev),
            }),
            None => Err(Error::Refused(format!(
                "guest `{name}` was created by the classic manager (no `{}`): its disk is a logical volume \
                 on {} of the classic configuration, which {} does not set - set {} (and {} if the \
                 classic file did) as the classic configuration had them",
                super::store::STATE_FILE,
                config::VOLUME_DEVICE,
                self.config
                    .file
                    .as_ref()
                    .map_or_else(|| "the configuration".to_owned(), |p| format!("`{}`", p.display())),
                config::VOLUME_DEVICE,
                config::VOLUME_NAME,
            ))),
        }
    }
}

fn in_file(path: &std::path::Path, e: &Error) -> Error {
    Error::Refused(format!("`{}`: {}", path.display(), e.full_message()))
}
