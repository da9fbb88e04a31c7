//! The guest store: `/etc/xenguest/guests/NAME/`, one directory per guest
//! holding the configuration part of its image (everything but `disk/`),
//! the manager's record of the guest's disk (`manager.state`) and the
//! merged xl configuration (`xl.cfg`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::{Params, ShellVars, XlConfig, XlValue};
use crate::error::{Error, IoContext, Result};
use crate::validate;

/// The merged xl configuration each guest keeps: `guest.cfg` followed by
/// every `guest.d/*` file, with `files/…` paths made absolute, so that
/// `xl create /etc/xenguest/guests/NAME/xl.cfg` works from anywhere.
pub const MERGED_CFG: &str = "xl.cfg";

/// The manager's record of a guest's disk (`KEY="VALUE"` lines).
pub const STATE_FILE: &str = "manager.state";

/// Checks a guest name: it becomes a directory, an LVM volume and a Xen
/// domain name, so letters, digits and `_ . + -`, not starting with `.`
/// or `-`, at most 64 bytes.
pub fn check_name(name: &str) -> Result<&str> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.+-".contains(c);
    let reason = if name.is_empty() {
        Some("the name is empty")
    } else if name.len() > 64 {
        Some("longer than 64 bytes")
    } else if name.starts_with(['.', '-']) {
        Some("cannot start with `.` or `-`")
    } else if !name.chars().all(ok_char) {
        Some("use letters, digits, `_`, `.`, `+` and `-`")
    } else {
        None
    };
    match reason {
        Some(r) => Err(Error::invalid("NAME", name.escape_debug().to_string(), r)),
        None => Ok(name),
    }
}

/// Where a guest's disk lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disk {
    /// No disk (`DISK_SIZE="0"`).
    None,
    /// A logical volume `/dev/GROUP/NAME`.
    Lvm {
        /// The physical volume's device.
        device: String,
        /// The volume group.
        group: String,
    },
    /// A sparse raw file.
    File(PathBuf),
}

/// The guest store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir`.
    pub fn new(dir: PathBuf) -> Store {
        Store { dir }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of guest `name`.
    pub fn guest_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether guest `name` exists (its directory holds a `guest.cfg`).
    pub fn exists(&self, name: &str) -> bool {
        self.guest_dir(name).join("guest.cfg").is_file()
    }

    /// Fails unless guest `name` exists.
    pub fn require(&self, name: &str) -> Result<PathBuf> {
        check_name(name)?;
        if self.exists(name) {
            Ok(self.guest_dir(name))
        } else {
            Err(Error::Refused(format!(
                "no guest `{name}` (no `{}`) - `xenguest-manager list` shows the guests",
                self.guest_dir(name).join("guest.cfg").display()
            )))
        }
    }

    /// Every guest, sorted by name.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("cannot list", &self.dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_path("cannot list", &self.dir)?;
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with('.') && self.exists(name) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The guest's `params.cfg`.
    pub fn params(&self, name: &str) -> Result<Params> {
        let path = self.guest_dir(name).join("params.cfg");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Params::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Params::parse("")),
            Err(e) => Err(Error::io("cannot read", &path, e)),
        }
    }

    /// Whether the guest starts at boot (`GUEST_AUTOBOOT` is not `0`).
    pub fn autoboot(&self, name: &str) -> Result<bool> {
        Ok(autoboot(&self.params(name)?))
    }

    /// The recorded disk of guest `name` (`None`: no record, e.g. a guest
    /// made by the classic manager).
    pub fn disk(&self, name: &str) -> Result<Option<Disk>> {
        let path = self.guest_dir(name).join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", &path, e)),
        };
        let vars = ShellVars::parse(&text);
        let get = |k: &str| vars.get(k).unwrap_or("").to_owned();
        Ok(Some(match get("DISK_BACKING").as_str() {
            "lvm" => Disk::Lvm {
                device: get("DISK_DEVICE"),
                group: get("DISK_GROUP"),
            },
            "file" => Disk::File(PathBuf::from(get("DISK_FILE"))),
            "none" => Disk::None,
            other => {
                return Err(Error::Refused(format!(
                    "`{}`: unknown DISK_BACKING `{other}`",
                    path.display()
                )))
            }
        }))
    }
}

