//! `create`: verify an image under the host's policy and make its guest.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::config;
use super::store::{self, Disk};
use super::versions::{self, Versions};
use super::{disk, net, xl, Manager};
use crate::admit::{self, Candidate, Stored};
use crate::config::XlValue;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::{writer, Image};
use crate::progress::Progress;

impl Manager {
    /// The keys of `XENGUEST_TRUSTED_KEYS` (`None` when unset).
    pub(super) fn trusted_keys(&self) -> Result<Option<crate::signature::TrustedKeys>> {
        let configured = self.config.trusted_keys();
        if configured.is_empty() {
            return Ok(None);
        }
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        for p in configured {
            let host = self.paths.host(&p);
            if host.is_dir() {
                dirs.push(host);
            } else {
                files.push(host);
            }
        }
        crate::signature::TrustedKeys::load(&files, &dirs)
            .map(Some)
            .map_err(|e| Error::Refused(format!("{}: {e}", config::TRUSTED_KEYS)))
    }

    /// Opens `file` and judges it before anything is created, with the one
    /// admission function `check` and `verify` use ([`admit::admit`]) under
    /// this host's policy ([`Config::policy`]): every rule `check` applies,
    /// the host permissions, the signature (by a trusted key when
    /// `XENGUEST_TRUSTED_KEYS` is set), the manifest and the sidecar.
    pub(super) fn open_verified(&self, file: &Path) -> Result<Verified> {
        // One read of the file into a private, unlinked copy: everything
        // below verifies that copy, and `create` uses nothing else.
        let opened = reader::open_private(file, &self.private_dir()?)?;
        if opened.form == Form::Dir {
            return Err(Error::Refused(format!(
                "`{}` is a directory - create takes an image file",
                file.display()
            )));
        }
        let mut policy = self.config.policy()?;
        // What this host is, from the `xl info` read once per action.
        policy.xen_host = self.xl_info.get().map(|info| xl::host(info));
        let trusted = self.trusted_keys()?;
        let stored = Stored {
            opened: &opened,
            trusted: trusted.as_ref(),
            sidecar: true,
            progress: Progress::default(),
        };
        let report = admit::admit(Candidate::Stored(stored), &policy)?;
        if !report.admitted() {
            let reason = report
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            // An image made for another host (architecture, Xen,
            // machine) is refused as such, naming both values.
            if report.problems.iter().all(|p| p.rule == admit::Rule::HostCompatibility) {
                return Err(Error::Refused(format!("`{}`: {reason}", file.display())));
            }
            // A valid image this host has not allowed (what `check` lists
            // as needed permissions) is refused as such.
            if report.image_problems().next().is_none() {
                return Err(Error::Refused(format!(
                    "`{}` needs host permissions this host does not grant: {reason}",
                    file.display()
                )));
            }
            return Err(Error::NotAnImage {
                path: file.to_path_buf(),
                reason,
            });
        }
        self.log.info(&format!(
            "{}: verified ({}{}, {})",
            file.display(),
            match &report.signature {
                admit::Signature::Trusted(s) => format!("signed by trusted key {} ({}), ", s.fingerprint, s.algorithm),
                _ => String::new(),
            },
            if opened.image.manifest.is_some() {
                "manifest"
            } else {
                "no manifest"
            },
            if report.integrity.sidecar_checked {
                "sidecar"
            } else {
                "no sidecar"
            }
        ));
        Ok(Verified {
            opened,
            signature: report.signature,
        })
    }

    /// Where `create` keeps its private copy of an image (an unlinked file,
    /// gone when the manager exits): the guest store, the manager's own
    /// directory, on the file system that receives the guest's files.
    pub(super) fn private_dir(&self) -> Result<PathBuf> {
        let dir = self.store.dir();
        fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        Ok(dir.to_path_buf())
    }

    /// Where a guest's disk goes, from its disk.cfg and the configuration.
    pub(super) fn disk_for(&self, name: &str, disk_cfg: &crate::config::DiskConfig) -> Result<Disk> {
        if disk_cfg.size_mb()? == 0 {
            return Ok(Disk::None);
        }
        let own = disk_cfg.0.get("DISK_DEVICE").unwrap_or("");
        Ok(if !own.is_empty() {
            Disk::Lvm {
                device: own.to_owned(),
                group: config::default_group(own),
            }
        } else if let Some(dev) = self.config.volume_device() {
            Disk::Lvm {
                device: dev.to_owned(),
                group: self.config.volume_group(dev),
            }
        } else {
            let dir = self.paths.host(Path::new(self.config.get(config::DISK_DIR)));
            Disk::File(dir.join(format!("{name}.img")))
        })
    }

