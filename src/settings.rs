//! One declaration per setting.
//!
//! A setting is one value of the guest: its memory, its kernel, the disk
//! size, … Its row in [`SETTINGS`] is the only place that says how the
//! command line spells it and what its help says, which TOML key holds it,
//! how its value is parsed and checked ([`Kind`]), where it lands in the
//! image ([`Target`]; applied by [`crate::ops`]), how `export` writes it back
//! and whether it names an input file. Everything else is derived from the
//! table: the command-line parser and `--help` ([`crate::cli`]), TOML
//! lowering and `export` ([`crate::spec`]), `build --set KEY=VALUE` and
//! `build --print-inputs`, and the README's option table (a test compares
//! it with [`markdown_table`]).
//!
//! Adding an xl setting is one row here plus its case in the round-trip
//! test at the bottom of this file.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::config::XlValue;
use crate::error::{Error, Result};
use crate::validate;

/// Largest guest memory accepted, in MB (16 TiB).
const MAX_MEMORY_MB: u64 = 16 * 1024 * 1024;
/// Largest number of virtual CPUs accepted.
const MAX_VCPUS: u64 = 4096;

/// Help heading of the guest parameters.
pub const GUEST: &str = "Guest parameters (params.cfg)";
/// Help heading of the xl configuration.
pub const XEN: &str = "Xen configuration (guest.cfg, guest.d/)";
/// Help heading of `files/`.
pub const FILES: &str = "Xen files (files/)";
/// Help heading of the init scripts.
pub const INIT: &str = "Init and health scripts (init.pre/, init.d/, init.post/, health.d/)";
/// Help heading of the disk.
pub const DISK: &str = "Disk (disk.cfg, disk/)";
/// Help heading of the image metadata.
pub const META: &str = "Image metadata (metadata.json)";
/// Help headings, in help order.
pub const HEADINGS: &[&str] = &[META, GUEST, XEN, FILES, INIT, DISK];

/// What values a setting takes: its parser and checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number from `min` to `max` (TOML: an integer).
    Number {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// An xl string; empty disables the setting.
    Text,
    /// The guest command line: words joined by single spaces (empty: an
    /// empty command line).
    Cmdline,
    /// One of these words; empty disables the setting.
    Word(&'static [&'static str]),
    /// An input file stored as `files/MEMBER`; empty disables the setting
    /// and removes the file.
    File {
        /// Name under `files/`.
        member: &'static str,
    },
    /// A host device given to the guest as `disk = ['phy:DEV,xvda,w']`;
    /// empty disables it.
    PhyDisk,
    /// A yes/no switch (TOML: `true`/`false`; text: `1`/`0`, `true`/`false`),
    /// stored as `1`/`0`.
    Bool,
    /// A disk size: `N` or `NG` (GB, 1G = 1000M) or `NM`, stored in MB.
    Size,
    /// A value sourced by bash on the host (a device path); may be empty.
    ShellText,
    /// A free text of the image metadata (no control characters); empty
    /// removes it.
    MetaText,
    /// A list of names (TOML: an array of strings; text: separated by
    /// commas or blanks); each name of letters, digits and `._+-`. Empty
    /// removes it.
    Names,
    /// A version: one to three numbers separated by dots (`4.17`); empty
    /// removes it.
    Version,
    /// Port forwards of a `nat` guest: space-separated `HOST:GUEST` or
    /// `HOST:GUEST/udp` ([`validate::port_forwards`]); empty: none.
    PortForwards,
}

