//! The manager's configuration: `/etc/xenguest/xenguest-manager.conf`, and
//! where every host path lives.
//!
//! The classic manager sourced its configuration with bash; this one reads
//! the same `KEY="VALUE"` lines with the library's parser for such files
//! ([`crate::config::ShellVars`]) and never runs a shell on them. Every key
//! is declared once, in [`KEYS`], with its default and its documentation
//! (`xenguest-manager help` and docs/manager.md show the same table).

use std::io;
use std::path::{Component, Path, PathBuf};

use super::log::Level;
use crate::admit;
use crate::config::ShellVars;
use crate::error::{Error, Result};

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The name in the file.
    pub name: &'static str,
    /// The value when the file does not set it (or sets it empty).
    pub default: &'static str,
    /// What it means.
    pub doc: &'static str,
}

/// Block device holding the LVM volume group of guest disks.
pub const VOLUME_DEVICE: &str = "XENGUEST_VOLUME_DEVICE";
/// The LVM volume group.
pub const VOLUME_NAME: &str = "XENGUEST_VOLUME_NAME";
/// Directory of images created at boot.
pub const GUEST_DIR: &str = "XENGUEST_GUEST_DIR";
/// Log level of the log file.
pub const LOG_LEVEL: &str = "XENGUEST_LOG_LEVEL";
/// Directory of file-backed guest disks.
pub const DISK_DIR: &str = "XENGUEST_DISK_DIR";
/// Whether images must carry a manifest.
pub const REQUIRE_MANIFEST: &str = admit::REQUIRE_MANIFEST;
/// Whether an image may choose the host device of its disk.
pub const ALLOW_IMAGE_DEVICE: &str = admit::ALLOW_IMAGE_DEVICE;
/// Public keys an image must be signed by.
pub const TRUSTED_KEYS: &str = admit::TRUSTED_KEYS;
/// xl keys reaching host resources that images may set.
pub const ALLOW_XL_KEYS: &str = admit::ALLOW_XL_KEYS;
/// Whether every image must be signed by a trusted key.
pub const REQUIRE_SIGNATURE: &str = admit::REQUIRE_SIGNATURE;
/// Whether images with host-side scripts must be signed by a trusted key.
pub const REQUIRE_SIGNED_SCRIPTS: &str = admit::REQUIRE_SIGNED_SCRIPTS;

/// The host bridge of `bridge` guests.
pub const NETWORK_BRIDGE: &str = "XENGUEST_NETWORK_BRIDGE";
/// The IPv4 range the private links of `nat` guests are cut from.
pub const NAT_SUBNET: &str = "XENGUEST_NAT_SUBNET";
/// The firewall tool of `nat` guests' rules.
pub const FIREWALL: &str = "XENGUEST_FIREWALL";