    pub(super) fn create(&self, file: &Path, name: Option<&str>, keep: &[u8], replace_disk: bool) -> Result<()> {
        let real = resolve_image(file)?;
        let default_name = file
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".xenguest").to_owned())
            .unwrap_or_default();
        let name = name.unwrap_or(&default_name);
        store::check_name(name)?;
        // An interrupted update of a guest of this name may have moved its
        // directory away for a moment: it is finished or undone first, so
        // the guest is found (and its versions are never taken for an
        // earlier guest's leftovers).
        self.recover(name, false)?;
        let dir = self.store.guest_dir(name);
        if self.store.exists(name) {
            return Err(Error::Refused(format!(
                "guest `{name}` already exists (`{}`) - remove it first, or `update` it",
                dir.display()
            )));
        }
        if dir.exists() {
            return Err(Error::Refused(format!(
                "`{}` exists but holds no guest.cfg - remove it first",
                dir.display()
            )));
        }
        self.log.info(&format!("creating guest {name} from {}", real.display()));
        let verified = self.open_verified(&real)?;
        let mut image = verified.opened.image.clone();
        mark_kept(&mut image, keep)?;
        // Admitted: a DISK_DEVICE other than the host's volume device was
        // allowed by XENGUEST_ALLOW_IMAGE_DEVICE (see `admit`).
        let disk_cfg = image.disk.clone().unwrap_or_default();
        let disk = self.disk_for(name, &disk_cfg)?;
        let versions = Versions::of(&self.store, name);
        // What an earlier guest of this name left (a create that crashed,
        // a classic remove) is not this guest's history.
        versions.remove_all()?;
        let staging = self.store.dir().join(format!(".{name}.creating"));
        let mut created = disk::Created::default();
        let result = (|| {
            self.stage(name, &image, &disk, &staging, &dir, None)?;
            disk::create(
                &self.runner,
                &disk,
                name,
                &disk_cfg,
                &verified.opened.image.disk_files,
                &std::collections::BTreeSet::new(),
                replace_disk,
                &mut created,
            )?;
            let now = super::log::iso_timestamp(std::time::SystemTime::now());
            let history = versions::History {
                versions: vec![versions::Entry {
                    version: 1,
                    state: versions::State::Active,
                    image: verified.record(&real),
                    installed: now.clone(),
                    activated: Some(now),
                    ended: None,
                    reason: None,
                }],
            };
            versions.save_history(&history)?;
            fs::rename(&staging, &dir).with_path("cannot create", &dir)
        })();
        if let Err(e) = result {
            // Undone even when a signal stopped the create.
            let _cleanup = crate::interrupt::cleanup();
            self.log.error(&format!(
                "create {name} failed, removing what it made: {}",
                e.full_message()
            ));
            created.undo(&self.runner);
            if let Err(e) = fs::remove_dir_all(&staging) {
                if e.kind() != io::ErrorKind::NotFound {
                    self.log
                        .error(&format!("cleanup: cannot remove `{}`: {e}", staging.display()));
                }
            }
            if let Err(e) = versions.remove_all() {
                self.log.error(&format!("cleanup: {}", e.full_message()));
            }
            return Err(e);
        }
        self.log.info(&format!("guest {name} created"));
        Ok(())
    }

    /// Writes the guest directory of `image` (admitted) at `staging`, to
    /// live at `home`: the configuration part of the image, with the keys
    /// the manager owns (`name`, `disk` for `disk`, `vif` from the
    /// network type) written into `guest.cfg` as the classic manager's
    /// `update --xen-name=NAME --xen-disk=DEV` did, the records of its
    /// disk and network, and the merged xl configuration. `network_of`:
    /// the guest directory of a version whose network link an update
    /// keeps.
    pub(super) fn stage(
        &self,
        name: &str,
        image: &Image,
        disk: &Disk,
        staging: &Path,
        home: &Path,
        network_of: Option<&Path>,
    ) -> Result<()> {
        // The host's policy, under which the image was admitted: what it
        // may set in the configuration `xl create` gets.
        let xl_policy = self.config.policy()?;
        let mut image = image.clone();
        image.disk_files.clear();
        // The image's own `disk` entries, when this host allows them,
        // follow the managed disk.
        let managed = match disk {
            Disk::None => None,
            Disk::Lvm { group, .. } => {
                let dev = format!("/dev/{group}/{name}");
                crate::validate::xl_list_item("xen-disk", &dev)?;
                Some(format!("phy:{dev},xvda,w"))
            }
            Disk::File(path) => {
                let target = path.to_string_lossy();
                crate::validate::xl_list_item(config::DISK_DIR, &target)?;
                Some(format!("format=raw,vdev=xvda,access=rw,target={target}"))
            }
        };
        let image_disks = if xl_policy.allow_xl_keys.contains(crate::xl_policy::PERMIT_DISK) {
            crate::xl_policy::image_disks(&image)
        } else {
            Vec::new()
        };
        let entries: Vec<String> = managed.into_iter().chain(image_disks).collect();
        crate::validate::xl_string("NAME", name)?;
        let cfg = image.guest_cfg.get_or_insert_with(Default::default);
        cfg.set("name", &XlValue::Str(name.to_owned()));
        if entries.is_empty() {
            cfg.disable("disk");
        } else {
            cfg.set("disk", &XlValue::List(entries));
        }
        let network = net::configure(&self.config, &self.store, &mut image, &xl_policy, network_of)?;
        fs::create_dir_all(self.store.dir()).with_path("cannot create directory", self.store.dir())?;
        if staging.exists() {
            fs::remove_dir_all(staging).with_path("cannot remove", staging)?;
        }
        fs::create_dir(staging).with_path("cannot create directory", staging)?;
        writer::write_dir(&image, staging, &[])?;
        let state = staging.join(store::STATE_FILE);
        fs::write(&state, store::state_text(disk)?).with_path("cannot write", &state)?;
        let net_state = staging.join(net::STATE_FILE);
        fs::write(&net_state, &network).with_path("cannot write", &net_state)?;
        let merged = staging.join(store::MERGED_CFG);
        fs::write(&merged, store::merged_xl(staging, home, &xl_policy)?).with_path("cannot write", &merged)
    }
}

