//! The typed operations every front end lowers to.
//!
//! A command-line option (`--xen-memory=512`), a TOML key (`guest.memory`)
//! and a `BitBake` variable (through `build --set`) all become an [`Op`];
//! [`Op::apply`] is the one implementation of each rule. Settings (one
//! value each) are declared once in [`crate::settings`] and become
//! [`Op::Set`]; the options here are the other operations: lists of files,
//! partitions, resets.

use std::path::{Path, PathBuf};

use crate::config::{DiskConfig, Params, XlConfig, XlValue, DEFAULT_GUEST_CFG};
use crate::error::{Error, Result};
use crate::image::{Blob, Image, Stage};
use crate::settings::{self, Kind, Setting, Target, Value, DISK, FILES, GUEST, INIT, META, XEN};
use crate::validate::{self, Partition};

/// One modification of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `--set-param=K=V` (set) or `--set-param=K` (remove).
    SetParam {
        /// Parameter name.
        key: String,
        /// New value; `None` removes it.
        value: Option<String>,
    },
    /// `--guest-reset-config`: default `params.cfg`.
    GuestResetConfig,
    /// `--xen-reset-config`: default `guest.cfg`.
    XenResetConfig,
    /// A declared setting (`--xen-memory=512`, `guest.memory = 512`).
    Set {
        /// Its declaration.
        setting: &'static Setting,
        /// The checked value.
        value: Value,
    },
    /// `--xen-clean-extra`.
    XenCleanExtra,
    /// `--xen-extra=ARG`.
    XenExtra(String),
    /// Any other xl setting (TOML `[xen.settings]`).
    XenSet {
        /// xl key.
        key: String,
        /// Its value.
        value: XlValue,
    },
    /// `--xen-append=F`: copy F into `guest.d/`.
    XenAppend(PathBuf),
    /// `--xen-add-file=SRC:DST`.
    XenAddFile {
        /// Input file.
        src: PathBuf,
        /// Name under `files/`.
        dst: String,
    },
    /// `--xen-rm-file=DST`.
    XenRmFile(String),
    /// `--init-pre=F`, `--init-script=F`, `--init-post=F`,
    /// `--init-health=F`.
    Init {
        /// Which directory.
        stage: Stage,
        /// Input script.
        src: PathBuf,
    },
    /// `--disk-reset-config`.
    DiskResetConfig,
    /// `--disk-add-part=ID:SIZE:FS:CONTENT`.
    DiskAddPart(Partition),
    /// `--disk-rm-part=ID`.
    DiskRmPart(u8),
    /// `--disk-keep-part=ID[:1|0]`: mark partition ID as persistent data
    /// (`DISK_PARTn_KEEP="1"`) or clear the mark.
    DiskKeepPart {
        /// Partition number, 1 to 4.
        number: u8,
        /// Whether its content survives updates.
        keep: bool,
    },
    /// `--disk-add-file=SRC:DST`.
    DiskAddFile {
        /// Input file.
        src: PathBuf,
        /// Name under `disk/`.
        dst: String,
    },
    /// `--disk-rm-file=DST`.
    DiskRmFile(String),
    /// `--image-add-sbom=SRC[:DST]`: copy the SBOM document SRC into
    /// `sbom/DST`.
    AddSbom {
        /// Input file.
        src: PathBuf,
        /// Name under `sbom/`.
        dst: String,
    },
}

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// `--opt`, no value.
    Flag,
    /// `--opt=VALUE`; the value may be empty where the option has an empty
    /// form (see the help).
    Value,
}

/// One command-line option that lowers to an [`Op`].
#[derive(Debug, Clone, Copy)]
pub struct OptionDef {
    /// Long name without `--`.
    pub name: &'static str,
    /// Value placeholder.
    pub value_name: &'static str,
    /// Flag or value.
    pub arity: Arity,
    /// One-line help.
    pub help: &'static str,
    /// Help heading.
    pub heading: &'static str,
}

macro_rules! opt {
    ($name:literal, $vn:literal, $arity:ident, $heading:ident, $help:literal) => {
        OptionDef {
            name: $name,
            value_name: $vn,
            arity: Arity::$arity,
            help: $help,
            heading: $heading,
        }
    };
}

