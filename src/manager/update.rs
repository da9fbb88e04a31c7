//! `update`, `rollback` and `history`: a guest's versions (see
//! [`super::versions`] for where they live).
//!
//! An update admits the new image as `create` does, installs it beside
//! the running version (configuration in `next/`, disk `NAME..next`),
//! then stops the active version, copies the kept partitions, switches
//! (four renames: the active disk to `..prev`, the new disk to `NAME`, the
//! active directory to `prev/`, `next/` to `guests/NAME`), starts the new
//! version and waits for its health. Healthy: committed, the old version
//! stays as the rollback target. Not: undone, the old version comes back
//! as it was and is started again.
//!
//! Every step is recorded before it runs ([`Pending`]); an interrupted
//! update is undone by the next action on the guest (or `boot-start`)
//! unless it had reached its commit, which is then finished; an
//! interrupted rollback is finished. Either way exactly one version is
//! active and no version's data is lost.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;

use super::cli::UpdateOptions;
use super::create::{mark_kept, resolve_image};
use super::store::{self, Disk};
use super::versions::{self, Entry, History, Kind, Pending, Slot, State, Step, Versions};
use super::{disk, document, init, net, stdout_error, xl, Manager};
use crate::config::DiskConfig;
use crate::error::{Error, IoContext, Result};

/// The guest's own health key, under its xenstore home
/// (`/local/domain/DOMID/`): `ok` confirms the new version.
pub(super) const HEALTH_KEY: &str = "data/xenguest/health";
/// The image's host-side health checks.
pub(super) const HEALTH_DIR: &str = "health.d";
/// How often health is asked.
const HEALTH_POLL: Duration = Duration::from_secs(2);

/// One rename of the switch: a disk or a configuration directory from one
/// slot to another.
#[derive(Debug, Clone)]
enum Move {
    Disk { disk: Disk, from: Slot, to: Slot },
    Dir { from: Slot, to: Slot },
}