/// Every configuration key: the one declaration of each.
pub const KEYS: &[Key] = &[
    Key {
        name: VOLUME_DEVICE,
        default: "",
        doc: "Block device holding the LVM volume group of guest disks (classic: /dev/sda2). \
              Empty: guest disks are sparse files under XENGUEST_DISK_DIR.",
    },
    Key {
        name: VOLUME_NAME,
        default: "",
        doc: "LVM volume group of guest disks. Empty: vg-xen-NAME, NAME being the device's file name.",
    },
    Key {
        name: GUEST_DIR,
        default: "/usr/share/guests",
        doc: "Directory of NAME.xenguest images created (once) and started at boot.",
    },
    Key {
        name: LOG_LEVEL,
        default: "ERROR",
        doc: "Most verbose level written to the log file: ERROR, INFO or VERBOSE (-v and -vv raise it).",
    },
    Key {
        name: DISK_DIR,
        default: "/var/lib/xenguest/disks",
        doc: "Directory of file-backed guest disks (NAME.img), used when XENGUEST_VOLUME_DEVICE is empty.",
    },
    Key {
        name: REQUIRE_MANIFEST,
        default: "0",
        doc: "1: refuse images without an embedded manifest (manifest.sha256). 0: check it when present.",
    },
    Key {
        name: ALLOW_IMAGE_DEVICE,
        default: "0",
        doc: "1: an image's DISK_DEVICE may name the host device for its disk, which then becomes an LVM \
              physical volume (the classic behaviour). 0: refuse images naming a device other than \
              XENGUEST_VOLUME_DEVICE.",
    },
    Key {
        name: TRUSTED_KEYS,
        default: "",
        doc: "Space-separated PEM public keys or certificates, and directories of them (every *.pem): \
              images must be signed by one of them (xenguest-mkimage sign) or are refused before \
              anything is created (see XENGUEST_REQUIRE_SIGNATURE); a signed image is always checked \
              against them. Empty: no key is trusted.",
    },
    Key {
        name: REQUIRE_SIGNATURE,
        default: "",
        doc: "1: refuse every image not signed by one of XENGUEST_TRUSTED_KEYS (which must then be set). \
              0: accept unsigned images (see XENGUEST_REQUIRE_SIGNED_SCRIPTS); a signed one must still be \
              signed by a trusted key. Empty: 1 when XENGUEST_TRUSTED_KEYS is set, else 0. An image's \
              init scripts run as root in Dom0: trusting an image means trusting its signer.",
    },
    Key {
        name: REQUIRE_SIGNED_SCRIPTS,
        default: "0",
        doc: "1: refuse images carrying host-side scripts (init.pre, init.d, init.post: run as root in \
              Dom0) unless signed by one of XENGUEST_TRUSTED_KEYS (which must then be set).",
    },
    Key {
        name: ALLOW_XL_KEYS,
        default: "",
        doc: "Space-separated xl keys that reach host resources (pci, dtdev, iomem, bootloader, ...) and \
              permissions (disk, vif-script, vif-backend, coredump) that images may use on this host \
              (docs/manager.md lists them). Empty: images may set only keys that affect their own guest.",
    },
    Key {
        name: NETWORK_BRIDGE,
        default: "xenbr0",
        doc: "Host bridge the interface of a `bridge` guest (XENGUEST_NETWORK_TYPE=\"bridge\") joins, \
              written into its vif when the guest is created. The bridge must exist (xenguest-network \
              makes it at boot).",
    },
    Key {
        name: NAT_SUBNET,
        default: "10.201.0.0/16",
        doc: "IPv4 range (ADDRESS/PREFIX, PREFIX 8 to 30) cut into one /30 link per `nat` guest: Dom0 \
              takes the first address of the link, the guest gets the second from Dom0's DHCP server.",
    },
    Key {
        name: FIREWALL,
        default: "auto",
        doc: "Firewall tool for the masquerading and port forwards of `nat` guests: nftables (a table \
              `ip xenguest_natN` per guest), iptables (chains XENGUEST-N-*), or auto (nftables when `nft` \
              works, else iptables). Rules the manager did not add are never touched.",
    },
];

/// Environment variable naming the configuration file.
pub const ENV_CONF: &str = "XENGUEST_MANAGER_CONF";
/// Environment variable giving the root prefix of every host path.
pub const ENV_ROOT: &str = "XENGUEST_MANAGER_ROOT";

/// The lock that serialises managers (under the root prefix), in a
/// directory only root may use.
pub const LOCK: &str = "/run/xenguest/xenguest-manager.lock";

/// The default configuration file (under the root prefix).
pub const DEFAULT_CONF: &str = "/etc/xenguest/xenguest-manager.conf";

/// Where the manager keeps and finds things on the host.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The root prefix (`/` on a real host).
    pub root: PathBuf,
    /// `/etc/xenguest`: guests and host-wide init directories.
    pub base: PathBuf,
    /// `/etc/xenguest/guests`.
    pub guests: PathBuf,
    /// `/var/log/xenguest`.
    pub log: PathBuf,
    /// The lock that serialises managers.
    pub lock: PathBuf,
}

impl Paths {
    /// The paths under `root`.
    pub fn new(root: &Path) -> Paths {
        let base = rooted(root, Path::new("/etc/xenguest"));
        Paths {
            root: root.to_path_buf(),
            guests: base.join("guests"),
            base,
            log: rooted(root, Path::new("/var/log/xenguest")),
            lock: rooted(root, Path::new(LOCK)),
        }
    }

    /// A host path under the root prefix.
    pub fn host(&self, path: &Path) -> PathBuf {
        rooted(&self.root, path)
    }
}

/// `path` (absolute) under `root`.
fn rooted(root: &Path, path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect();
    root.join(rel)
}

/// The configuration as read.
#[derive(Debug, Clone)]
pub struct Config {
    vars: ShellVars,
    /// The file it came from (`None`: defaults only).
    pub file: Option<PathBuf>,
}