/// The options that are not settings (lists, resets), in help order.
const OTHER_OPTIONS: &[OptionDef] = &[
    opt!("image-add-sbom", "SRC[:DST]", Value, META, "Add the SBOM document SRC (SPDX, CycloneDX) as sbom/DST (DST defaults to SRC's basename): listed in the manifest, so signed"),
    opt!("guest-reset-config", "", Flag, GUEST, "Reset params.cfg to the default (also spelt --guest-config-reset)"),
    opt!("guest-config-reset", "", Flag, GUEST, "Same as --guest-reset-config (the classic tool's spelling)"),
    opt!("set-param", "PARAM[=VALUE]", Value, GUEST, "Set PARAM to VALUE in params.cfg; without =VALUE (or with an empty one), remove PARAM. E.g. GUEST_AUTOBOOT=0, XENGUEST_NETWORK_TYPE=bridge"),
    opt!("xen-reset-config", "", Flag, XEN, "Reset guest.cfg to the default"),
    opt!("xen-clean-extra", "", Flag, XEN, "Set the guest command line (extra) to an empty string"),
    opt!("xen-extra", "ARG", Value, XEN, "Append ARG to the guest command line, space-separated; repeat to add more"),
    opt!("xen-append", "FILE", Value, XEN, "Copy FILE into guest.d/ (its basename); the host appends it to guest.cfg"),
    opt!("xen-add-file", "SRC[:DST]", Value, FILES, "Add file SRC as files/DST (DST defaults to SRC's basename and may contain directories)"),
    opt!("xen-rm-file", "DST", Value, FILES, "Remove files/DST"),
    opt!("init-pre", "FILE", Value, INIT, "Add FILE to init.pre/: run on the host before the guest is created"),
    opt!("init-script", "FILE", Value, INIT, "Add FILE to init.d/: run once the guest is created, still paused"),
    opt!("init-post", "FILE", Value, INIT, "Add FILE to init.post/: run once the guest is running"),
    opt!("init-health", "FILE", Value, INIT, "Add FILE to health.d/: a health check the host runs after xenguest-manager update until all succeed (else it rolls the guest back); not run at start"),
    opt!("disk-reset-config", "", Flag, DISK, "Reset disk.cfg to the default (no disk)"),
    opt!("disk-add-part", "ID:SIZE:FS:CONTENT", Value, DISK, "Add partition ID (1-4) of SIZE, formatted FS (vfat, ext2, ext3, ext4, swap or empty), initialised from disk file CONTENT (.img[.gz|.bz2] or .tar[.gz|.bz2|.xz], or empty)"),
    opt!("disk-rm-part", "ID", Value, DISK, "Remove partition ID (and its keep mark)"),
    opt!("disk-keep-part", "ID[:1|0]", Value, DISK, "Keep the content of partition ID across guest updates (DISK_PARTn_KEEP=\"1\": xenguest-manager update carries it to the new disk instead of writing it from the image); ID:0 clears the mark. The partition must be defined"),
    opt!("disk-add-file", "SRC[:DST]", Value, DISK, "Add file SRC as disk/DST, usable as partition CONTENT (DST defaults to SRC's basename)"),
    opt!("disk-rm-file", "DST", Value, DISK, "Remove disk/DST"),
];

/// The TOML lists whose items `build --set KEY=ITEM` appends, with the
/// option whose value syntax an item has.
pub const LIST_KEYS: &[(&str, &str)] = &[
    ("xen.config", "xen-append"),
    ("xen.files", "xen-add-file"),
    ("init.pre", "init-pre"),
    ("init.scripts", "init-script"),
    ("init.post", "init-post"),
    ("init.health", "init-health"),
    ("disk.files", "disk-add-file"),
    ("disk.partitions", "disk-add-part"),
    ("disk.keep", "disk-keep-part"),
    ("image.sbom", "image-add-sbom"),
];

/// Every image-modifying option, in help order: per heading, the
/// settings ([`settings::SETTINGS`]) and then the other options.
pub fn options() -> Vec<OptionDef> {
    let mut out = Vec::new();
    for heading in settings::HEADINGS {
        for s in settings::SETTINGS
            .iter()
            .filter(|s| s.heading == *heading && !s.cli.is_empty())
        {
            out.push(OptionDef {
                name: s.cli,
                value_name: s.value_name,
                arity: Arity::Value,
                help: s.help,
                heading: s.heading,
            });
        }
        out.extend(OTHER_OPTIONS.iter().filter(|d| d.heading == *heading).copied());
    }
    out
}

fn opt_name(name: &str) -> String {
    format!("--{name}")
}