impl Manager {
    /// (Dispatch has finished or undone an interrupted update of `name`.)
    pub(super) fn update(&self, name: &str, file: &Path, opts: &UpdateOptions) -> Result<()> {
        let dir = self.store.require(name)?;
        let real = resolve_image(file)?;
        self.log.info(&format!("updating guest {name} from {}", real.display()));
        let verified = self.open_verified(&real)?;
        let versions = Versions::of(&self.store, name);
        let mut history = versions.history()?;
        let installed_name = installed_image_name(&history).unwrap_or_else(|| name.to_owned());
        if let Some(new_name) = verified.opened.image.meta.as_ref().and_then(|m| m.name.clone()) {
            if new_name != installed_name && !opts.any_name {
                return Err(Error::Refused(format!(
                    "`{}` is an image of `{new_name}`, but guest `{name}` runs `{installed_name}` - \
                     update --any-name installs it anyway",
                    file.display()
                )));
            }
        }
        let mut image = verified.opened.image.clone();
        mark_kept(&mut image, &opts.keep)?;
        let new_cfg = image.disk.clone().unwrap_or_default();
        let old_cfg = store::disk_cfg(&dir)?;
        let outgoing = self.guest_disk(name)?;
        let incoming = self.disk_for(name, &new_cfg)?;
        // Refused before anything changes.
        let carried = carried(&old_cfg, &new_cfg, &outgoing, &incoming)?;
        let was_running = xl::is_running(&self.runner, name)?;
        if history.versions.is_empty() {
            // A guest created before versions were recorded (or by the
            // classic manager): its version gets number 1.
            history.versions.push(Entry {
                version: 1,
                state: State::Active,
                image: versions::ImageRecord {
                    file: "(not recorded)".into(),
                    ..Default::default()
                },
                installed: "(not recorded)".into(),
                activated: None,
                ended: None,
                reason: None,
            });
        }
        let number = history.next_number();
        let mut pending = Pending {
            kind: Kind::Update,
            step: Step::Stage,
            outgoing_disk: outgoing.clone(),
            incoming_disk: incoming.clone(),
            incoming: Slot::Next,
            parked: None,
            switched: 0,
            was_running,
            carried: carried.clone(),
            version: number,
            image: Some(verified.record(&real)),
            undo_from: None,
            reason: None,
        };
        versions.save_pending(&pending)?;
        let now = now();
        history.versions.push(Entry {
            version: number,
            state: State::Installing,
            image: verified.record(&real),
            installed: now.clone(),
            activated: None,
            ended: None,
            reason: None,
        });
        versions.save_history(&history)?;

        let staged = (|| {
            self.park_prev(name, &versions, &mut pending)?;
            if self.is_classic(name) {
                // A classic guest's disk is recorded now, so that it is
                // found in prev/ after the switch.
                let state = dir.join(store::STATE_FILE);
                fs::write(&state, store::state_text(&outgoing)?).with_path("cannot write", &state)?;
            }
            let next = versions.config_dir(Slot::Next);
            self.stage(name, &image, &incoming, &next, &dir, Some(&dir))?;
            let mut created = disk::Created::default();
            let volume = Slot::Next.volume(name);
            let carry: BTreeSet<u8> = carried.iter().copied().collect();
            disk::create(
                &self.runner,
                &Slot::Next.disk(&incoming, name),
                &volume,
                &new_cfg,
                &verified.opened.image.disk_files,
                &carry,
                true,
                &mut created,
            )
            .map_err(|e| {
                created.undo(&self.runner);
                e
            })
        })();
        if let Err(e) = staged {
            return Err(self.fail_update(name, &versions, &mut pending, &e));
        }

        pending.step = Step::Stop;
        versions.save_pending(&pending)?;
        if was_running {
            if let Err(e) = self.stop(name, false, opts.kill) {
                return Err(self.fail_update(name, &versions, &mut pending, &e));
            }
        }

        pending.step = Step::Copy;
        versions.save_pending(&pending)?;
        let copied = disk::copy_partitions(
            &self.runner,
            (&outgoing, name),
            (&Slot::Next.disk(&incoming, name), &Slot::Next.volume(name)),
            &carried,
        );
        if let Err(e) = copied {
            return Err(self.fail_update(name, &versions, &mut pending, &e));
        }

        pending.step = Step::Switch;
        versions.save_pending(&pending)?;
        if let Err(e) = self.switch(name, &versions, &mut pending) {
            return Err(self.fail_update(name, &versions, &mut pending, &e));
        }

        if was_running {
            pending.step = Step::Start;
            versions.save_pending(&pending)?;
            if let Err(e) = self.start(name) {
                return Err(self.fail_update(name, &versions, &mut pending, &e));
            }
            if !opts.no_health_check {
                pending.step = Step::Health;
                versions.save_pending(&pending)?;
                let active = self.store.guest_dir(name);
                if let Err(reason) = self.wait_healthy(name, &active) {
                    return Err(self.fail_update(name, &versions, &mut pending, &Error::Refused(reason)));
                }
            }
        }
        pending.step = Step::Commit;
        versions.save_pending(&pending)?;
        self.commit(name, &versions, &pending)?;
        self.log.info(&format!(
            "guest {name} updated to version {number}{}",
            if was_running {
                ""
            } else {
                " (it was not running: installed without a health check)"
            }
        ));
        Ok(())
    }

    /// Parks the rollback target while an update runs (disk `NAME..prev`
    /// to `NAME..old`, `prev/` to `parked/`): the switch needs its slot,
    /// and a failed update brings it back ([`Self::unpark`]).
    fn park_prev(&self, name: &str, versions: &Versions, pending: &mut Pending) -> Result<()> {
        let prev = versions.config_dir(Slot::Prev);
        if pending.parked.is_none() {
            if !prev.exists() {
                return Ok(());
            }
            pending.parked = Some(store::recorded_disk(&prev)?.unwrap_or(Disk::None));
            versions.save_pending(pending)?;
        }
        self.move_parked(name, versions, pending, Slot::Prev, Slot::Parked)
    }

    /// Brings a parked rollback target back to its slot.
    fn unpark(&self, name: &str, versions: &Versions, pending: &Pending) -> Result<()> {
        self.move_parked(name, versions, pending, Slot::Parked, Slot::Prev)
    }