impl Config {
    /// Reads the configuration at `path`. A missing file is an error when
    /// `explicit` (the user named it), else all defaults apply.
    pub fn load(path: &Path, explicit: bool) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !explicit => {
                return Ok(Config {
                    vars: ShellVars::default(),
                    file: None,
                })
            }
            Err(e) => return Err(Error::io("cannot read the configuration", path, e)),
        };
        let config = Config::parse(&text, path)?;
        Ok(Config {
            file: Some(path.to_path_buf()),
            ..config
        })
    }

    /// Parses configuration text (`path` names it in messages). Unknown
    /// keys and lines that are not a plain `KEY="VALUE"` are refused: the
    /// classic file was a shell script, and a line this parser would skip
    /// silently is a setting the user thinks is in effect.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let vars = ShellVars::parse(text);
        if let Some(line) = vars.unparsed_lines().next() {
            return Err(Error::Refused(format!(
                "`{}`: line `{}` is not a KEY=\"VALUE\" setting (the file is read, not run by a shell)",
                path.display(),
                line.escape_debug()
            )));
        }
        for (key, _) in vars.vars() {
            if !KEYS.iter().any(|k| k.name == key) {
                return Err(Error::Refused(format!(
                    "`{}`: unknown key `{key}` - known keys: {}",
                    path.display(),
                    KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let config = Config { vars, file: None };
        config.log_level()?;
        config.require_manifest()?;
        config.allow_image_device()?;
        config.policy()?;
        super::net::Host::from_config(&config)?;
        Ok(config)
    }

    /// The value of `key`: the file's if set and not empty, else the
    /// default from [`KEYS`].
    pub fn get(&self, key: &str) -> &str {
        match self.vars.get(key) {
            Some(v) if !v.is_empty() => v,
            _ => KEYS.iter().find(|k| k.name == key).map_or("", |k| k.default),
        }
    }

    fn where_(&self) -> String {
        self.file
            .as_ref()
            .map_or_else(|| "the defaults".to_owned(), |p| format!("`{}`", p.display()))
    }

    /// The log level of the file.
    pub fn log_level(&self) -> Result<Level> {
        let v = self.get(LOG_LEVEL);
        Level::parse(v).ok_or_else(|| {
            Error::invalid(
                LOG_LEVEL,
                v,
                format!("in {}: use ERROR, INFO or VERBOSE", self.where_()),
            )
        })
    }

    fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            "1" => Ok(true),
            "0" => Ok(false),
            v => Err(Error::invalid(key, v, format!("in {}: use 1 or 0", self.where_()))),
        }
    }

    /// Whether images must carry a manifest.
    pub fn require_manifest(&self) -> Result<bool> {
        self.flag(REQUIRE_MANIFEST)
    }

    /// Whether an image's `DISK_DEVICE` may name a host device.
    pub fn allow_image_device(&self) -> Result<bool> {
        self.flag(ALLOW_IMAGE_DEVICE)
    }

    /// The admission policy of this host (see [`admit::Policy`]). A
    /// configuration that requires signatures without trusted keys, or
    /// allows an xl key that is not a key name, is refused.
    pub fn policy(&self) -> Result<admit::Policy> {
        let has_keys = !self.trusted_keys().is_empty();
        let require_signature = match self.get(REQUIRE_SIGNATURE) {
            "" => has_keys,
            _ => self.flag(REQUIRE_SIGNATURE)?,
        };
        let require_signed_scripts = self.flag(REQUIRE_SIGNED_SCRIPTS)?;
        for (key, on) in [
            (REQUIRE_SIGNATURE, require_signature),
            (REQUIRE_SIGNED_SCRIPTS, require_signed_scripts),
        ] {
            if on && !has_keys {
                return Err(Error::invalid(
                    key,
                    "1",
                    format!(
                        "in {}: requires signatures but {TRUSTED_KEYS} names no trusted key - set {TRUSTED_KEYS} too",
                        self.where_()
                    ),
                ));
            }
        }
        let mut allow_xl_keys = std::collections::BTreeSet::new();
        for key in self.get(ALLOW_XL_KEYS).split_whitespace() {
            // xl keys (`pci`) and the policy's own permissions
            // (`vif-script`).
            let ok = key.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                return Err(Error::invalid(
                    ALLOW_XL_KEYS,
                    key,
                    format!(
                        "in {}: not an xl key or permission name (e.g. `pci dtdev vif-script`)",
                        self.where_()
                    ),
                ));
            }
            allow_xl_keys.insert(key.to_owned());
        }
        Ok(admit::Policy {
            allow_xl_keys,
            allow_image_device: self.allow_image_device()?,
            volume_device: self.volume_device().map(str::to_owned),
            require_manifest: self.require_manifest()?,
            require_signature,
            require_signed_scripts,
        })
    }

    /// The trusted keys (paths as configured, host paths before the root
    /// prefix); empty: signatures are not required.
    pub fn trusted_keys(&self) -> Vec<PathBuf> {
        self.get(TRUSTED_KEYS).split_whitespace().map(PathBuf::from).collect()
    }

    /// The volume device, `None` for file-backed disks.
    pub fn volume_device(&self) -> Option<&str> {
        Some(self.get(VOLUME_DEVICE)).filter(|v| !v.is_empty())
    }

    /// The volume group for `device`: the configured one for the configured
    /// device, else `vg-xen-BASENAME` (as the classic manager names it).
    pub fn volume_group(&self, device: &str) -> String {
        match self.get(VOLUME_NAME) {
            v if !v.is_empty() && Some(device) == self.volume_device() => v.to_owned(),
            _ => default_group(device),
        }
    }
}