/// Splits `SRC[:DST]` at the last `:`; DST defaults to SRC's basename.
fn src_dst(option: &str, value: &str) -> Result<(PathBuf, String)> {
    let (src, dst) = match value.rsplit_once(':') {
        Some((src, dst)) => (src, dst),
        None => (value, ""),
    };
    if src.is_empty() {
        return Err(Error::invalid(option, value, "no source file given - use `SRC[:DST]`"));
    }
    let dst = if dst.is_empty() {
        basename(option, src)?
    } else {
        dst.to_owned()
    };
    validate::member_name(option, &dst)?;
    Ok((PathBuf::from(src), dst))
}

fn basename(option: &str, src: &str) -> Result<String> {
    Path::new(src)
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid(option, src, "has no file name"))
}

impl Op {
    /// Parses one option (`name` without `--`; `value` is `None` when the
    /// option was given without `=`).
    pub fn parse(name: &str, value: Option<&str>) -> Result<Op> {
        Self::parse_as(name, value, &opt_name(name))
    }

    /// Parses one option, naming it `shown` in messages (`build --set`
    /// names the TOML key its value stands for).
    pub fn parse_as(name: &str, value: Option<&str>, shown: &str) -> Result<Op> {
        let option = shown;
        if let Some(setting) = settings::by_cli(name) {
            let v = value
                .ok_or_else(|| Error::Usage(format!("`{option}` needs a value: `{option}={}`", setting.value_name)))?;
            return Ok(Op::Set {
                setting,
                value: setting.parse_text(option, v)?,
            });
        }
        let def = OTHER_OPTIONS
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| Error::Usage(format!("unknown option `{option}`")))?;
        let v = match (def.arity, value) {
            (Arity::Flag, Some(v)) => return Err(Error::Usage(format!("`{option}` takes no value (got `{v}`)"))),
            (Arity::Flag, None) => "",
            (Arity::Value, None) => {
                return Err(Error::Usage(format!(
                    "`{option}` needs a value: `{option}={}`",
                    def.value_name
                )))
            }
            (Arity::Value, Some(v)) => v,
        };
        let non_empty = |what: &str| -> Result<()> {
            if v.is_empty() {
                Err(Error::invalid(option, v, format!("{what} is required")))
            } else {
                Ok(())
            }
        };
        Ok(match name {
            "guest-reset-config" | "guest-config-reset" => Op::GuestResetConfig,
            "set-param" => match v.split_once('=') {
                Some((key, value)) => Op::set_param(option, key, value)?,
                None => Op::set_param(option, v, "")?,
            },
            "xen-reset-config" => Op::XenResetConfig,
            "xen-clean-extra" => Op::XenCleanExtra,
            "xen-extra" => {
                non_empty("an argument")?;
                Op::XenExtra(validate::xl_string(option, v)?.to_owned())
            }
            "xen-append" => {
                non_empty("a file")?;
                basename(option, v)?;
                Op::XenAppend(PathBuf::from(v))
            }
            "xen-add-file" => {
                let (src, dst) = src_dst(option, v)?;
                Op::XenAddFile { src, dst }
            }
            "xen-rm-file" => Op::XenRmFile(validate::member_name(option, v)?.to_owned()),
            "init-pre" | "init-script" | "init-post" | "init-health" => {
                non_empty("a file")?;
                validate::file_name(option, &basename(option, v)?)?;
                let stage = match name {
                    "init-pre" => Stage::Pre,
                    "init-script" => Stage::Main,
                    "init-post" => Stage::Post,
                    _ => Stage::Health,
                };
                Op::Init {
                    stage,
                    src: PathBuf::from(v),
                }
            }
            "disk-reset-config" => Op::DiskResetConfig,
            "disk-add-part" => Op::DiskAddPart(Partition::parse(option, v)?),
            "disk-rm-part" => Op::DiskRmPart(u8::try_from(validate::number(option, v, 1, 4)?).unwrap_or(0)),
            "disk-keep-part" => {
                let (id, keep) = match v.split_once(':') {
                    None => (v, true),
                    Some((id, "1")) => (id, true),
                    Some((id, "0")) => (id, false),
                    Some(_) => {
                        return Err(Error::invalid(
                            option,
                            v,
                            "expected `ID` or `ID:1` (keep) or `ID:0` (do not keep), e.g. `2`",
                        ))
                    }
                };
                Op::DiskKeepPart {
                    number: u8::try_from(validate::number(option, id, 1, 4)?).unwrap_or(0),
                    keep,
                }
            }
            "disk-add-file" => {
                let (src, dst) = src_dst(option, v)?;
                validate::shell_value(option, &dst)?;
                Op::DiskAddFile { src, dst }
            }
            "disk-rm-file" => Op::DiskRmFile(validate::member_name(option, v)?.to_owned()),
            "image-add-sbom" => {
                let (src, dst) = src_dst(option, v)?;
                validate::file_name(option, &dst)?;
                Op::AddSbom { src, dst }
            }
            _ => return Err(Error::Usage(format!("unknown option `{option}`"))),
        })
    }

    /// Sets (or, with an empty value, removes) a `params.cfg` variable:
    /// `--set-param`, and `[params]` in the TOML as typed key and value.
    pub fn set_param(option: &str, key: &str, value: &str) -> Result<Op> {
        validate::shell_name(option, key)?;
        if !value.is_empty() {
            validate::shell_value(option, value)?;
            validate::param_value(option, key, value)?;
        }
        Ok(Op::SetParam {
            key: key.to_owned(),
            value: (!value.is_empty()).then(|| value.to_owned()),
        })
    }

    /// The option this operation came from, for messages.
    pub fn option(&self) -> String {
        let name = match self {
            Op::Set { setting, .. } if setting.cli.is_empty() => return setting.toml.to_owned(),
            Op::Set { setting, .. } => setting.cli,
            Op::SetParam { .. } => "set-param",
            Op::GuestResetConfig => "guest-reset-config",
            Op::XenResetConfig => "xen-reset-config",
            Op::XenCleanExtra => "xen-clean-extra",
            Op::XenExtra(_) => "xen-extra",
            Op::XenSet { .. } => return "xen.settings".to_owned(),
            Op::XenAppend(_) => "xen-append",
            Op::XenAddFile { .. } => "xen-add-file",
            Op::XenRmFile(_) => "xen-rm-file",
            Op::Init { stage: Stage::Pre, .. } => "init-pre",
            Op::Init { stage: Stage::Main, .. } => "init-script",
            Op::Init { stage: Stage::Post, .. } => "init-post",
            Op::Init {
                stage: Stage::Health, ..
            } => "init-health",
            Op::DiskResetConfig => "disk-reset-config",
            Op::DiskAddPart(_) => "disk-add-part",
            Op::DiskRmPart(_) => "disk-rm-part",
            Op::DiskKeepPart { .. } => "disk-keep-part",
            Op::DiskAddFile { .. } => "disk-add-file",
            Op::AddSbom { .. } => "image-add-sbom",
            Op::DiskRmFile(_) => "disk-rm-file",
        };
        opt_name(name)
    }

    /// The input file this operation reads, if any.
    pub fn input(&self) -> Option<&Path> {
        match self {
            Op::Set {
                value: Value::File(p), ..
            }
            | Op::XenAppend(p)
            | Op::XenAddFile { src: p, .. }
            | Op::Init { src: p, .. }
            | Op::AddSbom { src: p, .. }
            | Op::DiskAddFile { src: p, .. } => Some(p),
            _ => None,
        }
    }

    /// Applies the operation to `image`.
    pub fn apply(&self, image: &mut Image) -> Result<()> {
        self.apply_as(image, &self.option())
    }

    /// Applies the operation, naming it `option` in messages (the TOML
    /// key it came from, for `build`).
    pub fn apply_as(&self, image: &mut Image, option: &str) -> Result<()> {
        match self {
            Op::Set { setting, value } => apply_setting(image, option, setting, value)?,
            Op::SetParam { key, value } => {
                image
                    .params
                    .get_or_insert_with(|| Params::parse(""))
                    .set(option, key, value.as_deref())?;
            }
            Op::GuestResetConfig => image.params = Some(Params::default()),
            Op::XenResetConfig => image.guest_cfg = Some(XlConfig::parse(DEFAULT_GUEST_CFG)),
            Op::XenCleanExtra => xen_set(image, "extra", &XlValue::Str(String::new()))?,
            Op::XenExtra(arg) => {
                let current = xen_get_any(image, "extra")?
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let joined = if current.is_empty() {
                    arg.clone()
                } else {
                    format!("{current} {arg}")
                };
                xen_set(image, "extra", &XlValue::Str(joined))?;
            }
            Op::XenSet { key, value } => xen_set(image, key, value)?,
            Op::XenAppend(src) => {
                let name = basename(option, &src.to_string_lossy())?;
                validate::file_name(option, &name)?;
                image.guest_d.insert(name, Blob::from_input(option, src)?);
            }
            Op::XenAddFile { src, dst } => {
                image.files.insert(dst.clone(), Blob::from_input(option, src)?);
            }
            Op::XenRmFile(dst) => {
                image.files.remove(dst);
            }
            Op::Init { stage, src } => {
                let name = basename(option, &src.to_string_lossy())?;
                validate::file_name(option, &name)?;
                let blob = Blob::from_input(option, src)?;
                image.init_mut(*stage).insert(name, blob);
            }
            Op::DiskResetConfig => image.disk = Some(DiskConfig::default()),
            Op::DiskAddPart(part) => {
                // Name the disk size the way the user names settings: an
                // option on the command line, a TOML key in a TOML.
                let size = settings::SETTINGS
                    .iter()
                    .find(|s| s.target == Target::Disk("DISK_SIZE"))
                    .map_or_else(String::new, |s| {
                        if option.starts_with("--set ") {
                            format!("--set {}", s.toml)
                        } else if option.starts_with("--") {
                            opt_name(s.cli)
                        } else {
                            s.toml.to_owned()
                        }
                    });
                disk(image).add_partition(option, part, &size)?;
            }
            Op::DiskRmPart(n) => disk(image).remove_partition(*n),
            Op::DiskKeepPart { number, keep } => disk(image).set_kept(option, *number, *keep)?,
            Op::DiskAddFile { src, dst } => {
                image.disk_files.insert(dst.clone(), Blob::from_input(option, src)?);
            }
            Op::DiskRmFile(dst) => {
                image.disk_files.remove(dst);
            }
            Op::AddSbom { src, dst } => {
                let blob = Blob::from_input(option, src)?;
                image.others.insert(format!("{}{dst}", crate::image::SBOM_DIR), blob);
            }
        }
        Ok(())
    }
}