    /// Moves the parked version's disk and directory from `from` to `to`,
    /// each unless already moved.
    fn move_parked(&self, name: &str, versions: &Versions, pending: &Pending, from: Slot, to: Slot) -> Result<()> {
        let Some(disk) = &pending.parked else {
            return Ok(());
        };
        let mut moves = vec![Move::Dir { from, to }];
        if *disk != Disk::None {
            moves.insert(
                0,
                Move::Disk {
                    disk: disk.clone(),
                    from,
                    to,
                },
            );
        }
        for m in &moves {
            if self.source_exists(name, versions, m)? {
                self.apply(name, versions, m, true)?;
            }
        }
        Ok(())
    }

    /// Removes the parked rollback target: an update replaced it.
    fn discard_parked(&self, name: &str, versions: &Versions, pending: &Pending) -> Result<()> {
        let Some(disk) = &pending.parked else {
            return Ok(());
        };
        self.log
            .info(&format!("discarding the version of {name} before the previous one"));
        self.discard(name, versions, Slot::Parked, disk)
    }

    /// Removes the version in `slot`: its disk (`disk` as the version
    /// records it), then its directory.
    fn discard(&self, name: &str, versions: &Versions, slot: Slot, disk: &Disk) -> Result<()> {
        disk::remove(&self.runner, &slot.disk(disk, name), &slot.volume(name))?;
        versions::remove_tree(&versions.config_dir(slot))
    }

    /// The switch's renames, in order: the outgoing version's disk and
    /// directory leave the active slot for the other one, the incoming
    /// version's take it.
    fn moves(pending: &Pending) -> Vec<Move> {
        let incoming = pending.incoming;
        let outgoing = if incoming == Slot::Next { Slot::Prev } else { Slot::Next };
        let mut moves = Vec::new();
        if pending.outgoing_disk != Disk::None {
            moves.push(Move::Disk {
                disk: pending.outgoing_disk.clone(),
                from: Slot::Active,
                to: outgoing,
            });
        }
        if pending.incoming_disk != Disk::None {
            moves.push(Move::Disk {
                disk: pending.incoming_disk.clone(),
                from: incoming,
                to: Slot::Active,
            });
        }
        moves.push(Move::Dir {
            from: Slot::Active,
            to: outgoing,
        });
        moves.push(Move::Dir {
            from: incoming,
            to: Slot::Active,
        });
        moves
    }

    /// Whether the source of `m` still exists. With every move before it
    /// done and none after it, that says whether it is done.
    fn source_exists(&self, name: &str, versions: &Versions, m: &Move) -> Result<bool> {
        match m {
            Move::Disk { disk, from, .. } => disk::exists(&self.runner, &from.disk(disk, name), &from.volume(name)),
            Move::Dir { from, .. } => Ok(fs::symlink_metadata(versions.config_dir(*from)).is_ok()),
        }
    }

    fn apply(&self, name: &str, versions: &Versions, m: &Move, forward: bool) -> Result<()> {
        let (from, to) = match m {
            Move::Disk { from, to, .. } | Move::Dir { from, to } => {
                if forward {
                    (*from, *to)
                } else {
                    (*to, *from)
                }
            }
        };
        match m {
            Move::Disk { disk, .. } => disk::rename(
                &self.runner,
                &from.disk(disk, name),
                &from.volume(name),
                &to.disk(disk, name),
                &to.volume(name),
            ),
            Move::Dir { .. } => {
                let (a, b) = (versions.config_dir(from), versions.config_dir(to));
                if to != Slot::Active {
                    versions.create()?;
                }
                fs::rename(&a, &b).with_path("cannot rename", &a)?;
                versions::sync_dir(self.store.dir())?;
                versions::sync_dir(versions.dir())
            }
        }
    }

    /// Runs the switch's renames from `pending.switched` on, recording
    /// each.
    fn switch(&self, name: &str, versions: &Versions, pending: &mut Pending) -> Result<()> {
        let moves = Self::moves(pending);
        while pending.switched < moves.len() {
            let m = &moves[pending.switched];
            // The first move not recorded may have happened already.
            if self.source_exists(name, versions, m)? {
                self.apply(name, versions, m, true)?;
            }
            pending.switched += 1;
            versions.save_pending(pending)?;
        }
        Ok(())
    }

