//! The declarative per-guest TOML description (`build`) and its inverse
//! (`export`).
//!
//! The TOML is parsed strictly (unknown keys are errors with line and
//! column), `${NAME}` references are replaced by `--define`s, paths are
//! resolved against the TOML's directory, and the result is lowered to the
//! same [`Op`]s the command-line options produce, through the same parser,
//! so every rule has one implementation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::XlValue;
use crate::error::{Error, Result};
use crate::image::{Image, Stage};
use crate::ops::Op;
use crate::validate;

/// A guest description.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuestSpec {
    /// Basic guest settings.
    #[serde(default)]
    pub guest: Guest,
    /// Further `params.cfg` entries.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// xl configuration extras.
    #[serde(default)]
    pub xen: Xen,
    /// Init scripts.
    #[serde(default)]
    pub init: Init,
    /// The guest disk.
    #[serde(default)]
    pub disk: Disk,
}

/// `[guest]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    /// xl `name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Memory in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Virtual CPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<i64>,
    /// `GUEST_AUTOBOOT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoboot: Option<bool>,
    /// xl `root`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// xl `extra` (the whole command line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<String>,
    /// Kernel file, stored as `files/kernel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Device tree, stored as `files/guest.dtb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_tree: Option<String>,
    /// Ramdisk, stored as `files/ramdisk.img`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<String>,
}

/// `[xen]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Xen {
    /// Files copied into `guest.d/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Other xl settings: integers, strings or lists of strings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, toml::Value>,
    /// `files/<destination> = source`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
}

/// `[init]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Init {
    /// `init.pre/` scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre: Vec<String>,
    /// `init.d/` scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<String>,
    /// `init.post/` scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post: Vec<String>,
}

/// `[disk]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Disk size (`4G`, `500M`, `4`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Disk device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// `disk/<destination> = source`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// Partitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<PartitionSpec>,
}

/// `[[disk.partitions]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// 1 to 4.
    pub number: i64,
    /// Size (`3G`, `500M`).
    pub size: String,
    /// File system, empty for none.
    #[serde(default)]
    pub fs: String,
    /// A `disk.files` destination, or empty.
    #[serde(default)]
    pub content: String,
}