/// Stores a setting's value where its declaration says.
fn apply_setting(image: &mut Image, option: &str, setting: &Setting, value: &Value) -> Result<()> {
    match setting.target {
        Target::Xl(key) => match (setting.kind, value) {
            (Kind::File { member }, Value::File(src)) => {
                let blob = Blob::from_input(option, src)?;
                image.files.insert(member.to_owned(), blob);
                xen_set(image, key, &XlValue::Str(format!("files/{member}")))
            }
            (Kind::File { member }, _) => {
                image.files.remove(member);
                set_or_disable(image, key, None)
            }
            _ => set_or_disable(image, key, setting.xl_value(value)),
        },
        Target::Param(name) => image.params.get_or_insert_with(|| Params::parse("")).set(
            option,
            name,
            setting.shell_value(value).as_deref(),
        ),
        Target::Disk(name) => {
            let text = setting.shell_value(value).unwrap_or_default();
            disk(image).set(option, name, &text)
        }
        Target::Meta(field) => {
            let meta = image.meta.get_or_insert_with(Default::default);
            meta.set(field, setting.meta_value(value));
            if meta.is_empty() {
                image.meta = None;
            }
            Ok(())
        }
    }
}

fn disk(image: &mut Image) -> &mut DiskConfig {
    image.disk.get_or_insert_with(|| DiskConfig::parse(""))
}