    /// Undoes the switch's renames, last first, recording each.
    fn switch_back(&self, name: &str, versions: &Versions, pending: &mut Pending) -> Result<()> {
        let moves = Self::moves(pending);
        // The move after the recorded ones may have happened.
        if let Some(m) = moves.get(pending.switched) {
            if !self.source_exists(name, versions, m)? {
                pending.switched += 1;
            }
        }
        while pending.switched > 0 {
            let m = &moves[pending.switched - 1];
            if !self.source_exists(name, versions, m)? {
                self.apply(name, versions, m, false)?;
            }
            pending.switched -= 1;
            versions.save_pending(pending)?;
        }
        Ok(())
    }

    /// Undoes an update that failed at its current step, and returns the
    /// error to report: why it failed, and what the undo did.
    fn fail_update(&self, name: &str, versions: &Versions, pending: &mut Pending, e: &Error) -> Error {
        // Undone even when a signal stopped the update.
        let _cleanup = crate::interrupt::cleanup();
        let reason = e.full_message();
        self.log.error(&format!(
            "update of {name} failed at step {}: {reason}; undoing it",
            pending.step.name()
        ));
        match self.undo_update(name, versions, pending, &reason) {
            Ok(true) => match self.start(name) {
                Ok(()) => Error::Refused(format!(
                    "update of guest `{name}` to version {} failed ({reason}); rolled back to the previous version, \
                     which runs again",
                    pending.version
                )),
                Err(s) => Error::Refused(format!(
                    "update of guest `{name}` to version {} failed ({reason}); rolled back to the previous version, \
                     but starting it failed: {}",
                    pending.version,
                    s.full_message()
                )),
            },
            Ok(false) => Error::Refused(format!(
                "update of guest `{name}` to version {} failed ({reason}); rolled back to the previous version",
                pending.version
            )),
            Err(u) => Error::Refused(format!(
                "update of guest `{name}` failed ({reason}), and undoing it failed too: {} - after fixing this, \
                 the next changing action on `{name}` (e.g. `xenguest-manager start {name}`) or boot-start finishes \
                 the undo",
                u.full_message()
            )),
        }
    }

    /// Undoes an update from its recorded step: destroys the new version
    /// if it may run, switches back, discards the new version and records
    /// it as failed. Returns whether the old version ran before the update
    /// and was stopped by it (then the caller may start it again).
    fn undo_update(&self, name: &str, versions: &Versions, pending: &mut Pending, reason: &str) -> Result<bool> {
        let from = if let Some(step) = pending.undo_from {
            step
        } else {
            let step = pending.step;
            pending.undo_from = Some(step);
            pending.reason = Some(reason.to_owned());
            pending.step = Step::Undo;
            versions.save_pending(pending)?;
            step
        };
        if from >= Step::Start && xl::is_running(&self.runner, name)? {
            self.log.info(&format!("destroying the new version of {name}"));
            xl::destroy_if_present(&self.runner, name)?;
        }
        if from >= Step::Start {
            net::down(&self.runner, &self.paths, name)?;
        }
        if from >= Step::Switch {
            self.switch_back(name, versions, pending)?;
        }
        // The new version goes; the rollback target comes back to its slot.
        self.discard(name, versions, Slot::Next, &pending.incoming_disk)?;
        self.unpark(name, versions, pending)?;
        let mut history = versions.history()?;
        let when = now();
        if history.get_mut(pending.version).is_none() {
            if let Some(image) = &pending.image {
                history.versions.push(Entry {
                    version: pending.version,
                    state: State::Failed,
                    image: image.clone(),
                    installed: when.clone(),
                    activated: None,
                    ended: None,
                    reason: None,
                });
            }
        }
        if let Some(e) = history.get_mut(pending.version) {
            e.state = State::Failed;
            e.ended = Some(when);
            e.reason.clone_from(&pending.reason);
        }
        versions.save_history(&history)?;
        versions.clear_pending()?;
        Ok(pending.was_running && from >= Step::Stop && !xl::is_running(&self.runner, name)?)
    }

