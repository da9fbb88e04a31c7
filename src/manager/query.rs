//! `list` and `status`: what the store holds and what Xen runs.

use std::io::{self, Write};

use serde_json::json;

use super::store::{self, Disk};
use super::versions::{Slot, State, Versions};
use super::{disk, document, stdout_error, xl, Manager};
use crate::error::Result;

impl Manager {
    pub(super) fn list(&self, json: bool) -> Result<()> {
        let names = self.store.list()?;
        let mut out = io::stdout().lock();
        if json {
            let mut guests = Vec::new();
            for name in &names {
                // A classic guest whose disk cannot be found is listed
                // as such; remove says why.
                let disk = self.guest_disk(name).ok();
                let (kind, path) = match &disk {
                    Some(d @ Disk::Lvm { .. }) => ("lvm", disk::target(d, name)),
                    Some(Disk::File(p)) => ("file", Some(p.clone())),
                    Some(Disk::None) => ("none", None),
                    None => ("unknown", None),
                };
                let versions = Versions::of(&self.store, name);
                let active = versions
                    .history()?
                    .versions
                    .iter()
                    .find(|e| e.state == State::Active)
                    .map(|e| e.version);
                guests.push(json!({
                    "name": name,
                    "classic": self.is_classic(name),
                    "version": active,
                    "rollback": versions.config_dir(Slot::Prev).join("guest.cfg").is_file(),
                    "pending": versions.pending()?.is_some(),
                    "autoboot": self.store.autoboot(name)?,
                    "dir": self.store.guest_dir(name),
                    "xl_config": self.store.guest_dir(name).join(store::MERGED_CFG),
                    "disk": { "kind": kind, "path": path },
                }));
            }
            writeln!(out, "{}", document("list", json!({ "ok": true, "guests": guests }))).map_err(stdout_error)
        } else {
            for name in names {
                writeln!(out, "{name}").map_err(stdout_error)?;
            }
            Ok(())
        }
    }

    pub(super) fn status(&self, name: Option<&str>, json: bool) -> Result<()> {
        let names = match name {
            Some(n) => {
                self.store.require(n)?;
                vec![n.to_owned()]
            }
            None => self.store.list()?,
        };
        let running = xl::running(&self.runner)?;
        let mut out = io::stdout().lock();
        let states: Vec<(String, bool)> = names
            .into_iter()
            .map(|n| {
                let r = running.contains(&n);
                (n, r)
            })
            .collect();
        if json {
            let guests: Vec<_> = states
                .iter()
                .map(|(n, r)| json!({ "name": n, "running": r, "state": if *r { "running" } else { "stopped" } }))
                .collect();
            writeln!(out, "{}", document("status", json!({ "ok": true, "guests": guests }))).map_err(stdout_error)
        } else {
            for (n, r) in states {
                writeln!(out, "{n} {}", if r { "Running" } else { "Stopped" }).map_err(stdout_error)?;
            }
            Ok(())
        }
    }
}
