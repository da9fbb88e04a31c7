//! `start`, `stop` and `kill`: a created guest's life in Xen.

use std::io::Write;

use super::{init, net, store, xl, Manager};
use crate::error::{Error, IoContext, Result};
use crate::image::{writer, Stage};

impl Manager {
    pub(super) fn start(&self, name: &str) -> Result<()> {
        let dir = self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            return Err(Error::Refused(format!("guest `{name}` is already running")));
        }
        let mut stages = Vec::new();
        for stage in Stage::ALL {
            let scripts = init::scripts(&self.paths.base, &dir, stage)?;
            init::check_executable(&scripts)?;
            stages.push(scripts);
        }
        let merged_text = store::merged_xl(&dir, &dir, &self.config.policy()?)?;
        // Replaced atomically: `xl create` may be reading the old one.
        writer::write_file_member(
            &dir.join(store::MERGED_CFG),
            crate::image::MODE_FILE,
            &crate::image::Blob::bytes(merged_text.clone()),
            store::MERGED_CFG,
        )?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .suffix(".cfg")
            .rand_bytes(6)
            .tempfile_in(&dir)
            .with_path("cannot create a temporary file in", &dir)?;
        tmp.write_all(merged_text.as_bytes())
            .and_then(|()| tmp.flush())
            .with_path("cannot write", tmp.path())?;
        let guest = init::Guest {
            name,
            dir: &dir,
            cfg: tmp.path(),
        };
        self.log.info(&format!("starting guest {name}"));
        init::run_scripts(&self.runner, &self.log, guest, &stages[0])?;
        net::up(&self.runner, &self.paths, &self.config, name, &dir)?;
        xl::create_paused(&self.runner, tmp.path(), &dir).map_err(|e| net::undo(&self.runner, &self.paths, name, e))?;
        let running = init::run_scripts(&self.runner, &self.log, guest, &stages[1])
            .and_then(|()| xl::unpause(&self.runner, name));
        if let Err(e) = running {
            let _cleanup = crate::interrupt::cleanup();
            self.log
                .error(&format!("start {name} failed, destroying the paused guest"));
            if let Err(d) = xl::destroy(&self.runner, name) {
                self.log.error(&format!("cleanup: {}", d.full_message()));
            }
            return Err(net::undo(&self.runner, &self.paths, name, e));
        }
        init::run_scripts(&self.runner, &self.log, guest, &stages[2]).map_err(|e| {
            Error::Refused(format!(
                "guest `{name}` is running, but an init.post script failed: {}",
                e.full_message()
            ))
        })?;
        self.log.info(&format!("guest {name} started"));
        Ok(())
    }

    pub(super) fn require_running(&self, name: &str) -> Result<()> {
        self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            Ok(())
        } else {
            Err(Error::Refused(format!("guest `{name}` is not running")))
        }
    }

    pub(super) fn stop(&self, name: &str, nowait: bool, kill: bool) -> Result<()> {
        self.require_running(name)?;
        self.log.info(&format!("stopping guest {name}"));
        match xl::shutdown(&self.runner, name, !nowait) {
            Ok(()) => {}
            Err(e) if kill => {
                self.log.info(&format!(
                    "shutdown of {name} failed ({}), destroying it",
                    e.full_message()
                ));
                xl::destroy_if_present(&self.runner, name)?;
            }
            Err(e) => return Err(e),
        }
        // `xl shutdown -w` returns while Xen still lists the dying domain
        // for a moment; a `start` or `remove` right after must not see it.
        if !nowait && !xl::wait_gone(&self.runner, name)? {
            self.log
                .info(&format!("guest {name} has shut down but Xen still lists it"));
        }
        // A guest stopped without waiting keeps its network until its next
        // start (or boot-start) clears it.
        if nowait {
            Ok(())
        } else {
            net::down(&self.runner, &self.paths, name)
        }
    }

    pub(super) fn kill(&self, name: &str) -> Result<()> {
        self.require_running(name)?;
        self.log.info(&format!("destroying guest {name}"));
        xl::destroy_if_present(&self.runner, name)?;
        net::down(&self.runner, &self.paths, name)
    }
}
