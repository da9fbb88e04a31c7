//! The manager's configuration: `/etc/xenguest/xenguest-manager.conf`, and
//! where every host path lives.
//!
//! The classic manager sourced its configuration with bash; this one reads
//! the same `KEY="VALUE"` lines with the library's parser for such files
//! ([`crate::config::ShellVars`]) and never runs a shell on them. The one
//! command the classic recipe wrote into the file,
//! `XENGUEST_VOLUME_NAME="vg-xen-$(basename /dev/sda2)"`, is evaluated
//! here ([`classic_line`]); every other shell form is refused, naming the
//! line. Every key is declared once, in [`KEYS`], with its default and its
//! documentation (`xenguest-manager help` and docs/manager.md show the
//! same table).

use std::collections::BTreeMap;
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
/// Names (machines) this host is compatible with.
pub const COMPATIBLE: &str = admit::COMPATIBLE;
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
        doc: "1: refuse images carrying host-side scripts (init.pre, init.d, init.post, health.d: run as root in \
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
        name: COMPATIBLE,
        default: "",
        doc: "Space-separated names (for example the machine name) this host answers to: an image whose \
              metadata lists compatible names must list one of them. Empty: any image.",
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
    /// The line (1-based) of each key's assignment in the file.
    lines: BTreeMap<String, usize>,
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
                    lines: BTreeMap::new(),
                })
            }
            Err(e) => return Err(Error::io("cannot read the configuration", path, e)),
        };
        Config::parse(&text, path)
    }

    /// Parses configuration text (`path` names it in messages). Unknown
    /// keys and lines that are not a plain `KEY="VALUE"` are refused: the
    /// classic file was a shell script, and a line this parser would skip
    /// silently is a setting the user thinks is in effect. The classic
    /// recipe's `$(basename PATH)` is evaluated ([`classic_line`]).
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let mut read = String::new();
        let mut lines = BTreeMap::new();
        let mut so_far = BTreeMap::<String, String>::new();
        for (i, line) in text.split_terminator('\n').enumerate() {
            let number = i + 1;
            let at = || format!("`{}` line {number}", path.display());
            let line = match classic_line(line, &so_far) {
                Ok(Some(rewritten)) => rewritten,
                Ok(None) => line.to_owned(),
                Err(why) => return Err(Error::Refused(format!("{}: {why}", at()))),
            };
            let one = ShellVars::parse(&line);
            if one.unparsed_lines().next().is_some() {
                return Err(Error::Refused(format!(
                    "{}: `{}` is not a KEY=\"VALUE\" setting - the file is read, not run by a shell: write \
                     the value itself (e.g. XENGUEST_VOLUME_NAME=\"vg-xen-sda2\"); the only command read is \
                     $(basename PATH) or $(basename $KEY) inside a value",
                    at(),
                    line.escape_debug()
                )));
            }
            for (key, value) in one.vars() {
                if !KEYS.iter().any(|k| k.name == key) {
                    return Err(Error::Refused(format!(
                        "{}: unknown key `{key}` - known keys: {}",
                        at(),
                        KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                    )));
                }
                lines.insert(key.to_owned(), number);
                so_far.insert(key.to_owned(), value.to_owned());
            }
            read.push_str(&line);
            read.push('\n');
        }
        let config = Config {
            vars: ShellVars::parse(&read),
            file: Some(path.to_path_buf()),
            lines,
        };
        config.log_level()?;
        config.require_manifest()?;
        config.allow_image_device()?;
        config.policy()?;
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

    /// Where `key`'s value comes from, for messages: the file and the
    /// line setting it, else the defaults.
    fn where_(&self, key: &str) -> String {
        match (&self.file, self.lines.get(key)) {
            (Some(p), Some(line)) => format!("`{}` line {line}", p.display()),
            (Some(p), None) => format!("`{}` (not set there: the default)", p.display()),
            (None, _) => "the defaults".to_owned(),
        }
    }

    /// The log level of the file.
    pub fn log_level(&self) -> Result<Level> {
        let v = self.get(LOG_LEVEL);
        Level::parse(v).ok_or_else(|| {
            Error::invalid(
                LOG_LEVEL,
                v,
                format!("in {}: use ERROR, INFO or VERBOSE", self.where_(LOG_LEVEL)),
            )
        })
    }

    fn flag(&self, key: &str) -> Result<bool> {
        match self.get(key) {
            "1" => Ok(true),
            "0" => Ok(false),
            v => Err(Error::invalid(key, v, format!("in {}: use 1 or 0", self.where_(key)))),
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
                        self.where_(key)
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
                        self.where_(ALLOW_XL_KEYS)
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
            compatible: self.get(COMPATIBLE).split_whitespace().map(str::to_owned).collect(),
            xen_host: None,
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
    format!("vg-xen-{}", basename(device))
}

/// What `basename PATH` prints: the last component, trailing slashes
/// ignored (`/` for a path of slashes only).
fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() && !path.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// Evaluates the classic forms on one line of the configuration, as bash
/// sourcing it did, without running anything:
///
/// - each `$(basename WORD)` in the value of a `KEY="VALUE"` (or unquoted
///   `KEY=VALUE`) assignment, `WORD` being a path (letters, digits,
///   `_-./:+@%`) or `$KEY` / `${KEY}` naming a key set on an earlier line,
///   is replaced by its result (the classic recipe wrote
///   `XENGUEST_VOLUME_NAME="vg-xen-$(basename /dev/sda2)"`);
/// - a single-quoted `KEY='VALUE'` (literal to bash) becomes
///   `KEY="VALUE"`.
///
/// `Ok(None)`: no such form on the line (it is read as it is);
/// `Ok(Some(line))`: the line with the results; `Err`: one of these forms
/// that cannot be read, saying how to write it. The result is read by the
/// strict grammar, so any other shell syntax on the line (a second
/// command, an expansion, a quote) is still refused.
pub fn classic_line(line: &str, earlier: &BTreeMap<String, String>) -> std::result::Result<Option<String>, String> {
    const CALL: &str = "$(basename ";
    let body = line.trim_start_matches([' ', '\t']);
    let indent = &line[..line.len() - body.len()];
    let Some((key, raw)) = body.split_once('=') else {
        return Ok(None);
    };
    let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !key_ok || !(raw.contains(CALL) || raw.starts_with('\'')) {
        return Ok(None);
    }
    let how = "write the value itself (e.g. XENGUEST_VOLUME_NAME=\"vg-xen-sda2\") or `$(basename PATH)` / \
               `$(basename $KEY)` with one path or an earlier key";
    // The value as bash delimits it, and what follows it on the line.
    let (quote, inner, tail) = if let Some(q @ ('"' | '\'')) = raw.chars().next() {
        match raw[1..].find(q) {
            Some(end) => (Some(q), &raw[1..=end], &raw[end + 2..]),
            None => return Ok(None),
        }
    } else {
        // Unquoted: up to the first blank outside a `$(basename ...)`.
        let mut end = 0;
        while end < raw.len() {
            if raw[end..].starts_with(CALL) {
                end += raw[end..].find(')').map_or(raw.len() - end, |c| c + 1);
            } else if raw[end..].starts_with([' ', '\t']) {
                break;
            } else {
                end += raw[end..].chars().next().map_or(1, char::len_utf8);
            }
        }
        (None, &raw[..end], &raw[end..])
    };
    let out = if quote == Some('\'') {
        if inner.contains(['"', '$', '`', '\\']) {
            return Err(format!(
                "`{}`: the single-quoted value holds `\"`, `$`, a backtick or `\\` - write the value itself \
                 in double quotes, without them",
                line.escape_debug()
            ));
        }
        inner.to_owned()
    } else {
        let mut out = String::new();
        let mut rest = inner;
        while let Some(start) = rest.find(CALL) {
            out.push_str(&rest[..start]);
            let after = &rest[start + CALL.len()..];
            let Some(end) = after.find(')') else {
                return Err(format!("`{}`: `$(basename` is not closed - {how}", line.escape_debug()));
            };
            let word = after[..end].trim_matches(' ');
            let path_char = |c: char| c.is_ascii_alphanumeric() || "_-./:+@%".contains(c);
            let value = if let Some(name) = word
                .strip_prefix("${")
                .and_then(|w| w.strip_suffix('}'))
                .or_else(|| word.strip_prefix('$'))
            {
                match earlier.get(name) {
                    Some(v) if !v.is_empty() => v.as_str(),
                    _ => {
                        return Err(format!(
                            "`{}`: `{name}` is not set to a value on an earlier line - {how}",
                            line.escape_debug()
                        ))
                    }
                }
            } else if !word.is_empty() && word.chars().all(path_char) {
                word
            } else {
                return Err(format!(
                    "`{}`: `$(basename {})` takes one path or `$KEY` - {how}",
                    line.escape_debug(),
                    word.escape_debug()
                ));
            };
            out.push_str(basename(value));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    };
    // What bash would read as more than the value (another command, an
    // expansion, a quote): the grammar refuses the line as written.
    let plain = if quote.is_some() {
        !out.contains(['"', '$', '`', '\\'])
    } else {
        out.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,+@%".contains(c))
    };
    if !plain {
        return Ok(None);
    }
    Ok(Some(format!("{indent}{key}=\"{out}\"{tail}")))
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
    fn the_classic_recipe_s_file_is_read_as_bash_read_it() {
        // What the classic recipe's do_compile wrote, with its defaults.
        let classic = "XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n\
                       XENGUEST_VOLUME_NAME=\"vg-xen-$(basename /dev/sda2)\"\n\
                       XENGUEST_GUEST_DIR=\"/usr/share/guests/\"\n\
                       XENGUEST_LOG_LEVEL=\"ERROR\"\n";
        let c = Config::parse(classic, Path::new("c")).unwrap();
        assert_eq!(c.get(VOLUME_NAME), "vg-xen-sda2");
        assert_eq!(c.volume_group("/dev/sda2"), "vg-xen-sda2");
        assert_eq!(c.get(GUEST_DIR), "/usr/share/guests/");
        // The forms a user could have written around it.
        for (line, group) in [
            ("XENGUEST_VOLUME_NAME=\"vg-$(basename /dev/mapper/x/)-1\"", "vg-x-1"),
            ("XENGUEST_VOLUME_NAME=vg-xen-$(basename /dev/sdb1)", "vg-xen-sdb1"),
            (
                "  XENGUEST_VOLUME_NAME=\"vg-xen-$(basename $XENGUEST_VOLUME_DEVICE)\"",
                "vg-xen-sda2",
            ),
            (
                "XENGUEST_VOLUME_NAME=\"vg-xen-$(basename ${XENGUEST_VOLUME_DEVICE})\"",
                "vg-xen-sda2",
            ),
            ("XENGUEST_VOLUME_NAME=\"$(basename /)\"", "/"),
            (
                "XENGUEST_VOLUME_NAME=\"vg-xen-$(basename /dev/sdc)\"  # the classic name",
                "vg-xen-sdc",
            ),
            ("XENGUEST_VOLUME_NAME=vg-$(basename /dev/sdc) # unquoted", "vg-sdc"),
            ("XENGUEST_VOLUME_NAME='vg0'", "vg0"),
            // A comment is a comment, whatever it holds.
            (
                "XENGUEST_VOLUME_NAME=\"vg-$(basename /dev/sdc)\" # not run: $(reboot)",
                "vg-sdc",
            ),
        ] {
            let text = format!("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n{line}\n");
            let c = Config::parse(&text, Path::new("c")).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(c.get(VOLUME_NAME), group, "{line}");
        }
        // Anything else is refused, naming the file and the line.
        for (text, needle) in [
            ("XENGUEST_VOLUME_NAME=\"vg-$(basename $(reboot))\"\n", "is not set"),
            (
                "XENGUEST_VOLUME_NAME=\"$(basename $XENGUEST_VOLUME_DEVICE)\"\n",
                "`XENGUEST_VOLUME_DEVICE` is not set",
            ),
            ("XENGUEST_VOLUME_NAME=\"$(basename /dev/sd*)\"\n", "takes one path"),
            ("XENGUEST_VOLUME_NAME=\"$(basename a b)\"\n", "takes one path"),
            ("XENGUEST_VOLUME_NAME=\"$(basename /a\"\n", "not closed"),
            (
                "XENGUEST_VOLUME_NAME=\"$(basename /a)$(reboot)\"\n",
                "not a KEY=\"VALUE\" setting",
            ),
            (
                "XENGUEST_VOLUME_NAME=\"$(basename /a)\"; reboot\n",
                "not a KEY=\"VALUE\" setting",
            ),
            (
                "XENGUEST_VOLUME_NAME=$(basename /a);reboot\n",
                "not a KEY=\"VALUE\" setting",
            ),
            (
                "XENGUEST_VOLUME_NAME=\"$(basename /a)\" ; reboot\"\n",
                "not a KEY=\"VALUE\" setting",
            ),
            ("XENGUEST_VOLUME_NAME=\"$(dirname /a)\"\n", "$(basename PATH)"),
            ("XENGUEST_VOLUME_NAME='vg-$(basename /dev/sdc)'\n", "single-quoted"),
        ] {
            let text = format!("# comment\n{text}");
            let e = Config::parse(&text, Path::new("/etc/x.conf")).unwrap_err().to_string();
            assert!(e.contains("`/etc/x.conf` line 2: "), "{text}: {e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn odd_lines_never_panic() {
        let earlier = BTreeMap::from([("A".to_owned(), "/dev/é".to_owned())]);
        for line in [
            "X=\"",
            "X='",
            "X=$(basename",
            "X=$(basename é",
            "X=é$(basename /a)é",
            "X=\"é$(basename $A)\"",
            "X=$(basename )",
            "X=\"$(basename ${A)\"",
            "X=''",
            "=$(basename /a)",
            "X=$(basename /a)\u{a0}",
            "\tX='é' #",
            "X=$(basename $(basename /a))",
        ] {
            let _ = classic_line(line, &earlier);
            let _ = Config::parse(line, Path::new("c"));
        }
        assert_eq!(
            classic_line("X=\"é$(basename $A)\"", &earlier).unwrap().as_deref(),
            Some("X=\"éé\"")
        );
    }

    #[test]
    fn a_bad_value_names_the_file_and_its_line() {
        let e = Config::parse(
            "XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n\nXENGUEST_LOG_LEVEL=\"DEBUG\"\n",
            Path::new("/etc/xenguest/xenguest-manager.conf"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("in `/etc/xenguest/xenguest-manager.conf` line 3"), "{e}");
        assert!(!e.contains("the defaults"), "{e}");
        let e = Config::parse("XENGUEST_REQUIRE_SIGNATURE=\"1\"\n", Path::new("m.conf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`m.conf` line 1"), "{e}");
        let e = Config::parse("\nXENGUEST_VOLUME_DEVCE=\"/dev/sda2\"\n", Path::new("m.conf"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`m.conf` line 2: unknown key"), "{e}");
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