    /// Records the incoming version as the active one and the outgoing
    /// one as the rollback target (an update) or as rolled back from (a
    /// rollback, whose outgoing version is then discarded).
    /// Idempotent: a commit interrupted after its history was written is
    /// finished without demoting anything twice.
    fn commit(&self, name: &str, versions: &Versions, pending: &Pending) -> Result<()> {
        let mut history = versions.history()?;
        let when = now();
        let done = history
            .versions
            .iter()
            .any(|e| e.version == pending.version && e.state == State::Active);
        if !done {
            match pending.kind {
                Kind::Update => {
                    history.demote(State::Previous, State::Retired, &when);
                    history.demote(State::Active, State::Previous, &when);
                }
                Kind::Rollback => history.demote(State::Active, State::RolledBack, &when),
            }
            if let Some(e) = history.get_mut(pending.version) {
                e.state = State::Active;
                e.activated = Some(when);
            }
            versions.save_history(&history)?;
        }
        self.discard_parked(name, versions, pending)?;
        versions.clear_pending()
    }

    /// (Dispatch has finished or undone an interrupted update of `name`.)
    pub(super) fn rollback(&self, name: &str, kill: bool) -> Result<()> {
        self.store.require(name)?;
        let versions = Versions::of(&self.store, name);
        let prev = versions.config_dir(Slot::Prev);
        if !prev.join("guest.cfg").is_file() {
            return Err(Error::Refused(format!(
                "guest `{name}` has no previous version to roll back to (`xenguest-manager history {name}` lists its versions)"
            )));
        }
        let history = versions.history()?;
        let target = history
            .versions
            .iter()
            .find(|e| e.state == State::Previous)
            .map_or(0, |e| e.version);
        let was_running = xl::is_running(&self.runner, name)?;
        let mut pending = Pending {
            kind: Kind::Rollback,
            step: Step::Stop,
            outgoing_disk: self.guest_disk(name)?,
            incoming_disk: store::recorded_disk(&prev)?.unwrap_or(Disk::None),
            incoming: Slot::Prev,
            parked: None,
            switched: 0,
            was_running,
            carried: Vec::new(),
            version: target,
            image: None,
            undo_from: None,
            reason: None,
        };
        versions.save_pending(&pending)?;
        if was_running {
            if let Err(e) = self.stop(name, false, kill) {
                versions.clear_pending()?;
                return Err(e);
            }
        }
        self.finish_rollback(name, &versions, &mut pending)?;
        if was_running {
            self.start(name)?;
        }
        self.log.info(&format!("guest {name} rolled back to version {target}"));
        Ok(())
    }

    /// The rest of a rollback from its recorded step: the switch, the
    /// discard of the version rolled back from, the record.
    fn finish_rollback(&self, name: &str, versions: &Versions, pending: &mut Pending) -> Result<()> {
        if pending.step < Step::Switch {
            pending.step = Step::Switch;
            versions.save_pending(pending)?;
        }
        if pending.step == Step::Switch {
            self.switch(name, versions, pending)?;
            pending.step = Step::Commit;
            versions.save_pending(pending)?;
        }
        // The version rolled back from, now in the `next` slot.
        self.discard(name, versions, Slot::Next, &pending.outgoing_disk)?;
        self.commit(name, versions, pending)
    }

    /// Finishes or undoes an update or rollback of guest `name` that was
    /// interrupted (the manager holds the lock: no other one is running
    /// it). `at_boot`: the guest is started by boot-start's autoboot
    /// afterwards, not here. Returns whether there was one.
    pub(super) fn recover(&self, name: &str, at_boot: bool) -> Result<bool> {
        let versions = Versions::of(&self.store, name);
        let Some(mut pending) = versions.pending()? else {
            return Ok(false);
        };
        let _cleanup = crate::interrupt::cleanup();
        self.log.info(&format!(
            "guest {name}: an interrupted {} (step {}) is being {}",
            pending.kind.name(),
            pending.step.name(),
            if pending.kind == Kind::Rollback || pending.step == Step::Commit {
                "finished"
            } else {
                "undone"
            }
        ));
        match (pending.kind, pending.step) {
            (Kind::Update, Step::Commit) => self.commit(name, &versions, &pending)?,
            (Kind::Update, _) => {
                let reason = format!(
                    "interrupted at step {} (the manager stopped before the new version was confirmed)",
                    pending.undo_from.unwrap_or(pending.step).name()
                );
                self.undo_update(name, &versions, &mut pending, &reason)?;
            }
            (Kind::Rollback, _) => self.finish_rollback(name, &versions, &mut pending)?,
        }
        if !at_boot && pending.was_running && !xl::is_running(&self.runner, name)? {
            self.log.info(&format!(
                "guest {name} was running before the interrupted {}: it is stopped now",
                if pending.kind == Kind::Update {
                    "update"
                } else {
                    "rollback"
                }
            ));
        }
        Ok(true)
    }