/// An image that passed admission: the private copy and its signature.
pub(super) struct Verified {
    /// The image, read once into a private copy.
    pub(super) opened: Opened,
    /// What admission found of its signature.
    pub(super) signature: admit::Signature,
}

impl Verified {
    /// What the history records of this image, given as `file`.
    pub(super) fn record(&self, file: &Path) -> versions::ImageRecord {
        let meta = self.opened.image.meta.as_ref();
        let signer = match &self.signature {
            admit::Signature::Trusted(s) | admit::Signature::Consistent(s) => Some(versions::SignerRecord {
                fingerprint: s.fingerprint.clone(),
                algorithm: s.algorithm.to_string(),
                trusted: matches!(self.signature, admit::Signature::Trusted(_)),
            }),
            _ => None,
        };
        versions::ImageRecord {
            file: file.to_string_lossy().into_owned(),
            sha256: self.opened.sha256.clone(),
            name: meta.and_then(|m| m.name.clone()),
            version: meta.and_then(|m| m.version.clone()),
            signer,
        }
    }
}

/// The real path of an image given on the command line, or why it cannot
/// be read.
pub(super) fn resolve_image(file: &Path) -> Result<PathBuf> {
    if fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink()) && !file.exists() {
        return Err(Error::Refused(format!(
            "`{}` is a broken symbolic link",
            file.display()
        )));
    }
    fs::canonicalize(file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotAnImage {
            path: file.to_path_buf(),
            reason: "no such file".into(),
        },
        _ => Error::io("cannot read", file, e),
    })
}

/// Marks partitions `keep` (`create --keep N`, `update --keep N`) as kept
/// data in `image`'s disk.cfg (`DISK_PARTn_KEEP="1"`): their content
/// survives updates. Each must be a partition of the image.
pub(super) fn mark_kept(image: &mut Image, keep: &[u8]) -> Result<()> {
    if keep.is_empty() {
        return Ok(());
    }
    let disk = image.disk.get_or_insert_with(Default::default);
    for &n in keep {
        disk.set_kept("--keep", n, true)?;
    }
    Ok(())
}