/// Where a setting lives in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An xl setting: in `guest.cfg` when that mentions the key, else in
    /// `guest.d/KEY.cfg`.
    Xl(&'static str),
    /// A `params.cfg` variable.
    Param(&'static str),
    /// A `disk.cfg` variable.
    Disk(&'static str),
    /// A field of `metadata.json` ([`crate::image::meta::Metadata`]).
    Meta(&'static str),
}

/// One setting (see the module documentation).
#[derive(Debug, PartialEq, Eq)]
pub struct Setting {
    /// TOML key path, e.g. `guest.memory`; empty when the TOML has none.
    pub toml: &'static str,
    /// Command-line option without `--`; empty when there is none.
    pub cli: &'static str,
    /// Value placeholder in the help.
    pub value_name: &'static str,
    /// Help heading.
    pub heading: &'static str,
    /// One-line help.
    pub help: &'static str,
    /// Values and their parser.
    pub kind: Kind,
    /// Where the value is stored.
    pub target: Target,
}

/// A parsed, checked setting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Disable or remove the setting.
    Unset,
    /// A number (for [`Kind::Size`]: megabytes).
    Number(u64),
    /// A string.
    Text(String),
    /// A switch.
    Bool(bool),
    /// An input file.
    File(PathBuf),
    /// A list of names.
    List(Vec<String>),
}

/// Every setting, in help order within each heading.
pub const SETTINGS: &[Setting] = &[
    Setting {
        toml: "image.name",
        cli: "image-name",
        value_name: "NAME",
        heading: META,
        help: "Name the image (shown by `info`; empty: remove it)",
        kind: Kind::MetaText,
        target: Target::Meta("name"),
    },
    Setting {
        toml: "image.version",
        cli: "image-version",
        value_name: "VERSION",
        heading: META,
        help: "Set the image version (empty: remove it)",
        kind: Kind::MetaText,
        target: Target::Meta("version"),
    },
    Setting {
        toml: "image.description",
        cli: "image-description",
        value_name: "TEXT",
        heading: META,
        help: "Describe the image in one line (empty: remove it)",
        kind: Kind::MetaText,
        target: Target::Meta("description"),
    },
    Setting {
        toml: "image.compatible",
        cli: "image-compatible",
        value_name: "NAMES",
        heading: META,
        help: "Hosts the image may be installed on: names matched against the host's XENGUEST_COMPATIBLE, separated by commas or spaces (empty: any host)",
        kind: Kind::Names,
        target: Target::Meta("compatible"),
    },
    Setting {
        toml: "image.arch",
        cli: "image-arch",
        value_name: "ARCH",
        heading: META,
        help: "Architecture of the guest kernel: x86_64, aarch64 or arm; the host refuses another (empty: unchecked)",
        kind: Kind::Word(crate::image::meta::ARCHES),
        target: Target::Meta("arch"),
    },
    Setting {
        toml: "image.xen",
        cli: "image-xen",
        value_name: "VERSION",
        heading: META,
        help: "Oldest Xen the guest runs on, e.g. 4.17; the host refuses an older one (empty: unchecked)",
        kind: Kind::Version,
        target: Target::Meta("xen"),
    },
    Setting {
        toml: "guest.autoboot",
        cli: "",
        value_name: "BOOL",
        heading: GUEST,
        help: "Start the guest when the host boots (params.cfg GUEST_AUTOBOOT 1 or 0)",
        kind: Kind::Bool,
        target: Target::Param("GUEST_AUTOBOOT"),
    },
    Setting {
        toml: "guest.name",
        cli: "xen-name",
        value_name: "NAME",
        heading: XEN,
        help: "Set the guest name (empty: disable it; the host manager usually sets it)",
        kind: Kind::Text,
        target: Target::Xl("name"),
    },
    Setting {
        toml: "guest.kernel",
        cli: "xen-kernel",
        value_name: "FILE",
        heading: XEN,
        help: "Add FILE as files/kernel and use it as the guest kernel (empty: disable and remove)",
        kind: Kind::File { member: "kernel" },
        target: Target::Xl("kernel"),
    },
    Setting {
        toml: "guest.memory",
        cli: "xen-memory",
        value_name: "MB",
        heading: XEN,
        help: "Set the guest memory size in MB (empty: xl's default)",
        kind: Kind::Number {
            min: 1,
            max: MAX_MEMORY_MB,
        },
        target: Target::Xl("memory"),
    },
    Setting {
        toml: "guest.vcpus",
        cli: "xen-vcpus",
        value_name: "N",
        heading: XEN,
        help: "Set the number of virtual CPUs (empty: xl's default)",
        kind: Kind::Number { min: 1, max: MAX_VCPUS },
        target: Target::Xl("vcpus"),
    },
    Setting {
        toml: "guest.cmdline",
        cli: "",
        value_name: "ARGS",
        heading: XEN,
        help: "The whole guest command line (xl extra); on the command line use --xen-clean-extra and --xen-extra",
        kind: Kind::Cmdline,
        target: Target::Xl("extra"),
    },
    Setting {
        toml: "guest.root",
        cli: "xen-root",
        value_name: "DEV",
        heading: XEN,
        help: "Set the guest root device, e.g. /dev/xvda1 (empty: disable it)",
        kind: Kind::Text,
        target: Target::Xl("root"),
    },
    Setting {
        toml: "guest.device_tree",
        cli: "xen-device-tree",
        value_name: "FILE",
        heading: XEN,
        help: "Add FILE as files/guest.dtb and use it as device tree (empty: disable and remove)",
        kind: Kind::File { member: "guest.dtb" },
        target: Target::Xl("device_tree"),
    },
    Setting {
        toml: "guest.ramdisk",
        cli: "xen-ramdisk",
        value_name: "FILE",
        heading: XEN,
        help: "Add FILE as files/ramdisk.img and use it as ramdisk (empty: disable and remove)",
        kind: Kind::File { member: "ramdisk.img" },
        target: Target::Xl("ramdisk"),
    },
    Setting {
        toml: "guest.type",
        cli: "xen-type",
        value_name: "TYPE",
        heading: XEN,
        help: "Set the guest type: pvh (Arm guests, x86 without emulation), pv or hvm (empty: xl's default)",
        kind: Kind::Word(&["pvh", "pv", "hvm"]),
        target: Target::Xl("type"),
    },
    Setting {
        // The host manager sets the disk of an installed guest: no TOML key.
        toml: "",
        cli: "xen-disk",
        value_name: "DEV",
        heading: XEN,
        help: "Use DEV as the guest disk: disk = ['phy:DEV,xvda,w'] (empty: disable it)",
        kind: Kind::PhyDisk,
        target: Target::Xl("disk"),
    },
    Setting {
        toml: "disk.size",
        cli: "disk-size",
        value_name: "SIZE",
        heading: DISK,
        help: "Set the disk size: N or NG (GB, 1G = 1000M) or NM (MB); 0 disables the disk",
        kind: Kind::Size,
        target: Target::Disk("DISK_SIZE"),
    },
    Setting {
        toml: "disk.device",
        cli: "disk-device",
        value_name: "DEV",
        heading: DISK,
        help: "Create the disk on DEV (empty: the host's default volume group)",
        kind: Kind::ShellText,
        target: Target::Disk("DISK_DEVICE"),
    },
    Setting {
        toml: "guest.port_forwards",
        cli: "port-forwards",
        value_name: "PORTS",
        heading: GUEST,
        help: "Forward ports of Dom0 to a nat guest: space-separated HOST:GUEST or HOST:GUEST/udp \
               (params.cfg XENGUEST_PORT_FORWARDS; empty: none)",
        kind: Kind::PortForwards,
        target: Target::Param(crate::validate::PORT_FORWARDS_PARAM),
    },
    Setting {
        toml: "guest.health_timeout",
        cli: "guest-health-timeout",
        value_name: "SECONDS",
        heading: GUEST,
        help: "Seconds xenguest-manager update waits for the new guest to be healthy (its health.d scripts succeed, or it writes ok to \
               data/xenguest/health) before it rolls back (params.cfg GUEST_HEALTH_TIMEOUT, 1 to 86400; empty: the default, 120)",
        kind: Kind::Number {
            min: 1,
            max: crate::validate::MAX_HEALTH_TIMEOUT,
        },
        target: Target::Param(crate::validate::HEALTH_TIMEOUT_PARAM),
    },
];

/// The setting of command-line option `name` (without `--`).
pub fn by_cli(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| !s.cli.is_empty() && s.cli == name)
}

/// The setting of TOML key `key`.
pub fn by_toml(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| !s.toml.is_empty() && s.toml == key)
}

