//! The guest store: `/etc/xenguest/guests/NAME/`, one directory per guest
//! holding the configuration part of its image (everything but `disk/`),
//! the manager's record of the guest's disk (`manager.state`) and the
//! merged xl configuration (`xl.cfg`).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::admit::Policy;
use crate::config::{read_xl_line, Params, ShellVars, XlLine, XlValue};
use crate::error::{Error, IoContext, Result};
use crate::validate;
use crate::xl_policy::{self, Part, Stage};

/// The merged xl configuration each guest keeps: `guest.cfg` followed by
/// every `guest.d/*` file, with `files/…` paths made absolute, so that
/// `xl create /etc/xenguest/guests/NAME/xl.cfg` works from anywhere.
pub const MERGED_CFG: &str = "xl.cfg";

/// The manager's record of a guest's disk (`KEY="VALUE"` lines).
pub const STATE_FILE: &str = "manager.state";

/// Checks a guest name: it becomes a directory, an LVM volume and a Xen
/// domain name, so letters, digits and `_ . + -`, not starting with `.`
/// or `-`, at most 64 bytes, without `..` (the manager names the disks of
/// a guest's other versions `NAME..next`, `NAME..prev` and `NAME..old`).
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
    } else if name.contains("..") {
        Some("`..` is reserved for the disks of a guest's other versions")
    } else {
        None
    };
    match reason {
        Some(r) => Err(Error::invalid("NAME", name.escape_debug().to_string(), r)),
        None => Ok(name),
    }
}

/// Where a guest's disk lives.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
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
        let text = read_optional(&self.guest_dir(name).join("params.cfg"))?;
        Ok(Params::parse(text.as_deref().unwrap_or("")))
    }

    /// Whether the guest starts at boot (`GUEST_AUTOBOOT` is not `0`).
    pub fn autoboot(&self, name: &str) -> Result<bool> {
        Ok(autoboot(&self.params(name)?))
    }

    /// The recorded disk of guest `name` (`None`: no record, e.g. a guest
    /// made by the classic manager).
    pub fn disk(&self, name: &str) -> Result<Option<Disk>> {
        recorded_disk(&self.guest_dir(name))
    }
}