/// Whether `params` let the guest start at boot.
pub fn autoboot(params: &Params) -> bool {
    params.0.get("GUEST_AUTOBOOT") != Some("0")
}

/// The text of the state file recording `disk`.
pub fn state_text(disk: &Disk) -> Result<String> {
    let mut vars = ShellVars::parse("# Written by xenguest-manager: where this guest's disk lives.\n");
    let mut set = |k: &str, v: &str| -> Result<()> {
        validate::shell_value(k, v)?;
        vars.set(k, v);
        Ok(())
    };
    match disk {
        Disk::None => set("DISK_BACKING", "none")?,
        Disk::Lvm { device, group } => {
            set("DISK_BACKING", "lvm")?;
            set("DISK_DEVICE", device)?;
            set("DISK_GROUP", group)?;
        }
        Disk::File(path) => {
            set("DISK_BACKING", "file")?;
            set("DISK_FILE", &path.to_string_lossy())?;
        }
    }
    Ok(vars.render())
}

/// The merged xl configuration of the guest in `dir`: `guest.cfg`, then
/// each `guest.d/*` file in name order (as the classic manager
/// concatenates them), with relative `kernel`, `ramdisk` and
/// `device_tree` paths made absolute under `home` (the guest's directory
/// once created; `dir` may be where it is being prepared).
pub fn merged_xl(dir: &Path, home: &Path) -> Result<String> {
    let cfg = dir.join("guest.cfg");
    let mut text = fs::read_to_string(&cfg).with_path("cannot read", &cfg)?;
    let guest_d = dir.join("guest.d");
    let mut parts: Vec<PathBuf> = match fs::read_dir(&guest_d) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .with_path("cannot list", &guest_d)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("cannot list", &guest_d, e)),
    };
    parts.sort();
    for part in parts.iter().filter(|p| p.is_file()) {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&fs::read_to_string(part).with_path("cannot read", part)?);
    }
    let mut xl = XlConfig::parse(&text);
    for key in ["kernel", "ramdisk", "device_tree"] {
        if let Some(XlValue::Str(rel)) = xl.get(key) {
            if !rel.is_empty() && !rel.starts_with('/') {
                let abs = home.join(&rel).to_string_lossy().into_owned();
                validate::xl_string(key, &abs)?;
                xl.set(key, &XlValue::Str(abs));
            }
        }
    }
    Ok(xl.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["demo", "web-1", "a.b", "x_y+z", "A9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "a/b", "a b", "$(id)", "a;b", "..", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_config_is_absolute_and_ordered() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("guest.cfg"), "memory = 512\nkernel = \"files/kernel\"").unwrap();
        fs::create_dir(d.path().join("guest.d")).unwrap();
        fs::write(d.path().join("guest.d/b.cfg"), "vif = ['bridge=xenbr0']\n").unwrap();
        fs::write(d.path().join("guest.d/a.cfg"), "ramdisk = \"/boot/initrd\"\n").unwrap();
        let text = merged_xl(d.path(), d.path()).unwrap();
        let kernel = format!("kernel = \"{}/files/kernel\"", d.path().display());
        assert_eq!(
            text,
            format!("memory = 512\n{kernel}\nramdisk = \"/boot/initrd\"\nvif = ['bridge=xenbr0']\n")
        );
    }

    #[test]
    fn state_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().to_path_buf());
        fs::create_dir(d.path().join("g")).unwrap();
        for disk in [
            Disk::None,
            Disk::Lvm {
                device: "/dev/sda2".into(),
                group: "vg-xen-sda2".into(),
            },
            Disk::File("/var/lib/xenguest/disks/g.img".into()),
        ] {
            fs::write(d.path().join("g").join(STATE_FILE), state_text(&disk).unwrap()).unwrap();
            assert_eq!(store.disk("g").unwrap(), Some(disk));
        }
    }
}