    /// Waits for the new version of `name` (in `dir`) to confirm its
    /// health: its xenstore key [`HEALTH_KEY`] says `ok`, or every
    /// `health.d/` script of its image succeeds, within its
    /// `GUEST_HEALTH_TIMEOUT`. The reason when it does not.
    fn wait_healthy(&self, name: &str, dir: &Path) -> std::result::Result<(), String> {
        let params = self.store.params(name).map_err(|e| e.full_message())?;
        let timeout = params.health_timeout().map_err(|e| e.full_message())?;
        let checks = init::scripts_in(&dir.join(HEALTH_DIR)).map_err(|e| e.full_message())?;
        init::check_executable(&checks).map_err(|e| e.full_message())?;
        let cfg = dir.join(store::MERGED_CFG);
        let guest = init::Guest { name, dir, cfg: &cfg };
        self.log.info(&format!(
            "waiting up to {timeout} s for guest {name} to confirm its health ({HEALTH_KEY}{})",
            if checks.is_empty() { "" } else { " or health.d" }
        ));
        let start = Instant::now();
        let mut last_check = String::new();
        loop {
            // A failing `xl list` (xl itself can crash) says nothing of
            // the guest: asked again at the next poll, until the timeout.
            match xl::domain_state(&self.runner, name) {
                Ok(None) => return Err("the new version stopped before it confirmed its health".into()),
                Ok(Some(state)) if state.contains('c') => return Err("the new version crashed".into()),
                Ok(Some(state)) if state.contains('s') => {
                    return Err("the new version shut down before it confirmed its health".into())
                }
                Ok(Some(_)) => {}
                Err(e) => self.log.error(&format!(
                    "while waiting for health: {} (asking again)",
                    e.full_message()
                )),
            }
            match xl::read_guest_key(&self.runner, name, HEALTH_KEY) {
                Ok(Some(v)) if v == "ok" => {
                    self.log.info(&format!("guest {name} confirmed its health"));
                    return Ok(());
                }
                Ok(Some(v)) if !v.is_empty() => {
                    return Err(format!(
                        "the new version reported `{}` in {HEALTH_KEY}",
                        v.escape_debug()
                    ))
                }
                Ok(_) => {}
                Err(e) => self.log.verbose(&format!("health key: {}", e.full_message())),
            }
            if !checks.is_empty() {
                match init::run_scripts(&self.runner, &self.log, guest, &checks) {
                    Ok(()) => {
                        self.log.info(&format!("guest {name}: every health.d check succeeded"));
                        return Ok(());
                    }
                    Err(e) => last_check = e.full_message(),
                }
            }
            if start.elapsed() >= Duration::from_secs(timeout) {
                return Err(format!(
                    "no health confirmation within GUEST_HEALTH_TIMEOUT={timeout} s{}",
                    if last_check.is_empty() {
                        String::new()
                    } else {
                        format!(" (last health.d result: {last_check})")
                    }
                ));
            }
            if crate::interrupt::requested() {
                return Err("interrupted by a signal while waiting for health".into());
            }
            std::thread::sleep(HEALTH_POLL);
        }
    }

