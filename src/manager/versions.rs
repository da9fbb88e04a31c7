//! A guest's versions: what `update`, `rollback` and `history` keep
//! beside the guest store's `guests/NAME/` (the active version, where the
//! classic manager and every other action find it).
//!
//! `guests/.NAME.versions/` (a dot directory: no guest name starts with
//! `.`, and the classic manager's `guests/*` never sees it) holds
//!
//! - `next/`: the version an update installs, until the switch;
//! - `prev/`: the version before the last update, the rollback target
//!   (`parked/` while an update runs);
//! - `history.json`: every version, with its image digest and signer;
//! - `pending.json`: the step an update or a rollback is at, written
//!   atomically before each step, so that an interrupted one (power loss,
//!   SIGKILL) is finished or undone by the next action on the guest.
//!
//! A version's disk is a logical volume or a disk file named after its
//! slot ([`Slot::volume`]): the active one is `NAME` (as the classic
//! manager named it), the others `NAME..next`, `NAME..prev` and
//! `NAME..old`; guest
//! names cannot contain `..` ([`super::store::check_name`]), so no other
//! guest's disk has those names.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::{Disk, Store};
use crate::error::{Error, IoContext, Result};

/// Where a version of a guest is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Slot {
    /// The active version: `guests/NAME/`, disk `NAME`.
    Active,
    /// The version an update installs: `next/`, disk `NAME..next`.
    Next,
    /// The rollback target: `prev/`, disk `NAME..prev`.
    Prev,
    /// The rollback target while an update runs: `parked/`, disk
    /// `NAME..old`; back to `Prev` if the update fails, removed when it
    /// commits.
    Parked,
}

impl Slot {
    /// The name of the logical volume (or the stem of the disk file) of
    /// guest `name`'s version in this slot.
    pub fn volume(self, name: &str) -> String {
        match self {
            Slot::Active => name.to_owned(),
            Slot::Next => format!("{name}..next"),
            Slot::Prev => format!("{name}..prev"),
            Slot::Parked => format!("{name}..old"),
        }
    }

    /// `disk` (as the active version records it) moved to this slot: the
    /// same volume group, or the disk file renamed after the slot.
    pub fn disk(self, disk: &Disk, name: &str) -> Disk {
        match disk {
            Disk::File(path) => Disk::File(path.with_file_name(format!("{}.img", self.volume(name)))),
            other => other.clone(),
        }
    }
}

/// The versions of one guest.
#[derive(Debug, Clone)]
pub struct Versions {
    /// `guests/.NAME.versions`.
    dir: PathBuf,
    /// `guests/NAME`.
    active: PathBuf,
}

/// Name of the pending-step record.
const PENDING: &str = "pending.json";
/// Name of the history.
const HISTORY: &str = "history.json";

impl Versions {
    /// The versions of guest `name` in `store`.
    pub fn of(store: &Store, name: &str) -> Versions {
        Versions {
            dir: store.dir().join(format!(".{name}.versions")),
            active: store.guest_dir(name),
        }
    }

    /// `guests/.NAME.versions`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration directory of the version in `slot`.
    pub fn config_dir(&self, slot: Slot) -> PathBuf {
        match slot {
            Slot::Active => self.active.clone(),
            Slot::Next => self.dir.join("next"),
            Slot::Prev => self.dir.join("prev"),
            Slot::Parked => self.dir.join("parked"),
        }
    }

    /// Makes the directory (mode 0700: it holds what the guest store holds).
    pub fn create(&self) -> Result<()> {
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.dir)
            .with_path("cannot create directory", &self.dir)
    }

    /// The interrupted or running update or rollback, if any.
    pub fn pending(&self) -> Result<Option<Pending>> {
        read_json(&self.dir.join(PENDING))
    }

    /// Records `pending` atomically (written, synced, renamed, directory
    /// synced) before its step runs.
    pub fn save_pending(&self, pending: &Pending) -> Result<()> {
        self.create()?;
        write_json(&self.dir.join(PENDING), pending)?;
        test_kill_point(pending);
        Ok(())
    }

    /// Removes the pending record: the update or rollback is over.
    pub fn clear_pending(&self) -> Result<()> {
        remove_file_synced(&self.dir.join(PENDING))
    }

    /// The history (empty when none was kept: a guest created before
    /// versions were recorded, or by the classic manager).
    pub fn history(&self) -> Result<History> {
        Ok(read_json(&self.dir.join(HISTORY))?.unwrap_or_default())
    }

    /// Writes the history atomically.
    pub fn save_history(&self, history: &History) -> Result<()> {
        self.create()?;
        write_json(&self.dir.join(HISTORY), history)
    }

    /// Removes everything: the guest is removed.
    pub fn remove_all(&self) -> Result<()> {
        remove_tree(&self.dir)
    }
}

/// What an update or a rollback is doing, persisted before each step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// `update` or `rollback`.
    pub kind: Kind,
    /// The step about to run (or running).
    pub step: Step,
    /// The disk of the version that was active when it began.
    pub outgoing_disk: Disk,
    /// The disk of the version that becomes active.
    pub incoming_disk: Disk,
    /// The slot the incoming version comes from (`next` for an update,
    /// `prev` for a rollback).
    pub incoming: Slot,
    /// The disk of the rollback target an update parks while it runs.
    #[serde(default)]
    pub parked: Option<Disk>,
    /// How many of the switch's renames ([`super::update`]) are done; the
    /// one after them may be done too (the rename happened, its record
    /// did not).
    pub switched: usize,
    /// Whether the outgoing version was running when it began.
    pub was_running: bool,
    /// The partitions copied from the outgoing disk.
    #[serde(default)]
    pub carried: Vec<u8>,
    /// The history number of the incoming version.
    pub version: u64,
    /// The image the incoming version comes from (an update), so that
    /// its history entry can be written whatever step was interrupted.
    #[serde(default)]
    pub image: Option<ImageRecord>,
    /// The step an update was at when its undo began.
    #[serde(default)]
    pub undo_from: Option<Step>,
    /// Why an update is being undone.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An update or a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `update NAME FILE`.
    Update,
    /// `rollback NAME`.
    Rollback,
}