/// The disk recorded in the guest directory `dir` (`None`: no record).
pub fn recorded_disk(dir: &Path) -> Result<Option<Disk>> {
    let path = dir.join(STATE_FILE);
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
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

/// The text of the manager's file `path`, `None` when it does not exist
/// (a record not written yet, or by a manager that wrote none).
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The guest directory `dir`'s `disk.cfg` (no disk when it has none, as a
/// classic guest created without one).
pub fn disk_cfg(dir: &Path) -> Result<crate::config::DiskConfig> {
    let text = read_optional(&dir.join("disk.cfg"))?;
    Ok(crate::config::DiskConfig::parse(text.as_deref().unwrap_or("")))
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
/// concatenates them), judged by the xl policy under `policy` (the
/// `name` and `disk` lines of `guest.cfg` are the manager's; file-valued
/// keys must resolve, after links, to files inside `dir/files`), with the
/// file paths made absolute under `home` (the guest's directory once
/// created; `dir` may be where it is being prepared).
pub fn merged_xl(dir: &Path, home: &Path, policy: &Policy) -> Result<String> {
    let mut parts = vec![("guest.cfg".to_owned(), read_regular(&dir.join("guest.cfg"))?)];
    let guest_d = dir.join("guest.d");
    let mut names: Vec<PathBuf> = match fs::read_dir(&guest_d) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .with_path("cannot list", &guest_d)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("cannot list", &guest_d, e)),
    };
    names.sort();
    // Subdirectories are not xl files (the classic `cat guest.d/*` skips
    // them too); links and other special files are refused below.
    names.retain(|p| !fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()));
    for path in names {
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::Refused(format!(
                "`{}`: the file name is not UTF-8 - guest.d holds only xl files",
                path.display()
            ))
        })?;
        parts.push((format!("guest.d/{name}"), read_regular(&path)?));
    }
    let views: Vec<Part<'_>> = parts.iter().map(|(name, text)| Part { name, text }).collect();
    let report = xl_policy::judge(&views, policy, Stage::Installed, &|rel| {
        xl_policy::installed_file_problem(dir, rel)
    });
    if !report.problems.is_empty() {
        let messages: Vec<String> = report.problems.iter().map(|p| p.message.clone()).collect();
        return Err(Error::Refused(format!(
            "the xl configuration in `{}` is refused: {}",
            dir.display(),
            messages.join("; ")
        )));
    }
    let mut out = String::new();
    for (_, text) in &parts {
        for line in text.split_terminator('\n') {
            match read_xl_line(line) {
                Ok(XlLine::Assign {
                    key,
                    value: XlValue::Str(rel),
                }) if xl_policy::FILE_KEYS.contains(&key.as_str()) => {
                    let abs = home.join(&rel).to_string_lossy().into_owned();
                    validate::xl_string(&key, &abs)?;
                    let _ = writeln!(out, "{key} = {}", XlValue::Str(abs));
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
    }
    Ok(out)
}

/// The text of `path`, which must be a regular file (not a link, FIFO or
/// device).
fn read_regular(path: &Path) -> Result<String> {
    let meta = fs::symlink_metadata(path).with_path("cannot read", path)?;
    if !meta.file_type().is_file() {
        return Err(Error::Refused(format!(
            "`{}` is not a regular file - the guest's xl files must be",
            path.display()
        )));
    }
    fs::read_to_string(path).with_path("cannot read", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["demo", "web-1", "a.b", "x_y+z", "A9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "a/b",
            "a b",
            "$(id)",
            "a;b",
            "..",
            "a..next",
            &"x".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_config_is_absolute_and_ordered() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("guest.cfg"), "memory = 512\nkernel = \"files/kernel\"").unwrap();
        fs::create_dir(d.path().join("guest.d")).unwrap();
        fs::create_dir(d.path().join("files")).unwrap();
        fs::write(d.path().join("files/kernel"), "k").unwrap();
        fs::write(d.path().join("files/initrd"), "i").unwrap();
        fs::write(d.path().join("guest.d/b.cfg"), "vif = ['bridge=xenbr0']\n").unwrap();
        fs::write(d.path().join("guest.d/a.cfg"), "# initrd\nramdisk=\"files/initrd\"\n").unwrap();
        let home = Path::new("/etc/xenguest/guests/g");
        let policy = Policy {
            allow_xl_keys: ["vif".to_owned()].into(),
            ..Policy::default()
        };
        let text = merged_xl(d.path(), home, &policy).unwrap();
        assert_eq!(
            text,
            "memory = 512\nkernel = \"/etc/xenguest/guests/g/files/kernel\"\n# initrd\n\
             ramdisk = \"/etc/xenguest/guests/g/files/initrd\"\nvif = ['bridge=xenbr0']\n"
        );
    }

    #[test]
    fn merged_config_is_judged() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        fs::write(dir.join("guest.cfg"), "name = \"g\"\ndisk = ['phy:/dev/vg/g,xvda,w']\n").unwrap();
        fs::create_dir(dir.join("guest.d")).unwrap();
        fs::create_dir(dir.join("files")).unwrap();
        fs::write(dir.join("files/kernel"), "k").unwrap();
        let merged = |policy: &Policy| merged_xl(dir, dir, policy).map_err(|e| e.full_message());
        assert!(merged(&Policy::default()).is_ok());
        let refused = |file: &str, text: &str, policy: &Policy, needle: &str| {
            fs::write(dir.join("guest.d").join(file), text).unwrap();
            let e = merged(policy).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            fs::remove_file(dir.join("guest.d").join(file)).unwrap();
        };
        let none = Policy::default();
        refused("z.cfg", "name = \"Domain-0\"\n", &none, "guest.d/z.cfg:1`: `name`");
        refused("z.cfg", "disk = ['phy:/dev/sda,xvda,w']\n", &none, "`disk`");
        refused("z.cfg", "bootloader = \"/bin/sh\"\n", &none, "XENGUEST_ALLOW_XL_KEYS");
        refused("z.cfg", "ramdisk = \"/etc/shadow\"\n", &none, "absolute path");
        refused("z.cfg", "device_tree = \"files/../../x\"\n", &none, "`..`");
        refused("z.cfg", "memory = 5 ; name = \"x\"\n", &none, "second setting");
        // A link out of files/ is refused after resolving it.
        std::os::unix::fs::symlink("/etc/passwd", dir.join("files/dtb")).unwrap();
        refused("z.cfg", "device_tree = \"files/dtb\"\n", &none, "outside the guest's");
        // Allowed by name, a host key passes.
        let pci = Policy {
            allow_xl_keys: ["pci".to_owned()].into(),
            ..Policy::default()
        };
        fs::write(dir.join("guest.d/p.cfg"), "pci = ['01:00.0']\n").unwrap();
        assert!(merged(&pci).is_ok());
        assert!(merged(&none).is_err());
        fs::remove_file(dir.join("guest.d/p.cfg")).unwrap();
        // guest.d holds only regular files; subdirectories are skipped.
        fs::create_dir(dir.join("guest.d/sub")).unwrap();
        fs::write(dir.join("guest.d/sub/x.cfg"), "name = \"Domain-0\"\n").unwrap();
        assert!(merged(&none).is_ok());
        std::os::unix::fs::symlink("/etc/hostname", dir.join("guest.d/l.cfg")).unwrap();
        assert!(merged(&none).unwrap_err().contains("not a regular file"));
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