/// Replaces `${NAME}` with its definition; `$${` stands for a literal `${`.
pub fn substitute(text: &str, defines: &BTreeMap<String, String>, key: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix("${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| format!("`{key}`: unterminated `${{` in `{text}`"))?;
            let name = &tail[..end];
            let value = defines
                .get(name)
                .ok_or_else(|| format!("`{key}`: `${{{name}}}` is not defined - pass `--define {name}=VALUE`"))?;
            out.push_str(value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A TOML file being lowered: its path (for messages and relative paths)
/// and the defines.
struct Lowering<'a> {
    path: &'a Path,
    base: PathBuf,
    defines: &'a BTreeMap<String, String>,
    ops: Vec<(String, Op)>,
}

impl Lowering<'_> {
    fn err(&self, message: String) -> Error {
        Error::Spec {
            path: self.path.to_path_buf(),
            message,
        }
    }

    fn text(&self, key: &str, value: &str) -> Result<String> {
        substitute(value, self.defines, key).map_err(|m| self.err(m))
    }

    fn file(&self, key: &str, value: &str) -> Result<String> {
        let value = self.text(key, value)?;
        if value.is_empty() {
            return Err(self.err(format!("`{key}`: the file name is empty")));
        }
        let path = self.base.join(&value);
        path.to_str()
            .map(str::to_owned)
            .ok_or_else(|| self.err(format!("`{key}`: path `{}` is not UTF-8", path.display())))
    }

    fn op(&mut self, key: &str, option: &str, value: Option<&str>) -> Result<()> {
        let op = Op::parse(option, value).map_err(|e| self.err(format!("`{key}`: {e}")))?;
        self.ops.push((key.to_owned(), op));
        Ok(())
    }

    fn push(&mut self, key: &str, op: Op) {
        self.ops.push((key.to_owned(), op));
    }
}

impl GuestSpec {
    /// Parses TOML text (`path` names it in messages).
    pub fn parse(text: &str, path: &Path) -> Result<GuestSpec> {
        toml::from_str(text).map_err(|e| Error::Spec {
            path: path.to_path_buf(),
            message: format_toml_error(&e, text),
        })
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<GuestSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
        Self::parse(&text, path)
    }

    /// Lowers the description to operations, in the order they apply to a
    /// default image. Each comes with the TOML key it came from.
    pub fn lower(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Vec<(String, Op)>> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut l = Lowering {
            path,
            base,
            defines,
            ops: Vec::new(),
        };
        let g = &self.guest;
        if let Some(name) = &g.name {
            let v = l.text("guest.name", name)?;
            if v.is_empty() {
                return Err(l.err("`guest.name`: the name is empty - leave the key out instead".into()));
            }
            l.op("guest.name", "xen-name", Some(&v))?;
        }
        if let Some(m) = g.memory {
            l.op("guest.memory", "xen-memory", Some(&m.to_string()))?;
        }
        if let Some(n) = g.vcpus {
            l.op("guest.vcpus", "xen-vcpus", Some(&n.to_string()))?;
        }
        if let Some(a) = g.autoboot {
            l.op(
                "guest.autoboot",
                "set-param",
                Some(if a { "GUEST_AUTOBOOT=1" } else { "GUEST_AUTOBOOT=0" }),
            )?;
        }
        if let Some(root) = &g.root {
            let v = l.text("guest.root", root)?;
            l.op("guest.root", "xen-root", Some(&v))?;
        }
        if let Some(cmdline) = &g.cmdline {
            let v = l.text("guest.cmdline", cmdline)?;
            l.op("guest.cmdline", "xen-clean-extra", None)?;
            for arg in v.split(' ').filter(|a| !a.is_empty()) {
                l.op("guest.cmdline", "xen-extra", Some(arg))?;
            }
        }
        for (key, option, value) in [
            ("guest.kernel", "xen-kernel", &g.kernel),
            ("guest.device_tree", "xen-device-tree", &g.device_tree),
            ("guest.ramdisk", "xen-ramdisk", &g.ramdisk),
        ] {
            if let Some(v) = value {
                let p = l.file(key, v)?;
                l.op(key, option, Some(&p))?;
            }
        }
        for (k, v) in &self.params {
            let key = format!("params.{k}");
            // Checked here: `--set-param` splits at the first `=`, so a key
            // `A=B` would otherwise silently become `A="B=..."`.
            validate::shell_name(&key, k).map_err(|e| l.err(e.to_string()))?;
            let v = l.text(&key, v)?;
            if v.is_empty() {
                return Err(l.err(format!("`{key}`: the value is empty - leave the key out instead")));
            }
            l.op(&key, "set-param", Some(&format!("{k}={v}")))?;
        }
        for (i, f) in self.xen.config.iter().enumerate() {
            let key = format!("xen.config[{i}]");
            let p = l.file(&key, f)?;
            l.op(&key, "xen-append", Some(&p))?;
        }
        for (k, v) in &self.xen.settings {
            let key = format!("xen.settings.{k}");
            let value = xl_setting(&l, &key, k, v)?;
            l.push(&key, Op::XenSet { key: k.clone(), value });
        }
        for (dst, src) in &self.xen.files {
            let key = format!("xen.files.\"{dst}\"");
            let dst = l.text(&key, dst)?;
            let src = l.file(&key, src)?;
            validate::member_name(&key, &dst).map_err(|e| l.err(e.to_string()))?;
            // Not through `SRC:DST` text: a `:` in DST would move the split.
            l.push(&key, Op::XenAddFile { src: src.into(), dst });
        }
        for (list, option, name) in [
            (&self.init.pre, "init-pre", "init.pre"),
            (&self.init.scripts, "init-script", "init.scripts"),
            (&self.init.post, "init-post", "init.post"),
        ] {
            for (i, f) in list.iter().enumerate() {
                let key = format!("{name}[{i}]");
                let p = l.file(&key, f)?;
                l.op(&key, option, Some(&p))?;
            }
        }
        let d = &self.disk;
        if let Some(size) = &d.size {
            let v = l.text("disk.size", size)?;
            l.op("disk.size", "disk-size", Some(&v))?;
        }
        if let Some(dev) = &d.device {
            let v = l.text("disk.device", dev)?;
            l.op("disk.device", "disk-device", Some(&v))?;
        }
        for (dst, src) in &d.files {
            let key = format!("disk.files.\"{dst}\"");
            let dst = l.text(&key, dst)?;
            let src = l.file(&key, src)?;
            validate::member_name(&key, &dst).map_err(|e| l.err(e.to_string()))?;
            validate::shell_value(&key, &dst).map_err(|e| l.err(e.to_string()))?;
            l.push(&key, Op::DiskAddFile { src: src.into(), dst });
        }
        for (i, p) in d.partitions.iter().enumerate() {
            let key = format!("disk.partitions[{i}]");
            let size = l.text(&key, &p.size)?;
            let fs = l.text(&key, &p.fs)?;
            let content = l.text(&key, &p.content)?;
            for (what, v) in [("size", &size), ("fs", &fs), ("content", &content)] {
                if v.contains(':') {
                    return Err(l.err(format!("`{key}.{what}`: `{v}` cannot contain `:`")));
                }
            }
            l.op(
                &key,
                "disk-add-part",
                Some(&format!("{}:{size}:{fs}:{content}", p.number)),
            )?;
        }
        Ok(l.ops)
    }

    /// Builds the image this description gives.
    pub fn to_image(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Image> {
        let ops = self.lower(path, defines)?;
        let mut image = Image::new_default();
        for (key, op) in &ops {
            op.apply(&mut image).map_err(|e| Error::Spec {
                path: path.to_path_buf(),
                message: format!("`{key}`: {e}"),
            })?;
        }
        let problems = crate::ops::problems(&image);
        if let Some(first) = problems.first() {
            return Err(Error::Spec {
                path: path.to_path_buf(),
                message: first.clone(),
            });
        }
        Ok(image)
    }
}

const TYPED_XL_KEYS: &[(&str, &str)] = &[
    ("name", "guest.name"),
    ("memory", "guest.memory"),
    ("vcpus", "guest.vcpus"),
    ("extra", "guest.cmdline"),
    ("root", "guest.root"),
    ("kernel", "guest.kernel"),
    ("device_tree", "guest.device_tree"),
    ("ramdisk", "guest.ramdisk"),
    ("disk", "the host manager (it sets the disk)"),
];

fn xl_setting(l: &Lowering<'_>, key: &str, name: &str, value: &toml::Value) -> Result<XlValue> {
    if let Some((_, instead)) = TYPED_XL_KEYS.iter().find(|(k, _)| *k == name) {
        return Err(l.err(format!("`{key}`: set `{name}` with {instead}, not in xen.settings")));
    }
    let name_ok = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(l.err(format!("`{key}`: `{name}` is not an xl setting name")));
    }
    let item = |v: &str| -> Result<String> {
        let v = l.text(key, v)?;
        validate::xl_string(key, &v).map_err(|e| l.err(e.to_string()))?;
        if v.contains('\'') {
            return Err(l.err(format!("`{key}`: `{v}` cannot contain `'`")));
        }
        Ok(v)
    };
    match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map(XlValue::Number)
            .map_err(|_| l.err(format!("`{key}`: {n} is negative"))),
        toml::Value::String(s) => item(s).map(XlValue::Str),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => item(s),
                _ => Err(l.err(format!("`{key}`: list elements must be strings"))),
            })
            .collect::<Result<Vec<_>>>()
            .map(XlValue::List),
        _ => Err(l.err(format!("`{key}`: use an integer, a string or a list of strings"))),
    }
}