/// The setting stored in xl key `key`.
pub fn by_xl(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| matches!(s.target, Target::Xl(k) if k == key))
}

/// The setting stored in `params.cfg` variable `name`.
pub fn by_param(name: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| matches!(s.target, Target::Param(n) if n == name))
}

fn check_number(what: &str, n: u64, min: u64, max: u64) -> Result<u64> {
    if n < min || n > max {
        return Err(Error::invalid(
            what,
            n.to_string(),
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

impl Setting {
    /// Whether the value names an input file.
    pub fn names_input(&self) -> bool {
        matches!(self.kind, Kind::File { .. })
    }

    /// Parses a value given as text: a command-line option, or
    /// `build --set KEY=VALUE`. `what` names the source in messages.
    pub fn parse_text(&self, what: &str, text: &str) -> Result<Value> {
        match self.kind {
            // Empty: unset, as for the text settings (a build system's
            // knob left empty), and as for files.
            Kind::Number { .. } | Kind::File { .. } if text.is_empty() => Ok(Value::Unset),
            Kind::Number { min, max } => validate::number(what, text, min, max).map(Value::Number),
            Kind::Bool => match text {
                "1" | "true" => Ok(Value::Bool(true)),
                "0" | "false" => Ok(Value::Bool(false)),
                _ => Err(Error::invalid(what, text, "use 1 or 0 (true or false)")),
            },
            Kind::File { .. } => Ok(Value::File(PathBuf::from(text))),
            _ => self.check_text(what, text),
        }
    }

    /// Parses a typed TOML value. `text` substitutes `${NAME}` references
    /// in strings; `file` resolves a file name against the TOML's directory.
    pub fn parse_toml(
        &self,
        what: &str,
        value: &toml::Value,
        text: impl Fn(&str) -> Result<String>,
        file: impl Fn(&str) -> Result<PathBuf>,
    ) -> Result<Value> {
        let expected = |kind: &str| Error::invalid(what, value.to_string(), format!("expected {kind}"));
        match (self.kind, value) {
            (Kind::Number { min, max }, toml::Value::Integer(n)) => {
                let n = u64::try_from(*n).map_err(|_| Error::invalid(what, n.to_string(), "is negative"))?;
                check_number(what, n, min, max).map(Value::Number)
            }
            (Kind::Number { .. }, _) => Err(expected("a whole number")),
            (Kind::Bool, toml::Value::Boolean(b)) => Ok(Value::Bool(*b)),
            (Kind::Bool, _) => Err(expected("true or false")),
            (Kind::Names, toml::Value::Array(items)) => {
                let mut names = Vec::new();
                for item in items {
                    let toml::Value::String(s) = item else {
                        return Err(expected("a list of strings"));
                    };
                    names.push(check_name_item(what, &text(s)?)?);
                }
                Ok(if names.is_empty() {
                    Value::Unset
                } else {
                    Value::List(names)
                })
            }
            (Kind::Names, _) => Err(expected("a list of strings, e.g. [\"qemuarm64\"]")),
            (Kind::File { .. }, toml::Value::String(s)) => {
                let s = text(s)?;
                if s.is_empty() {
                    return Err(Error::invalid(
                        what,
                        s,
                        "the file name is empty - leave the key out instead",
                    ));
                }
                file(&s).map(Value::File)
            }
            (_, toml::Value::String(s)) => self.check_text(what, &text(s)?),
            _ => Err(expected("a string")),
        }
    }

    /// Checks a string value of a string kind.
    fn check_text(&self, what: &str, text: &str) -> Result<Value> {
        let unset_if_empty = |v: Result<Value>| if text.is_empty() { Ok(Value::Unset) } else { v };
        match self.kind {
            Kind::Text => unset_if_empty(validate::xl_string(what, text).map(|t| Value::Text(t.to_owned()))),
            Kind::Cmdline => {
                let words: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
                let joined = words.join(" ");
                validate::xl_string(what, &joined)?;
                Ok(Value::Text(joined))
            }
            Kind::Word(words) => unset_if_empty(if words.contains(&text) {
                Ok(Value::Text(text.to_owned()))
            } else {
                Err(Error::invalid(what, text, format!("use one of {}", words.join(", "))))
            }),
            Kind::PhyDisk => unset_if_empty(validate::xl_list_item(what, text).map(|t| Value::Text(t.to_owned()))),
            Kind::Size => validate::size_mb(what, text).map(Value::Number),
            Kind::ShellText => validate::shell_value(what, text).map(|t| Value::Text(t.to_owned())),
            Kind::MetaText => unset_if_empty(match text.chars().find(|c| c.is_control()) {
                Some(c) => Err(Error::invalid(
                    what,
                    text.escape_debug().to_string(),
                    format!("contains the control character {c:?} - use one line of text"),
                )),
                None => Ok(Value::Text(text.to_owned())),
            }),
            Kind::Names => {
                let names = text
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| check_name_item(what, n))
                    .collect::<Result<Vec<_>>>()?;
                Ok(if names.is_empty() {
                    Value::Unset
                } else {
                    Value::List(names)
                })
            }
            Kind::Version => {
                unset_if_empty(crate::image::meta::check_version(what, text).map(|()| Value::Text(text.to_owned())))
            }
            Kind::PortForwards => unset_if_empty(
                validate::port_forwards(what, text)
                    .map(|f| Value::Text(f.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))),
            ),
            Kind::Number { .. } | Kind::Bool | Kind::File { .. } => {
                unreachable!("parse_text and parse_toml handle these kinds")
            }
        }
    }

    /// The xl value stored for `value` (settings with an xl target).
    pub fn xl_value(&self, value: &Value) -> Option<XlValue> {
        match (self.kind, value) {
            (_, Value::Unset) => None,
            (Kind::File { member }, _) => Some(XlValue::Str(format!("files/{member}"))),
            (Kind::PhyDisk, Value::Text(dev)) => Some(XlValue::List(vec![format!("phy:{dev},xvda,w")])),
            (_, Value::Number(n)) => Some(XlValue::Number(*n)),
            (_, Value::Text(s)) => Some(XlValue::Str(s.clone())),
            (_, Value::Bool(b)) => Some(XlValue::Number(u64::from(*b))),
            (_, Value::File(p)) => Some(XlValue::Str(p.display().to_string())),
            (_, Value::List(items)) => Some(XlValue::List(items.clone())),
        }
    }

    /// The text stored in `params.cfg` or `disk.cfg` for `value`.
    pub fn shell_value(&self, value: &Value) -> Option<String> {
        match value {
            Value::Unset => None,
            Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
            Value::Number(n) if self.kind == Kind::Size => Some(format!("{n}M")),
            Value::Number(n) => Some(n.to_string()),
            Value::Text(s) => Some(s.clone()),
            Value::File(p) => Some(p.display().to_string()),
            Value::List(items) => Some(items.join(",")),
        }
    }

    /// The metadata field stored for `value` (settings with a metadata
    /// target).
    pub fn meta_value(&self, value: &Value) -> Option<crate::image::meta::Field> {
        use crate::image::meta::Field;
        match value {
            Value::Unset => None,
            Value::List(items) => Some(Field::List(items.clone())),
            other => self.shell_value(other).map(Field::Text),
        }
    }

    /// How `export` writes back a metadata field.
    pub fn export_meta(&self, field: &crate::image::meta::Field) -> toml::Value {
        use crate::image::meta::Field;
        match field {
            Field::Text(t) => toml::Value::String(t.clone()),
            Field::List(items) => toml::Value::Array(items.iter().cloned().map(toml::Value::String).collect()),
        }
    }

    /// How `export` writes back an xl value found in the image (`None`: the
    /// TOML key cannot hold it).
    pub fn export_xl(&self, value: &XlValue) -> Option<toml::Value> {
        match (self.kind, value) {
            (Kind::Number { .. }, XlValue::Number(n)) => i64::try_from(*n).ok().map(toml::Value::Integer),
            (Kind::File { member }, XlValue::Str(s)) if *s == format!("files/{member}") => {
                Some(toml::Value::String(s.clone()))
            }
            (Kind::Text | Kind::Cmdline, XlValue::Str(s)) => Some(toml::Value::String(s.clone())),
            (Kind::Word(words), XlValue::Str(s)) if words.contains(&s.as_str()) => Some(toml::Value::String(s.clone())),
            _ => None,
        }
    }

    /// How `export` writes back a `params.cfg`/`disk.cfg` value (`None`:
    /// leave the key out, the default).
    pub fn export_shell(&self, text: &str) -> Result<Option<toml::Value>> {
        Ok(match self.kind {
            Kind::Bool => Some(toml::Value::Boolean(text != "0")),
            Kind::Number { min, max } => {
                let n = validate::number(self.toml, text, min, max)?;
                Some(toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)))
            }
            Kind::Size => {
                let mb = validate::size_mb(self.toml, text)?;
                (mb > 0).then(|| toml::Value::String(format!("{mb}M")))
            }
            _ => (!text.is_empty()).then(|| toml::Value::String(text.to_owned())),
        })
    }
}