/// Where an xl setting lives: `guest.cfg` when it mentions the key,
/// otherwise `guest.d/KEY.cfg`.
enum Home {
    GuestCfg,
    GuestD(String),
}

fn home(image: &Image, key: &str) -> Home {
    match &image.guest_cfg {
        Some(cfg) if cfg.mentions(key) => Home::GuestCfg,
        _ => Home::GuestD(format!("{key}.cfg")),
    }
}

fn guest_d_config(image: &Image, file: &str) -> Result<Option<XlConfig>> {
    image
        .guest_d
        .get(file)
        .map(|blob| blob.read_text(&format!("guest.d/{file}")).map(|t| XlConfig::parse(&t)))
        .transpose()
}

fn edit_xen(image: &mut Image, key: &str, create: bool, edit: impl FnOnce(&mut XlConfig)) -> Result<()> {
    match home(image, key) {
        Home::GuestCfg => {
            if let Some(cfg) = image.guest_cfg.as_mut() {
                edit(cfg);
            }
        }
        Home::GuestD(file) => {
            let existing = guest_d_config(image, &file)?;
            if existing.is_none() && !create {
                return Ok(());
            }
            let mut cfg = existing.unwrap_or_default();
            edit(&mut cfg);
            image.guest_d.insert(file, Blob::bytes(cfg.render()));
        }
    }
    Ok(())
}

