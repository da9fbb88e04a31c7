//! `boot-start` and `boot-stop`: what the init system runs at boot and at
//! shutdown.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{config, net, stop_if_interrupted, xl, Manager};
use crate::error::{Error, IoContext, Result};

impl Manager {
    /// The images `boot-start` creates: `XENGUEST_GUEST_DIR/*.xenguest`,
    /// in name order.
    pub(super) fn boot_images(&self) -> Result<Vec<PathBuf>> {
        let dir = self.paths.host(Path::new(self.config.get(config::GUEST_DIR)));
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.log.info(&format!("no guest image directory {}", dir.display()));
                return Ok(Vec::new());
            }
            Err(e) => return Err(Error::io("cannot list", &dir, e)),
        };
        let mut images: Vec<PathBuf> = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()
            .with_path("cannot list", &dir)?
            .into_iter()
            .filter(|p| p.extension() == Some(OsStr::new("xenguest")))
            .collect();
        images.sort();
        Ok(images)
    }

    pub(super) fn boot_start(&self) -> Result<()> {
        let mut failed = Vec::new();
        // Updates and rollbacks a power loss or a kill interrupted: each
        // guest ends with exactly one version before anything starts.
        for name in self.pending_guests()? {
            stop_if_interrupted("boot-start")?;
            if let Err(e) = self.recover(&name, true) {
                self.report_boot_error(&mut failed, &name, &e);
            }
        }
        for image in self.boot_images()? {
            stop_if_interrupted("boot-start")?;
            let name = image
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if self.store.exists(&name) {
                continue;
            }
            // Every image is created (verified first, like any create);
            // only the guests whose GUEST_AUTOBOOT is not 0 are started
            // below. Its params.cfg is read from the verified copy only.
            if let Err(e) = self.create(&image, Some(&name), &[], false) {
                self.report_boot_error(&mut failed, &name, &e);
            }
        }
        let running = xl::running(&self.runner)?;
        // Networks of guests that are gone (a crash, a Dom0 reboot).
        net::sweep(&self.runner, &self.paths, &running);
        for name in self.store.list()? {
            stop_if_interrupted("boot-start")?;
            if !self.store.autoboot(&name)? || running.contains(&name) {
                continue;
            }
            if let Err(e) = self.start(&name) {
                self.report_boot_error(&mut failed, &name, &e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!("boot-start failed for: {}", failed.join(", "))))
        }
    }

    pub(super) fn report_boot_error(&self, failed: &mut Vec<String>, name: &str, e: &Error) {
        let msg = format!("{name}: {}", e.full_message());
        self.log.error(&msg);
        eprintln!("xenguest-manager: error: {msg}");
        failed.push(name.to_owned());
    }

    pub(super) fn boot_stop(&self) -> Result<()> {
        let running = xl::running(&self.runner)?;
        let mut failed = Vec::new();
        for name in self.store.list()? {
            stop_if_interrupted("boot-stop")?;
            if running.contains(&name) {
                if let Err(e) = self.stop(&name, false, true) {
                    self.report_boot_error(&mut failed, &name, &e);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!("boot-stop failed for: {}", failed.join(", "))))
        }
    }
}