impl Kind {
    /// The action's name, in the record and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Update => "update",
            Kind::Rollback => "rollback",
        }
    }
}

/// The steps, in order. An interrupted update is undone from any step
/// before [`Step::Commit`] (its new version was never confirmed healthy)
/// and finished from [`Step::Commit`] on; an interrupted rollback is
/// finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Discarding the old rollback target, writing the new version's
    /// configuration and disk (the active version runs on).
    Stage,
    /// Stopping the active version.
    Stop,
    /// Copying the kept partitions from the outgoing disk.
    Copy,
    /// Renaming the disks and directories (see `switched`).
    Switch,
    /// Starting the incoming version.
    Start,
    /// Waiting for the incoming version to confirm its health.
    Health,
    /// Recording the result.
    Commit,
    /// Undoing an update: the incoming version is destroyed and the
    /// outgoing one comes back.
    Undo,
}

impl Step {
    /// The step's name in the record and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Step::Stage => "stage",
            Step::Stop => "stop",
            Step::Copy => "copy",
            Step::Switch => "switch",
            Step::Start => "start",
            Step::Health => "health",
            Step::Commit => "commit",
            Step::Undo => "undo",
        }
    }
}

/// The versions a guest had, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// One entry per installed version.
    pub versions: Vec<Entry>,
}

/// One version of a guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// 1 for the version `create` installed, then one more per update.
    pub version: u64,
    /// What it is now.
    pub state: State,
    /// The image it was installed from.
    pub image: ImageRecord,
    /// When it was installed (RFC 3339, UTC).
    pub installed: String,
    /// When it last became the active version.
    #[serde(default)]
    pub activated: Option<String>,
    /// When it stopped being a version the guest can run.
    #[serde(default)]
    pub ended: Option<String>,
    /// Why an update to it failed or was rolled back.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The state of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Being installed by an update.
    Installing,
    /// The active version.
    Active,
    /// The rollback target (`rollback NAME` goes back to it).
    Previous,
    /// Replaced: its configuration and disk are gone.
    Retired,
    /// An update to it failed (it never became the committed version).
    Failed,
    /// Rolled back from by `rollback NAME`.
    RolledBack,
}

/// The image a version was installed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The file given to `create` or `update`.
    pub file: String,
    /// The sha256 of the image file's bytes as the manager read them.
    pub sha256: Option<String>,
    /// The image's metadata name and version, when it has them.
    pub name: Option<String>,
    /// See `name`.
    pub version: Option<String>,
    /// The key that signed the image, when it is signed.
    pub signer: Option<SignerRecord>,
}

/// A signer, as the history records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerRecord {
    /// Hex sha256 of the public key (`SubjectPublicKeyInfo` DER).
    pub fingerprint: String,
    /// The signature algorithm.
    pub algorithm: String,
    /// Whether it is one of the host's trusted keys.
    pub trusted: bool,
}

impl History {
    /// The entry of `version`.
    pub fn get_mut(&mut self, version: u64) -> Option<&mut Entry> {
        self.versions.iter_mut().find(|e| e.version == version)
    }

    /// The number the next installed version gets.
    pub fn next_number(&self) -> u64 {
        self.versions.iter().map(|e| e.version).max().unwrap_or(0) + 1
    }

    /// Sets every entry in `from` to `to` (e.g. the active one to previous).
    pub fn demote(&mut self, from: State, to: State, now: &str) {
        for e in &mut self.versions {
            if e.state == from {
                e.state = to;
                if matches!(to, State::Retired | State::Failed | State::RolledBack) {
                    e.ended = Some(now.to_owned());
                }
            }
        }
    }
}

/// Removes directory `dir` and what it holds, if it exists.
pub fn remove_tree(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("cannot remove", dir, e)),
        _ => Ok(()),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    let Some(text) = super::store::read_optional(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::Refused(format!(
            "`{}` is damaged: {e} - remove it only if you know the guest's state",
            path.display()
        ))
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Refused(format!("cannot encode `{}`: {e}", path.display())))?;
    text.push('\n');
    let what = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    crate::image::writer::write_file_member(path, 0o600, &crate::image::Blob::bytes(text), &what)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn remove_file_synced(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove", path, e)),
    }
}

/// Syncs directory `dir`, so that a rename or removal in it survives a
/// power loss.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_path("cannot sync", dir)
}

/// The environment variable of the tests' kill points: when it names the
/// step just recorded (`update:copy`, `rollback:switch:2`, …), the manager
/// kills itself with SIGKILL right after the record is written, as a power
/// loss at that step boundary would stop it. Root's environment is root's:
/// it gives nobody anything they did not have.
pub const KILL_POINT_ENV: &str = "XENGUEST_MANAGER_TEST_KILL_AT";

/// The name of `pending`'s step boundary, as [`KILL_POINT_ENV`] names it.
pub fn kill_point(pending: &Pending) -> String {
    let kind = pending.kind.name();
    if pending.step == Step::Switch {
        format!("{kind}:switch:{}", pending.switched)
    } else {
        format!("{kind}:{}", pending.step.name())
    }
}

fn test_kill_point(pending: &Pending) {
    if let Some(at) = std::env::var_os(KILL_POINT_ENV) {
        if at.to_str() == Some(kill_point(pending).as_str()) {
            let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        }
    }
}