fn xen_set(image: &mut Image, key: &str, value: &XlValue) -> Result<()> {
    edit_xen(image, key, true, |cfg| cfg.set(key, value))
}

fn xen_get_any(image: &Image, key: &str) -> Result<Option<XlValue>> {
    Ok(match home(image, key) {
        Home::GuestCfg => image.guest_cfg.as_ref().and_then(|c| c.get_any(key)),
        Home::GuestD(file) => guest_d_config(image, &file)?.and_then(|c| c.get_any(key)),
    })
}

fn set_or_disable(image: &mut Image, key: &str, value: Option<XlValue>) -> Result<()> {
    match value {
        Some(v) => xen_set(image, key, &v),
        None => edit_xen(image, key, false, |cfg| cfg.disable(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_parses_or_names_itself() {
        for def in options() {
            let err = match def.arity {
                Arity::Flag => Op::parse(def.name, Some("x")).unwrap_err(),
                Arity::Value => Op::parse(def.name, None).unwrap_err(),
            };
            assert!(err.to_string().contains(&format!("--{}", def.name)), "{err}");
        }
    }

    #[test]
    fn values_are_checked_at_parse_time() {
        assert_eq!(
            Op::parse("xen-memory", Some("512")).unwrap(),
            Op::Set {
                setting: settings::by_cli("xen-memory").unwrap(),
                value: Value::Number(512)
            }
        );
        for (name, v) in [
            ("xen-memory", "-1"),
            ("xen-memory", "lots"),
            ("xen-vcpus", "0"),
            ("set-param", "A=$(reboot)"),
            ("set-param", "1A=1"),
            ("xen-name", "a\"b"),
            ("xen-disk", "/dev/x'y"),
            ("xen-add-file", "a:../../x"),
            ("xen-add-file", "a:/etc/x"),
            ("disk-add-file", ":x"),
            ("disk-add-part", "9:1G::"),
            ("disk-rm-part", "5"),
            ("disk-keep-part", "0"),
            ("disk-keep-part", "5"),
            ("disk-keep-part", "1:yes"),
            ("disk-keep-part", ""),
            ("disk-size", "1T"),
            ("disk-device", "/dev/`id`"),
            ("set-param", "GUEST_AUTOBOOT=yes"),
            ("set-param", "XENGUEST_NETWORK_TYPE=brdge"),
        ] {
            assert!(Op::parse(name, Some(v)).is_err(), "--{name}={v} accepted");
        }
        assert_eq!(
            Op::parse("xen-add-file", Some("dir/kea.json")).unwrap(),
            Op::XenAddFile {
                src: "dir/kea.json".into(),
                dst: "kea.json".into()
            }
        );
        assert_eq!(
            Op::parse("set-param", Some("A=")).unwrap(),
            Op::SetParam {
                key: "A".into(),
                value: None
            }
        );
    }

    #[test]
    fn xen_settings_follow_the_classic_layout() {
        let mut image = Image::new_default();
        let set = |cli: &str, v: &str| Op::parse(cli, Some(v)).unwrap();
        set("xen-name", "demo").apply(&mut image).unwrap();
        Op::XenCleanExtra.apply(&mut image).unwrap();
        Op::XenExtra("console=hvc0".into()).apply(&mut image).unwrap();
        Op::XenExtra("rw".into()).apply(&mut image).unwrap();
        let cfg = image.guest_cfg.as_ref().unwrap();
        assert_eq!(cfg.get("name"), Some(XlValue::Str("demo".into())));
        assert_eq!(cfg.get("extra"), Some(XlValue::Str("console=hvc0 rw".into())));
        Op::XenSet {
            key: "vif".into(),
            value: XlValue::List(vec!["bridge=xenbr0".into()]),
        }
        .apply(&mut image)
        .unwrap();
        let vif = image.guest_d["vif.cfg"].read_text("vif").unwrap();
        assert_eq!(vif, "vif = ['bridge=xenbr0']\n");
        set("xen-root", "").apply(&mut image).unwrap();
        set("xen-disk", "/dev/vg/demo").apply(&mut image).unwrap();
        assert!(image
            .guest_cfg
            .as_ref()
            .unwrap()
            .render()
            .contains("\ndisk = ['phy:/dev/vg/demo,xvda,w']\n"));
    }
}