fn format_toml_error(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim_end().to_owned();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start.min(text.len())).unwrap_or_default();
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            // toml's type errors do not name the key: show the line itself.
            let source = text.lines().nth(line - 1).unwrap_or_default().trim();
            if source.is_empty() || message.contains(source) {
                format!("line {line}, column {column}: {message}")
            } else {
                format!("line {line}, column {column}: {message} (in `{source}`)")
            }
        }
        None => message,
    }
}

/// Turns an image into a description plus the files it names
/// (destination-relative paths under the export directory, and the blobs
/// to write there).
pub fn export(image: &Image) -> Result<(GuestSpec, Vec<(String, crate::image::Blob)>)> {
    let mut spec = GuestSpec::default();
    let mut files = Vec::new();
    let mut taken_files = std::collections::BTreeSet::new();
    let cfg = image.guest_cfg.clone().unwrap_or_default();
    // Merge guest.d/KEY.cfg files we can express as settings; keep the
    // others as files.
    let mut settings: BTreeMap<String, XlValue> = BTreeMap::new();
    for (k, raw) in cfg.settings() {
        if let Some(v) = XlValue::parse(raw) {
            settings.insert(k.to_owned(), v);
        } else {
            return Err(Error::Refused(format!(
                "guest.cfg: cannot export setting `{k} = {raw}`"
            )));
        }
    }
    for (name, blob) in &image.guest_d {
        let text = blob.read_text(&format!("guest.d/{name}"))?;
        let parsed = crate::config::XlConfig::parse(&text);
        // A `KEY.cfg` file (as `--xen-*` options make them) whose only
        // line of configuration is a setting of KEY becomes that setting;
        // one with no active line at all (a disabled setting) adds nothing
        // to the merged configuration and is dropped. Anything else is
        // kept as a file.
        let settings_here: Vec<(&str, &str)> = parsed.settings().collect();
        let config_lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        let own_key = name.strip_suffix(".cfg");
        let folded = match (own_key, settings_here.as_slice(), config_lines) {
            (Some(_), [], 0) => Some(None),
            (Some(key), [(k, raw)], 1) if *k == key => XlValue::parse(raw).map(|v| Some((key, v))),
            _ => None,
        };
        match folded {
            Some(Some((key, value))) => {
                settings.insert(key.to_owned(), value);
            }
            Some(None) => {}
            None => {
                let dest = format!("guest.d/{name}");
                spec.xen.config.push(dest.clone());
                files.push((dest, blob.clone()));
            }
        }
    }
    let g = &mut spec.guest;
    for (k, v) in settings {
        match (k.as_str(), v) {
            ("name", XlValue::Str(s)) => g.name = Some(s),
            ("memory", XlValue::Number(n)) => g.memory = i64::try_from(n).ok(),
            ("vcpus", XlValue::Number(n)) => g.vcpus = i64::try_from(n).ok(),
            ("extra", XlValue::Str(s)) => g.cmdline = Some(s),
            ("root", XlValue::Str(s)) => g.root = Some(s),
            ("kernel", XlValue::Str(s)) if s == "files/kernel" => g.kernel = Some(s),
            ("device_tree", XlValue::Str(s)) if s == "files/guest.dtb" => g.device_tree = Some(s),
            ("ramdisk", XlValue::Str(s)) if s == "files/ramdisk.img" => g.ramdisk = Some(s),
            ("disk", _) => {} // set by the host manager
            (k, v) => {
                let value = match v {
                    XlValue::Number(n) => toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                    XlValue::Str(s) => toml::Value::String(s),
                    XlValue::List(items) => toml::Value::Array(items.into_iter().map(toml::Value::String).collect()),
                };
                spec.xen.settings.insert(k.to_owned(), value);
            }
        }
    }
    for (field, file) in [
        (&g.kernel, "kernel"),
        (&g.device_tree, "guest.dtb"),
        (&g.ramdisk, "ramdisk.img"),
    ] {
        if field.is_some() {
            taken_files.insert(file.to_owned());
        }
    }
    for (name, blob) in &image.files {
        files.push((format!("files/{name}"), blob.clone()));
        if !taken_files.contains(name) {
            spec.xen.files.insert(name.clone(), format!("files/{name}"));
        }
    }
    if let Some(params) = &image.params {
        for (k, v) in params.0.vars() {
            if k == "GUEST_AUTOBOOT" {
                spec.guest.autoboot = Some(v != "0");
            } else {
                spec.params.insert(k.to_owned(), v.to_owned());
            }
        }
        if params.0.get("GUEST_AUTOBOOT").is_none() {
            return Err(Error::Refused(
                "params.cfg has no GUEST_AUTOBOOT; the TOML cannot express that".into(),
            ));
        }
    }
    for stage in Stage::ALL {
        for (name, blob) in image.init(stage) {
            let dest = format!("{}/{name}", stage.dir());
            files.push((dest.clone(), blob.clone()));
            match stage {
                Stage::Pre => spec.init.pre.push(dest),
                Stage::Main => spec.init.scripts.push(dest),
                Stage::Post => spec.init.post.push(dest),
            }
        }
    }
    if let Some(disk) = &image.disk {
        let size = disk.size_mb()?;
        if size > 0 {
            spec.disk.size = Some(format!("{size}M"));
        }
        if let Some(dev) = disk.0.get("DISK_DEVICE").filter(|d| !d.is_empty()) {
            spec.disk.device = Some(dev.to_owned());
        }
        for p in disk.partitions()? {
            spec.disk.partitions.push(PartitionSpec {
                number: i64::from(p.number),
                size: p.size,
                fs: p.fs,
                content: p.content,
            });
        }
    }
    for (name, blob) in &image.disk_files {
        files.push((format!("disk/{name}"), blob.clone()));
        spec.disk.files.insert(name.clone(), format!("disk/{name}"));
    }
    if !image.others.is_empty() {
        let names: Vec<&str> = image.others.keys().map(String::as_str).collect();
        return Err(Error::Refused(format!(
            "the image has members the TOML cannot express: `{}`",
            names.join("`, `")
        )));
    }
    Ok((spec, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn substitution() {
        let d = defs(&[("DEPLOY", "/deploy"), ("X", "1")]);
        assert_eq!(substitute("${DEPLOY}/Image-${X}", &d, "k").unwrap(), "/deploy/Image-1");
        assert_eq!(substitute("cost $5 $${X}", &d, "k").unwrap(), "cost $5 ${X}");
        let e = substitute("${NOPE}", &d, "guest.kernel").unwrap_err();
        assert!(
            e.contains("guest.kernel") && e.contains("NOPE") && e.contains("--define"),
            "{e}"
        );
        assert!(substitute("${X", &d, "k").is_err());
    }

    #[test]
    fn unknown_keys_name_line_and_column() {
        let e = GuestSpec::parse("[guest]\nmemory = 512\nmemroy = 1\n", Path::new("g.toml")).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("line 3") && m.contains("memroy"), "{m}");
        let e = GuestSpec::parse("[guest]\nmemory = \"lots\"\n", Path::new("g.toml")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn export_folds_only_plain_key_files_into_settings() {
        let mut image = Image::new_default();
        let blob = crate::image::Blob::bytes;
        image
            .guest_d
            .insert("vif.cfg".into(), blob("# net\nvif = ['bridge=xenbr0']\n"));
        image
            .guest_d
            .insert("kernel.cfg".into(), blob("# kernel = \"files/kernel\"\n"));
        image.guest_d.insert("irqs.cfg".into(), blob("irqs = [ 1,\n 2 ]\n"));
        image.guest_d.insert("extra.cfg".into(), blob("vif = ['x']\n"));
        let (spec, files) = export(&image).unwrap();
        assert_eq!(
            spec.xen.settings.get("vif"),
            Some(&toml::Value::Array(vec!["bridge=xenbr0".into()]))
        );
        assert_eq!(spec.xen.config, ["guest.d/extra.cfg", "guest.d/irqs.cfg"]);
        assert!(files.iter().all(|(dest, _)| dest != "guest.d/kernel.cfg"));
    }

    #[test]
    fn lowering_uses_the_option_parser() {
        let spec = GuestSpec::parse("[guest]\nmemory = -5\n", Path::new("g.toml")).unwrap();
        let e = spec
            .lower(Path::new("g.toml"), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("guest.memory") && e.contains("-5"), "{e}");
        let spec = GuestSpec::parse("[params]\nA = \"$(reboot)\"\n", Path::new("g.toml")).unwrap();
        // `$(` is not `${`, so it reaches the shell-value check.
        assert!(spec.lower(Path::new("g.toml"), &BTreeMap::new()).is_err());
    }
}