    pub(super) fn history(&self, name: &str, json: bool) -> Result<()> {
        store::check_name(name)?;
        let versions = Versions::of(&self.store, name);
        let pending = versions.pending()?;
        if !self.store.exists(name) && pending.is_none() {
            self.store.require(name)?;
        }
        let history = versions.history()?;
        let mut out = io::stdout().lock();
        if json {
            let doc = document(
                "history",
                json!({
                    "ok": true,
                    "name": name,
                    "versions": history.versions,
                    "pending": pending.as_ref().map(|p| json!({
                        "kind": p.kind,
                        "step": p.step,
                        "version": p.version,
                    })),
                }),
            );
            return io::Write::write_all(&mut out, format!("{doc}\n").as_bytes()).map_err(stdout_error);
        }
        let mut text = String::new();
        if history.versions.is_empty() {
            let _ = writeln!(
                text,
                "{name}: no versions recorded (created before versions were kept, or by the classic manager)"
            );
        }
        for e in &history.versions {
            let digest = e.image.sha256.as_deref().map_or("-", |d| &d[..d.len().min(16)]);
            let signer = e.image.signer.as_ref().map_or_else(
                || "unsigned".to_owned(),
                |s| format!("{} {}", s.algorithm, &s.fingerprint[..s.fingerprint.len().min(16)]),
            );
            let _ = writeln!(
                text,
                "{:>3} {:<11} {} {} sha256:{digest} {signer}{}",
                e.version,
                state_word(e.state),
                e.installed,
                e.image.version.as_deref().unwrap_or("-"),
                e.reason.as_ref().map_or_else(String::new, |r| format!(" ({r})"))
            );
        }
        if let Some(p) = &pending {
            let _ = writeln!(
                text,
                "interrupted {} at step {} (the next changing action on {name} finishes or undoes it)",
                p.kind.name(),
                p.step.name()
            );
        }
        io::Write::write_all(&mut out, text.as_bytes()).map_err(stdout_error)
    }

    /// Names of the guests with an interrupted update or rollback (their
    /// `guests/NAME/` may be missing in the middle of a switch).
    pub(super) fn pending_guests(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(self.store.dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", self.store.dir(), e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_path("cannot list", self.store.dir())?;
            let file = entry.file_name();
            let Some(name) = file
                .to_str()
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(".versions"))
            else {
                continue;
            };
            if store::check_name(name).is_ok() && Versions::of(&self.store, name).pending()?.is_some() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// What `remove` removes beyond the active version: the rollback
    /// target, a half-installed version and the history.
    pub(super) fn remove_versions(&self, name: &str) -> Result<()> {
        let versions = Versions::of(&self.store, name);
        for slot in [Slot::Prev, Slot::Next, Slot::Parked] {
            if let Some(disk) = store::recorded_disk(&versions.config_dir(slot))? {
                self.discard(name, &versions, slot, &disk)?;
            }
        }
        versions.remove_all()
    }
}

/// The partitions an update copies from the outgoing disk: those the
/// installed version or the new image marks as kept (`DISK_PARTn_KEEP`).
/// Refused, before anything changes, when the new layout cannot carry
/// one: its number is gone, it is smaller, or its file system differs.
fn carried(old: &DiskConfig, new: &DiskConfig, outgoing: &Disk, incoming: &Disk) -> Result<Vec<u8>> {
    let old_kept = old.kept()?;
    let new_kept = new.kept()?;
    if *outgoing == Disk::None {
        return Ok(Vec::new());
    }
    let old_parts = disk::layout(old)?;
    let new_parts = if *incoming == Disk::None {
        Vec::new()
    } else {
        disk::layout(new)?
    };
    let mut carried = Vec::new();
    for n in old_kept.union(&new_kept).copied() {
        let o = old_parts.iter().find(|p| p.number == n);
        let w = new_parts.iter().find(|p| p.number == n);
        match (o, w) {
            (Some(o), Some(w)) => {
                if w.bytes() < o.bytes() {
                    return Err(Error::Refused(format!(
                        "partition {n} holds kept data ({} MB) but the new image makes it {} MB - a kept partition \
                         cannot shrink",
                        o.end_mb - o.start_mb,
                        w.end_mb - w.start_mb
                    )));
                }
                if w.fs != o.fs {
                    return Err(Error::Refused(format!(
                        "partition {n} holds kept data as `{}` but the new image formats it as `{}`",
                        o.fs, w.fs
                    )));
                }
                carried.push(n);
            }
            (Some(_), None) if old_kept.contains(&n) => {
                return Err(Error::Refused(format!(
                    "partition {n} holds kept data (DISK_PART{n}_KEEP) but the new image has no partition {n} - its \
                     data would be lost"
                )));
            }
            // Kept by the new image only, and new: made from its content.
            _ => {}
        }
    }
    Ok(carried)
}

/// The metadata name of the active version's image, as recorded.
fn installed_image_name(history: &History) -> Option<String> {
    history
        .versions
        .iter()
        .find(|e| e.state == State::Active)
        .and_then(|e| e.image.name.clone())
}

fn now() -> String {
    super::log::iso_timestamp(SystemTime::now())
}

/// A state's word, as the JSON history spells it.
fn state_word(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