/// Checks one name of a [`Kind::Names`] list.
fn check_name_item(what: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::invalid(
            what,
            name.escape_debug().to_string(),
            "use names of letters, digits and `._+-`, separated by commas",
        ))
    }
}

/// The README's option table: one row per setting.
pub fn markdown_table() -> String {
    let mut out = String::from("| option | TOML key | value |\n| --- | --- | --- |\n");
    for s in SETTINGS {
        let cli = if s.cli.is_empty() {
            "—".to_owned()
        } else {
            format!("`--{}={}`", s.cli, s.value_name)
        };
        let toml = if s.toml.is_empty() {
            "—".to_owned()
        } else {
            format!("`{}`", s.toml)
        };
        let _ = writeln!(out, "| {cli} | {toml} | {} |", s.help);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_well_formed() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(!s.cli.is_empty() || !s.toml.is_empty(), "{s:?} has no name");
            assert!(HEADINGS.contains(&s.heading), "{s:?}");
            for t in &SETTINGS[i + 1..] {
                assert!(s.cli.is_empty() || s.cli != t.cli, "{} twice", s.cli);
                assert!(s.toml.is_empty() || s.toml != t.toml, "{} twice", s.toml);
                assert_ne!(s.target, t.target, "two settings store {:?}", s.target);
            }
            if !s.toml.is_empty() {
                let (section, key) = s.toml.split_once('.').expect("section.key");
                assert!(
                    section == "guest"
                        || section == "image"
                        || (section == "disk" && ["size", "device"].contains(&key)),
                    "{}: spec.rs reads settings from [image], [guest] and disk.size/disk.device only",
                    s.toml
                );
            }
        }
    }

    #[test]
    fn text_and_toml_parsers_agree() {
        let no_subst = |s: &str| Ok(s.to_owned());
        let file = |s: &str| Ok(PathBuf::from(s));
        let memory = by_toml("guest.memory").unwrap();
        assert_eq!(memory.parse_text("m", "512").unwrap(), Value::Number(512));
        assert_eq!(memory.parse_text("m", "").unwrap(), Value::Unset);
        assert_eq!(
            memory
                .parse_toml("m", &toml::Value::Integer(512), no_subst, file)
                .unwrap(),
            Value::Number(512)
        );
        for bad in [-1, 0, 17_179_869_185] {
            let e = memory
                .parse_toml("guest.memory", &toml::Value::Integer(bad), no_subst, file)
                .unwrap_err();
            assert!(e.to_string().contains("guest.memory"), "{e}");
        }
        assert!(memory
            .parse_toml("m", &toml::Value::String("512".into()), no_subst, file)
            .is_err());
        let autoboot = by_param("GUEST_AUTOBOOT").unwrap();
        assert!(autoboot.parse_text("a", "yes").is_err());
        assert_eq!(autoboot.parse_text("a", "0").unwrap(), Value::Bool(false));
        let kind = by_cli("xen-type").unwrap();
        assert_eq!(kind.parse_text("t", "").unwrap(), Value::Unset);
        let e = kind.parse_text("guest.type", "pvhvm").unwrap_err().to_string();
        assert!(e.contains("guest.type") && e.contains("pvh, pv, hvm"), "{e}");
        let cmdline = by_toml("guest.cmdline").unwrap();
        assert_eq!(
            cmdline.parse_text("c", " console=hvc0   rw ").unwrap(),
            Value::Text("console=hvc0 rw".into())
        );
    }

    /// README.md's settings table is [`markdown_table`]. Run with
    /// `XENGUEST_BLESS_README=1` to rewrite it after changing a declaration.
    #[test]
    fn readme_table_matches_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let begin = "<!-- settings table: generated from src/settings.rs -->\n";
        let end = "<!-- end of settings table -->";
        let start = readme.find(begin).expect("README has the settings table markers") + begin.len();
        let stop = start + readme[start..].find(end).expect("end marker");
        let expected = markdown_table();
        if readme[start..stop] == expected {
            return;
        }
        if std::env::var_os("XENGUEST_BLESS_README").is_some() {
            let updated = format!("{}{expected}{}", &readme[..start], &readme[stop..]);
            std::fs::write(path, updated).unwrap();
            return;
        }
        panic!("README.md's settings table is out of date: run `XENGUEST_BLESS_README=1 cargo test --lib readme`, or replace it with:\n{expected}");
    }
}