/// `vg-xen-$(basename DEVICE)`.
pub fn default_group(device: &str) -> String {
    let base = device.trim_end_matches('/').rsplit('/').next().unwrap_or(device);
    format!("vg-xen-{base}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values() {
        let c = Config::parse("# comment\n\nXENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n", Path::new("c")).unwrap();
        assert_eq!(c.volume_device(), Some("/dev/sda2"));
        assert_eq!(c.volume_group("/dev/sda2"), "vg-xen-sda2");
        assert_eq!(c.get(GUEST_DIR), "/usr/share/guests");
        assert_eq!(c.log_level().unwrap(), Level::Error);
        let c = Config::parse(
            "XENGUEST_VOLUME_DEVICE=/dev/sdb\nXENGUEST_VOLUME_NAME=\"vg0\"\nXENGUEST_LOG_LEVEL=\"VERBOSE\"\n",
            Path::new("c"),
        )
        .unwrap();
        assert_eq!(c.volume_group("/dev/sdb"), "vg0");
        // Another device (a guest's DISK_DEVICE) gets its own group.
        assert_eq!(c.volume_group("/dev/sdc1"), "vg-xen-sdc1");
        assert_eq!(c.log_level().unwrap(), Level::Verbose);
        assert_eq!(Config::parse("", Path::new("c")).unwrap().volume_device(), None);
    }

    #[test]
    fn shell_and_typos_are_refused() {
        for bad in [
            "XENGUEST_VOLUME_DEVICE=\"$(reboot)\"\n",
            "XENGUEST_VOLUME_DEVICE=`reboot`\n",
            "export XENGUEST_LOG_LEVEL=INFO\n",
            "XENGUEST_VOLUME_DEVCE=\"/dev/sda2\"\n",
            "XENGUEST_LOG_LEVEL=\"DEBUG\"\n",
            "XENGUEST_REQUIRE_MANIFEST=\"yes\"\n",
            "XENGUEST_ALLOW_IMAGE_DEVICE=\"true\"\n",
            "XENGUEST_REQUIRE_SIGNATURE=\"1\"\n",
            "XENGUEST_REQUIRE_SIGNED_SCRIPTS=\"1\"\n",
            "XENGUEST_REQUIRE_SIGNATURE=\"yes\"\nXENGUEST_TRUSTED_KEYS=\"/k.pem\"\n",
            "XENGUEST_ALLOW_XL_KEYS=\"pci $(reboot)\"\n",
            "XENGUEST_ALLOW_XL_KEYS=\"PCI\"\n",
        ] {
            let e = Config::parse(bad, Path::new("/etc/x.conf")).unwrap_err().to_string();
            assert!(e.contains("x.conf") || e.contains("XENGUEST_"), "{bad}: {e}");
        }
    }

    #[test]
    fn policy_follows_the_keys() {
        let p = |text: &str| Config::parse(text, Path::new("c")).unwrap().policy().unwrap();
        assert_eq!(p(""), admit::Policy::default());
        let keys = "XENGUEST_TRUSTED_KEYS=\"/k.pem\"\n";
        // Trusted keys alone require signatures, unless the host says 0.
        assert!(p(keys).require_signature);
        assert!(!p(&format!("{keys}XENGUEST_REQUIRE_SIGNATURE=\"0\"\n")).require_signature);
        let scripts = p(&format!(
            "{keys}XENGUEST_REQUIRE_SIGNATURE=\"0\"\nXENGUEST_REQUIRE_SIGNED_SCRIPTS=\"1\"\n"
        ));
        assert!(scripts.require_signed_scripts && !scripts.require_signature);
        let allowed = p("XENGUEST_ALLOW_XL_KEYS=\" pci  dtdev \"\nXENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n");
        assert_eq!(
            allowed.allow_xl_keys.iter().map(String::as_str).collect::<Vec<_>>(),
            ["dtdev", "pci"]
        );
        assert_eq!(allowed.volume_device.as_deref(), Some("/dev/sda2"));
        let e = Config::parse("XENGUEST_REQUIRE_SIGNED_SCRIPTS=\"1\"\n", Path::new("c"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("XENGUEST_TRUSTED_KEYS"), "{e}");
    }

    #[test]
    fn paths_follow_the_root() {
        let p = Paths::new(Path::new("/tmp/r"));
        assert_eq!(p.guests, Path::new("/tmp/r/etc/xenguest/guests"));
        assert_eq!(
            p.host(Path::new("/usr/share/guests")),
            Path::new("/tmp/r/usr/share/guests")
        );
        let p = Paths::new(Path::new("/"));
        assert_eq!(p.log, Path::new("/var/log/xenguest"));
    }
}
