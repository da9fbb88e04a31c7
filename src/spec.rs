//! The declarative per-guest TOML description (`build`) and its inverse
//! (`export`).
//!
//! The TOML is parsed strictly (unknown keys are errors with line and
//! column), `${NAME}` references are replaced by `--define`s, paths are
//! resolved against the TOML's directory, and the result is lowered to the
//! same [`Op`]s the command-line options produce. Settings are read and
//! written back through their declarations ([`crate::settings`]) as typed
//! values; lists (files, scripts, partitions) become the operations of the
//! matching options. `build --set KEY=VALUE` goes through the same
//! declarations. Errors name the file, the line, the key path and, for
//! partitions, the 1-based position of the `[[disk.partitions]]` table.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::config::XlValue;
use crate::error::{Error, Result};
use crate::image::{Image, Stage};
use crate::ops::{Op, LIST_KEYS};
use crate::settings::{self, Setting, Target};
use crate::validate::{self, Partition};

/// A guest description.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GuestSpec {
    /// `[image]`: the image metadata, checked against
    /// [`settings::SETTINGS`].
    #[serde(default)]
    pub image: BTreeMap<String, Spanned<toml::Value>>,
    /// `[guest]`: settings, checked against [`settings::SETTINGS`].
    #[serde(default)]
    pub guest: BTreeMap<String, Spanned<toml::Value>>,
    /// Further `params.cfg` entries.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<String>>,
    /// xl configuration extras.
    #[serde(default)]
    pub xen: Xen,
    /// Init scripts.
    #[serde(default)]
    pub init: Init,
    /// The guest disk.
    #[serde(default)]
    pub disk: Disk,
    /// The TOML text, for line numbers.
    #[serde(skip)]
    source: String,
    /// `build --set KEY=VALUE`, in command-line order.
    #[serde(skip)]
    sets: Vec<(String, String)>,
}

/// `[xen]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Xen {
    /// Files copied into `guest.d/`.
    #[serde(default)]
    pub config: Vec<Spanned<String>>,
    /// Other xl settings: integers, strings or lists of strings.
    #[serde(default)]
    pub settings: BTreeMap<String, Spanned<toml::Value>>,
    /// `files/<destination> = source`.
    #[serde(default)]
    pub files: BTreeMap<String, Spanned<String>>,
}

/// `[init]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Init {
    /// `init.pre/` scripts.
    #[serde(default)]
    pub pre: Vec<Spanned<String>>,
    /// `init.d/` scripts.
    #[serde(default)]
    pub scripts: Vec<Spanned<String>>,
    /// `init.post/` scripts.
    #[serde(default)]
    pub post: Vec<Spanned<String>>,
    /// `health.d/` scripts: the host's health checks after an update.
    #[serde(default)]
    pub health: Vec<Spanned<String>>,
}

/// `[disk]`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// `disk.size` (a setting).
    pub size: Option<Spanned<toml::Value>>,
    /// `disk.device` (a setting).
    pub device: Option<Spanned<toml::Value>>,
    /// `disk/<destination> = source`.
    #[serde(default)]
    pub files: BTreeMap<String, Spanned<String>>,
    /// Partitions.
    #[serde(default)]
    pub partitions: Vec<Spanned<PartitionSpec>>,
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
    /// Persistent data: `xenguest-manager update` carries the partition's
    /// content to the new disk (`DISK_PARTn_KEEP="1"`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub keep: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
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

/// Line (1-based) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len())).unwrap_or_default().matches('\n').count() + 1
}

/// `line L, column C` of byte offset `at` in `text`.
fn position(text: &str, at: usize) -> String {
    let before = text.get(..at.min(text.len())).unwrap_or_default();
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {}, column {column}", line_of(text, at))
}

/// A TOML file being lowered: its path (for messages and relative paths)
/// and the defines.
struct Lowering<'a> {
    spec: &'a GuestSpec,
    path: &'a Path,
    base: PathBuf,
    defines: &'a BTreeMap<String, String>,
    /// Each operation with its key and, from the TOML, its position.
    ops: Vec<(String, Option<String>, Op)>,
    /// Position of the value being lowered (set by `at`).
    here: Option<String>,
    /// The image member (or partition) each list item writes, and the item
    /// it came from: two items writing one member would keep only the last.
    claimed: BTreeMap<String, String>,
}

/// Where a value came from: a TOML span, or `build --set`.
#[derive(Clone)]
enum Origin {
    Toml(Range<usize>),
    Set,
}

impl Lowering<'_> {
    /// An error about `key`, with the line it is on.
    fn err(&self, from: &Origin, key: &str, message: &str) -> Error {
        let message = match from {
            Origin::Toml(span) => {
                let at = position(&self.spec.source, span.start);
                if message.contains(&format!("`{key}`")) {
                    format!("{at}: {message}")
                } else {
                    format!("{at}: `{key}`: {message}")
                }
            }
            Origin::Set if message.contains(&format!("`--set {key}`")) => return Error::Refused(message.to_owned()),
            Origin::Set => return Error::Refused(format!("`--set {key}`: {message}")),
        };
        Error::Spec {
            path: self.path.to_path_buf(),
            message,
        }
    }

    fn wrap<T>(&self, from: &Origin, key: &str, r: Result<T>) -> Result<T> {
        r.map_err(|e| match (e, from) {
            (e @ Error::Spec { .. }, _) => e,
            (e, Origin::Set) if e.to_string().contains(&format!("`--set {key}`")) => e,
            (e, _) => self.err(from, key, &e.to_string()),
        })
    }

    fn text(&self, from: &Origin, key: &str, value: &str) -> Result<String> {
        match from {
            // `--set` values are BitBake's or the shell's already: literal.
            Origin::Set => Ok(value.to_owned()),
            Origin::Toml(_) => substitute(value, self.defines, key).map_err(|m| self.err(from, key, &m)),
        }
    }

    fn file(&self, from: &Origin, key: &str, value: &str) -> Result<PathBuf> {
        let value = self.text(from, key, value)?;
        if value.is_empty() {
            return Err(self.err(from, key, "the file name is empty"));
        }
        match from {
            Origin::Set => Ok(PathBuf::from(value)),
            Origin::Toml(_) => Ok(self.base.join(value)),
        }
    }

    fn push(&mut self, key: &str, op: Op) {
        self.ops.push((key.to_owned(), self.here.take(), op));
    }

    /// Records that the list item `key` (from `from`; `shown` names it in
    /// messages) writes what `op` writes, refusing a second item that
    /// writes the same member or partition: the image would silently keep
    /// only the last one.
    fn claim(&mut self, from: &Origin, key: &str, shown: String, op: &Op) -> Result<()> {
        let Some(target) = list_target(op) else {
            return Ok(());
        };
        if let Some(first) = self.claimed.get(&target) {
            // A TOML error starts with the item's line already.
            let this = match from {
                Origin::Toml(_) => format!("`{key}`"),
                Origin::Set => shown,
            };
            let rule = if matches!(op, Op::DiskAddPart(_)) {
                "a disk has one partition per number: renumber or drop one of them"
            } else {
                "an image holds one file per name, and the last would silently replace the first: rename or drop one of them"
            };
            return Err(self.err(from, key, &format!("{this} and {first} both give `{target}` - {rule}")));
        }
        self.claimed.insert(target, shown);
        Ok(())
    }

    /// How messages name a TOML list item:
    /// `` `init.post[2]` (`guest.toml` line 3, column 9) ``.
    fn toml_item(&self, key: &str, from: &Origin) -> String {
        match from {
            Origin::Toml(span) => format!(
                "`{key}` (`{}` {})",
                self.path.display(),
                position(&self.spec.source, span.start)
            ),
            Origin::Set => format!("`--set {key}`"),
        }
    }

    /// Records where the next operation comes from.
    fn at(&mut self, from: &Origin) {
        self.here = match from {
            Origin::Toml(span) => Some(position(&self.spec.source, span.start)),
            Origin::Set => None,
        };
    }

    /// The `--set` values of `key`.
    fn sets<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.spec
            .sets
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Lowers one setting: its last `--set`, else its TOML value.
    fn setting(&mut self, s: &'static Setting, toml: Option<&Spanned<toml::Value>>) -> Result<()> {
        let key = s.toml;
        let value = if let Some(text) = self.sets(key).last() {
            let r = s.parse_text(&format!("--set {key}"), text);
            self.wrap(&Origin::Set, key, r)?
        } else if let Some(v) = toml {
            let from = Origin::Toml(v.span());
            let r = s.parse_toml(
                key,
                v.get_ref(),
                |t| self.text(&from, key, t),
                |f| self.file(&from, key, f),
            );
            let value = self.wrap(&from, key, r)?;
            self.at(&from);
            value
        } else {
            return Ok(());
        };
        let name = if self.sets(key).next().is_some() {
            format!("--set {key}")
        } else {
            key.to_owned()
        };
        self.push(&name, Op::Set { setting: s, value });
        Ok(())
    }

    /// Lowers the `--set` items of list `key`, parsed as its option's values.
    fn set_items(&mut self, key: &str) -> Result<()> {
        let option = LIST_KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, o)| *o)
            .unwrap_or_default();
        let items: Vec<String> = self.sets(key).map(str::to_owned).collect();
        for item in items {
            let r = Op::parse_as(option, Some(&item), &format!("--set {key}"));
            let op = self.wrap(&Origin::Set, key, r)?;
            self.claim(&Origin::Set, key, format!("`--set {key}={item}`"), &op)?;
            self.push(&format!("--set {key}"), op);
        }
        Ok(())
    }

    fn files(&mut self, key: &str, list: &[Spanned<String>], option: &str) -> Result<()> {
        for (i, f) in list.iter().enumerate() {
            let item = format!("{key}[{}]", i + 1);
            let from = Origin::Toml(f.span());
            let p = self.file(&from, &item, f.get_ref())?;
            let p = p
                .to_str()
                .ok_or_else(|| self.err(&from, &item, "the path is not UTF-8"))?
                .to_owned();
            let r = Op::parse_as(option, Some(&p), &item);
            let op = self.wrap(&from, &item, r)?;
            self.claim(&from, &item, self.toml_item(&item, &from), &op)?;
            self.at(&from);
            self.push(&item, op);
        }
        self.set_items(key)
    }

    fn dest_files(&mut self, key: &str, map: &BTreeMap<String, Spanned<String>>, disk: bool) -> Result<()> {
        for (dst, src) in map {
            let item = format!("{key}.\"{dst}\"");
            let from = Origin::Toml(src.span());
            let dst = self.text(&from, &item, dst)?;
            let src = self.file(&from, &item, src.get_ref())?;
            self.wrap(&from, &item, validate::member_name(&item, &dst).map(|_| ()))?;
            // Not through `SRC:DST` text: a `:` in DST would move the split.
            let op = if disk {
                self.wrap(&from, &item, validate::shell_value(&item, &dst).map(|_| ()))?;
                Op::DiskAddFile { src, dst }
            } else {
                Op::XenAddFile { src, dst }
            };
            self.claim(&from, &item, self.toml_item(&item, &from), &op)?;
            self.at(&from);
            self.push(&item, op);
        }
        self.set_items(key)
    }
}

impl GuestSpec {
    /// Parses TOML text (`path` names it in messages).
    pub fn parse(text: &str, path: &Path) -> Result<GuestSpec> {
        let mut spec: GuestSpec = toml::from_str(text).map_err(|e| Error::Spec {
            path: path.to_path_buf(),
            message: format_toml_error(&e, text),
        })?;
        text.clone_into(&mut spec.source);
        // [image] and [guest] are maps so that their keys come from the
        // declarations.
        for (section, table) in [("image", &spec.image), ("guest", &spec.guest)] {
            for (k, v) in table {
                let list = LIST_KEYS.iter().any(|(key, _)| *key == format!("{section}.{k}"));
                if settings::by_toml(&format!("{section}.{k}")).is_none() && !list {
                    let prefix = format!("{section}.");
                    let known: Vec<&str> = settings::SETTINGS
                        .iter()
                        .filter_map(|s| s.toml.strip_prefix(prefix.as_str()))
                        .collect();
                    return Err(Error::Spec {
                        path: path.to_path_buf(),
                        message: format!(
                            "{}: unknown key `{section}.{k}` - [{section}] takes {}",
                            position(text, v.span().start),
                            known.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(spec)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<GuestSpec> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read", path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = good.split(|b| *b == b'\n').count();
            let column = good.iter().rev().take_while(|b| **b != b'\n').count() + 1;
            Error::Spec {
                path: path.to_path_buf(),
                message: format!(
                    "line {line}, column {column} (byte offset {}): not UTF-8 text - TOML files are UTF-8",
                    good.len()
                ),
            }
        })?;
        Self::parse(&text, path)
    }

    /// Adds `build --set KEY=VALUE` (`KEY` a setting's TOML key, a
    /// `params.NAME`, or a list key whose VALUE is one item). A setting's
    /// value replaces the TOML's; list items are added after the TOML's.
    pub fn set(&mut self, assignment: &str) -> Result<()> {
        let (key, value) = assignment
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("`--set {assignment}`: expected KEY=VALUE")))?;
        let known = settings::by_toml(key).is_some()
            || LIST_KEYS.iter().any(|(k, _)| *k == key)
            || key.strip_prefix("params.").is_some_and(|n| !n.is_empty());
        if !known {
            let mut keys: Vec<&str> = settings::SETTINGS
                .iter()
                .map(|s| s.toml)
                .filter(|k| !k.is_empty())
                .collect();
            keys.extend(LIST_KEYS.iter().map(|(k, _)| *k));
            keys.push("params.NAME");
            return Err(Error::Usage(format!(
                "`--set {assignment}`: `{key}` is not a key --set can give - use one of {}",
                keys.join(", ")
            )));
        }
        self.sets.push((key.to_owned(), value.to_owned()));
        Ok(())
    }

    /// `image.sbom`: a list of files, each item spanning the list (the TOML
    /// library keeps no span per item of a table read as values).
    fn sbom_items(&self, path: &Path) -> Result<Vec<Spanned<String>>> {
        let Some(v) = self.image.get("sbom") else {
            return Ok(Vec::new());
        };
        let bad = || Error::Spec {
            path: path.to_path_buf(),
            message: format!(
                "{}: `image.sbom`: expected a list of file names",
                position(&self.source, v.span().start)
            ),
        };
        let toml::Value::Array(items) = v.get_ref() else {
            return Err(bad());
        };
        items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(Spanned::new(v.span(), s.clone())),
                _ => Err(bad()),
            })
            .collect()
    }

    /// The TOML value of setting `s`, if the TOML gives it.
    fn toml_value(&self, s: &Setting) -> Option<&Spanned<toml::Value>> {
        match s.toml.split_once('.') {
            Some(("image", k)) => self.image.get(k),
            Some(("guest", k)) => self.guest.get(k),
            Some(("disk", "size")) => self.disk.size.as_ref(),
            Some(("disk", "device")) => self.disk.device.as_ref(),
            _ => None,
        }
    }

    /// Lowers the description to operations, in the order they apply to a
    /// default image. Each comes with the TOML key it came from.
    pub fn lower(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Vec<(String, Op)>> {
        Ok(self
            .lower_at(path, defines)?
            .into_iter()
            .map(|(key, _, op)| (key, op))
            .collect())
    }

    /// [`GuestSpec::lower`], with the TOML position of each operation.
    fn lower_at(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Vec<(String, Option<String>, Op)>> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut l = Lowering {
            spec: self,
            path,
            base,
            defines,
            ops: Vec::new(),
            here: None,
            claimed: BTreeMap::new(),
        };
        let guest_settings = settings::SETTINGS
            .iter()
            .filter(|s| s.toml.starts_with("image.") || s.toml.starts_with("guest."));
        for s in guest_settings {
            l.setting(s, self.toml_value(s))?;
        }
        l.files("image.sbom", &self.sbom_items(path)?, "image-add-sbom")?;
        // params: the TOML's, then --set params.NAME (empty: remove).
        let mut params: BTreeMap<String, (Origin, String)> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), (Origin::Toml(v.span()), v.get_ref().clone())))
            .collect();
        for (k, v) in &self.sets {
            if let Some(name) = k.strip_prefix("params.") {
                if v.is_empty() {
                    params.remove(name);
                } else {
                    params.insert(name.to_owned(), (Origin::Set, v.clone()));
                }
            }
        }
        for (k, (from, v)) in &params {
            let key = format!("params.{k}");
            if let Some(s) = settings::by_param(k) {
                let given = self
                    .toml_value(s)
                    .map(|v| Origin::Toml(v.span()))
                    .or_else(|| self.sets.iter().any(|(sk, _)| sk == s.toml).then_some(Origin::Set));
                if let Some(other) = given {
                    let where_ = match &other {
                        Origin::Toml(span) => format!(" (line {})", line_of(&self.source, span.start)),
                        Origin::Set => " (--set)".to_owned(),
                    };
                    // What the setting would store, to say whether the two agree.
                    let theirs = match &other {
                        Origin::Set => l.sets(s.toml).last().and_then(|t| s.parse_text(s.toml, t).ok()),
                        Origin::Toml(_) => self.toml_value(s).and_then(|t| {
                            s.parse_toml(s.toml, t.get_ref(), |x| Ok(x.to_owned()), |f| Ok(PathBuf::from(f)))
                                .ok()
                        }),
                    }
                    .and_then(|value| s.shell_value(&value));
                    let message = match theirs {
                        Some(theirs) if theirs != *v => format!(
                            "`{key}` is `{v}` but `{}`{where_} is `{theirs}` - the two set the same {k} and differ: keep one of them",
                            s.toml
                        ),
                        _ => format!("`{}`{where_} sets the same {k} - keep one of the two", s.toml),
                    };
                    return Err(l.err(from, &key, &message));
                }
            }
            let v = l.text(from, &key, v)?;
            if v.is_empty() {
                return Err(l.err(from, &key, "the value is empty - leave the key out instead"));
            }
            let shown = match from {
                Origin::Set => format!("--set {key}"),
                Origin::Toml(_) => key.clone(),
            };
            let r = Op::set_param(&shown, k, &v);
            let op = l.wrap(from, &key, r)?;
            l.at(from);
            l.push(&key, op);
        }
        l.files("xen.config", &self.xen.config, "xen-append")?;
        for (k, v) in &self.xen.settings {
            let key = format!("xen.settings.{k}");
            let from = Origin::Toml(v.span());
            let value = xl_setting(&l, &from, &key, k, v.get_ref())?;
            l.at(&from);
            l.push(&key, Op::XenSet { key: k.clone(), value });
        }
        l.dest_files("xen.files", &self.xen.files, false)?;
        l.files("init.pre", &self.init.pre, "init-pre")?;
        l.files("init.scripts", &self.init.scripts, "init-script")?;
        l.files("init.post", &self.init.post, "init-post")?;
        l.files("init.health", &self.init.health, "init-health")?;
        for s in settings::SETTINGS.iter().filter(|s| s.toml.starts_with("disk.")) {
            l.setting(s, self.toml_value(s))?;
        }
        l.dest_files("disk.files", &self.disk.files, true)?;
        let mut numbers: BTreeMap<i64, (String, usize)> = BTreeMap::new();
        for (i, p) in self.disk.partitions.iter().enumerate() {
            let key = format!("disk.partitions #{}", i + 1);
            // The span of a `[[disk.partitions]]` table may start at its
            // header or at its first key: point at the header.
            let start = p.span().start;
            let header = self
                .source
                .get(..(start + 2).min(self.source.len()))
                .and_then(|t| t.rfind("[["))
                .unwrap_or(start);
            let from = Origin::Toml(header..p.span().end);
            let line = line_of(&self.source, header);
            let p = p.get_ref();
            if let Some((other, other_line)) = numbers.get(&p.number) {
                return Err(l.err(
                    &from,
                    &key,
                    &format!(
                        "number = {} is already used by `{other}` (line {other_line}) - give each partition its own number",
                        p.number
                    ),
                ));
            }
            numbers.insert(p.number, (key.clone(), line));
            let size = l.text(&from, &key, &p.size)?;
            let fs = l.text(&from, &key, &p.fs)?;
            let content = l.text(&from, &key, &p.content)?;
            let r = Partition::new(&key, &p.number.to_string(), &size, &fs, &content);
            let part = l.wrap(&from, &key, r)?;
            let number = part.number;
            let op = Op::DiskAddPart(part);
            l.claim(&from, &key, l.toml_item(&key, &from), &op)?;
            l.at(&from);
            l.push(&key, op);
            if p.keep {
                l.at(&from);
                l.push(&key, Op::DiskKeepPart { number, keep: true });
            }
        }
        l.set_items("disk.partitions")?;
        l.set_items("disk.keep")?;
        Ok(l.ops)
    }

    /// Builds the image this description gives.
    pub fn to_image(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Image> {
        let ops = self.lower_at(path, defines)?;
        let mut image = Image::new_default();
        for (key, at, op) in &ops {
            op.apply_as(&mut image, key).map_err(|e| {
                if key.starts_with("--set ") {
                    return e;
                }
                let message = if e.to_string().contains(&format!("`{key}`")) {
                    e.to_string()
                } else {
                    format!("`{key}`: {e}")
                };
                Error::Spec {
                    path: path.to_path_buf(),
                    message: match at {
                        Some(at) => format!("{at}: {message}"),
                        None => message,
                    },
                }
            })?;
        }
        self.contents_given(&image, path)?;
        let problems = crate::admit::model_problems(&image);
        if let Some(first) = problems.first() {
            return Err(Error::Spec {
                path: path.to_path_buf(),
                message: first.message.clone(),
            });
        }
        Ok(image)
    }

    /// Refuses a partition whose content the description does not give,
    /// in TOML words: the partition's table and line, and the
    /// `[disk.files]` key that would give it.
    fn contents_given(&self, image: &Image, path: &Path) -> Result<()> {
        let Some(parts) = image.disk.as_ref().and_then(|d| d.partitions().ok()) else {
            return Ok(());
        };
        for p in parts {
            if p.content.is_empty() || image.disk_files.contains_key(&p.content) {
                continue;
            }
            let table = self
                .disk
                .partitions
                .iter()
                .enumerate()
                .find(|(_, t)| t.get_ref().number == i64::from(p.number));
            let fix = format!("add `\"{}\" = \"SOURCE\"` to [disk.files]", p.content);
            let message = match table {
                Some((i, t)) => {
                    let start = t.span().start;
                    let header = self
                        .source
                        .get(..(start + 2).min(self.source.len()))
                        .and_then(|text| text.rfind("[["))
                        .unwrap_or(start);
                    format!(
                        "{}: `disk.partitions #{}`: content `{}` is not a [disk.files] key - {fix}",
                        position(&self.source, header),
                        i + 1,
                        p.content
                    )
                }
                None => format!(
                    "`--set disk.partitions`: partition {} content `{}` is not in the image - {fix}, or `--set disk.files=SOURCE:{}`",
                    p.number, p.content, p.content
                ),
            };
            return Err(Error::Spec {
                path: path.to_path_buf(),
                message,
            });
        }
        Ok(())
    }

    /// Where each image member a list item writes comes from, for
    /// messages about the member: `` `init.d/net.sh` `` maps to
    /// `` in `net.sh`, `init.scripts[1]` (`guest.toml` line 9, column 12) ``.
    pub fn member_sources(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for (key, at, op) in self.lower_at(path, defines)? {
            let (Some(member), Some(src)) = (list_target(&op), op.input()) else {
                continue;
            };
            let item = match at {
                Some(at) => format!("`{key}` (`{}` {at})", path.display()),
                None => format!("`{key}`"),
            };
            out.insert(member, format!("in `{}`, {item}", src.display()));
        }
        Ok(out)
    }

    /// The input files the description reads, in the order it reads them.
    /// It checks the whole description first (builds the image in memory,
    /// which opens every input but reads none).
    pub fn inputs(&self, path: &Path, defines: &BTreeMap<String, String>) -> Result<Vec<PathBuf>> {
        self.to_image(path, defines)?;
        // Each input once, where it is first read.
        let mut seen = std::collections::BTreeSet::new();
        Ok(self
            .lower(path, defines)?
            .iter()
            .filter_map(|(_, op)| op.input().map(Path::to_path_buf))
            .filter(|p| seen.insert(p.clone()))
            .collect())
    }
}

/// What a list item's operation writes: an image member
/// (`init.post/post.sh`, `guest.d/net.cfg`, `files/x`, `disk/x`) or a
/// partition (`DISK_PART1`); `None` for every other operation.
fn list_target(op: &Op) -> Option<String> {
    let name = |src: &Path| src.file_name().map(|n| n.to_string_lossy().into_owned());
    match op {
        Op::XenAppend(src) => Some(format!("guest.d/{}", name(src)?)),
        Op::Init { stage, src } => Some(format!("{}/{}", stage.dir(), name(src)?)),
        Op::XenAddFile { dst, .. } => Some(format!("files/{dst}")),
        Op::DiskAddFile { dst, .. } => Some(format!("disk/{dst}")),
        Op::DiskAddPart(part) => Some(format!("DISK_PART{}", part.number)),
        Op::AddSbom { dst, .. } => Some(format!("{}{dst}", crate::image::SBOM_DIR)),
        _ => None,
    }
}

fn xl_setting(l: &Lowering<'_>, from: &Origin, key: &str, name: &str, value: &toml::Value) -> Result<XlValue> {
    if let Some(s) = settings::by_xl(name) {
        let instead = if s.toml.is_empty() {
            "the host manager (it sets it)".to_owned()
        } else {
            format!("`{}`", s.toml)
        };
        return Err(l.err(from, key, &format!("set `{name}` with {instead}, not in xen.settings")));
    }
    let name_ok = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(l.err(from, key, &format!("`{name}` is not an xl setting name")));
    }
    let item = |v: &str| -> Result<String> {
        let v = l.text(from, key, v)?;
        l.wrap(from, key, validate::xl_string(key, &v).map(|_| ()))?;
        if v.contains('\'') {
            return Err(l.err(from, key, &format!("`{v}` cannot contain `'`")));
        }
        Ok(v)
    };
    match value {
        toml::Value::Integer(n) => u64::try_from(*n)
            .map(XlValue::Number)
            .map_err(|_| l.err(from, key, &format!("{n} is negative"))),
        toml::Value::String(s) => item(s).map(XlValue::Str),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => item(s),
                _ => Err(l.err(from, key, "list elements must be strings")),
            })
            .collect::<Result<Vec<_>>>()
            .map(XlValue::List),
        _ => Err(l.err(from, key, "use an integer, a string or a list of strings")),
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

/// What `export` writes as `guest.toml`, section by section in the order
/// a reader expects.
#[derive(Debug, Default, Serialize)]
pub struct Exported {
    /// `[image]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub image: toml::Table,
    /// `[guest]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub guest: toml::Table,
    /// `[params]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
    /// `[xen]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub xen: toml::Table,
    /// `[init]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub init: toml::Table,
    /// `[disk]`.
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub disk: toml::Table,
}

impl Exported {
    /// The table of `section`.
    fn section(&mut self, section: &str) -> &mut toml::Table {
        match section {
            "image" => &mut self.image,
            "guest" => &mut self.guest,
            "params" => &mut self.params,
            "xen" => &mut self.xen,
            "init" => &mut self.init,
            _ => &mut self.disk,
        }
    }

    /// Sets dotted `key` (`guest.memory`, `xen.settings.vif`).
    fn insert(&mut self, key: &str, value: toml::Value) {
        let mut parts = key.split('.');
        let mut table = self.section(parts.next().unwrap_or_default());
        let mut parts = parts.peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.to_owned(), value);
                return;
            }
            let entry = table
                .entry(part.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(t) => table = t,
                _ => return,
            }
        }
    }

    /// Sets `SECTION.files."NAME"` (a name may hold dots).
    fn insert_file(&mut self, section: &str, name: &str, source: String) {
        let files = self
            .section(section)
            .entry("files")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = files {
            t.insert(name.to_owned(), toml::Value::String(source));
        }
    }

    fn push(&mut self, key: &str, value: toml::Value) {
        let (section, k) = key.split_once('.').unwrap_or((key, ""));
        let entry = self
            .section(section)
            .entry(k.to_owned())
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(items) = entry {
            items.push(value);
        }
    }
}

/// Turns an image into a description plus the files it names
/// (destination-relative paths under the export directory, and the blobs
/// to write there).
pub fn export(image: &Image) -> Result<(Exported, Vec<(String, crate::image::Blob)>)> {
    let mut spec = Exported::default();
    let mut files = Vec::new();
    let mut taken_files = std::collections::BTreeSet::new();
    if let Some(meta) = &image.meta {
        for s in settings::SETTINGS {
            if let Target::Meta(field) = s.target {
                if let Some(value) = meta.get(field) {
                    spec.insert(s.toml, s.export_meta(&value));
                }
            }
        }
    }
    let cfg = image.guest_cfg.clone().unwrap_or_default();
    // Merge guest.d/KEY.cfg files we can express as settings; keep the
    // others as files.
    let mut xl: BTreeMap<String, XlValue> = BTreeMap::new();
    for (k, raw) in cfg.settings() {
        if let Some(v) = XlValue::parse(raw) {
            xl.insert(k.to_owned(), v);
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
                xl.insert(key.to_owned(), value);
            }
            Some(None) => {}
            None => {
                let dest = format!("guest.d/{name}");
                spec.push("xen.config", toml::Value::String(dest.clone()));
                files.push((dest, blob.clone()));
            }
        }
    }
    for (k, v) in xl {
        match settings::by_xl(&k) {
            // Set by the host manager: the TOML has no key for it.
            Some(s) if s.toml.is_empty() => {}
            Some(s) => {
                let value = s.export_xl(&v).ok_or_else(|| {
                    Error::Refused(format!(
                        "guest.cfg: `{k} = {v}` cannot be written as `{}` in the TOML",
                        s.toml
                    ))
                })?;
                if let settings::Kind::File { member } = s.kind {
                    taken_files.insert(member.to_owned());
                }
                spec.insert(s.toml, value);
            }
            None => {
                let value = match v {
                    XlValue::Number(n) => toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                    XlValue::Str(s) => toml::Value::String(s),
                    XlValue::List(items) => toml::Value::Array(items.into_iter().map(toml::Value::String).collect()),
                };
                spec.insert(&format!("xen.settings.{k}"), value);
            }
        }
    }
    for (name, blob) in &image.files {
        files.push((format!("files/{name}"), blob.clone()));
        if !taken_files.contains(name) {
            spec.insert_file("xen", name, format!("files/{name}"));
        }
    }
    if let Some(params) = &image.params {
        for (k, v) in params.0.vars() {
            match settings::by_param(k) {
                Some(s) => {
                    if let Some(value) = s.export_shell(v)? {
                        spec.insert(s.toml, value);
                    }
                }
                None => spec.insert(&format!("params.{k}"), toml::Value::String(v.to_owned())),
            }
        }
        if params.0.get("GUEST_AUTOBOOT").is_none() {
            return Err(Error::Refused(
                "params.cfg has no GUEST_AUTOBOOT; the TOML cannot express that".into(),
            ));
        }
    }
    for stage in Stage::SCRIPTS {
        let key = match stage {
            Stage::Pre => "init.pre",
            Stage::Main => "init.scripts",
            Stage::Post => "init.post",
            Stage::Health => "init.health",
        };
        for (name, blob) in image.init(stage) {
            let dest = format!("{}/{name}", stage.dir());
            files.push((dest.clone(), blob.clone()));
            spec.push(key, toml::Value::String(dest));
        }
    }
    if let Some(disk) = &image.disk {
        for s in settings::SETTINGS {
            if let Target::Disk(name) = s.target {
                if let Some(value) = disk.0.get(name) {
                    if let Some(value) = s.export_shell(value)? {
                        spec.insert(s.toml, value);
                    }
                }
            }
        }
        let parts = disk.partitions()?;
        let kept = disk.kept()?;
        if disk.size_mb()? == 0 && !parts.is_empty() {
            return Err(Error::Refused(
                "disk.cfg has partitions but no disk size; the TOML cannot express that".into(),
            ));
        }
        for p in parts {
            let spec_part = PartitionSpec {
                keep: kept.contains(&p.number),
                number: i64::from(p.number),
                size: p.size,
                fs: p.fs,
                content: p.content,
            };
            let value = toml::Value::try_from(spec_part).map_err(|e| Error::Refused(e.to_string()))?;
            spec.push("disk.partitions", value);
        }
    }
    for (name, blob) in &image.disk_files {
        files.push((format!("disk/{name}"), blob.clone()));
        spec.insert_file("disk", name, format!("disk/{name}"));
    }
    let mut others: Vec<&str> = Vec::new();
    for (name, blob) in &image.others {
        match name.strip_prefix(crate::image::SBOM_DIR) {
            Some(file) if !file.contains('/') => {
                files.push((name.clone(), blob.clone()));
                spec.push("image.sbom", toml::Value::String(name.clone()));
            }
            _ => others.push(name),
        }
    }
    if !others.is_empty() {
        let names = others;
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
        let e = GuestSpec::parse("[guest]\nmemory = \"lots\"\n", Path::new("g.toml"))
            .unwrap()
            .lower(Path::new("g.toml"), &BTreeMap::new())
            .unwrap_err();
        assert!(
            e.to_string().contains("line 2") && e.to_string().contains("guest.memory"),
            "{e}"
        );
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
            spec.xen["settings"].get("vif"),
            Some(&toml::Value::Array(vec!["bridge=xenbr0".into()]))
        );
        assert_eq!(
            spec.xen["config"],
            toml::Value::Array(vec!["guest.d/extra.cfg".into(), "guest.d/irqs.cfg".into()])
        );
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

    /// Member paths, modes and contents, to compare two images.
    fn snapshot(image: &Image) -> Vec<(String, u32, Vec<u8>)> {
        image
            .members()
            .into_iter()
            .filter_map(|m| match m {
                crate::image::Member::File { path, mode, blob } => {
                    let data = blob.read_all(&path).unwrap();
                    Some((path, mode, data))
                }
                crate::image::Member::Dir(_) => None,
            })
            .collect()
    }

    /// A value of each kind that differs from the default image.
    fn sample(kind: settings::Kind, dir: &Path) -> String {
        use settings::Kind;
        match kind {
            Kind::Number { min, .. } => (min + 7).to_string(),
            Kind::Text => "demo".into(),
            Kind::Cmdline => "console=hvc0 rw".into(),
            Kind::Word(words) => words[words.len() - 1].into(),
            Kind::File { member } => {
                let p = dir.join(format!("input-{member}"));
                std::fs::write(&p, member.as_bytes()).unwrap();
                p.to_str().unwrap().to_owned()
            }
            Kind::PhyDisk => "/dev/vg0/guest".into(),
            Kind::Bool => "0".into(),
            Kind::Size => "3G".into(),
            Kind::ShellText => "/dev/vg0".into(),
            Kind::MetaText => "demo guest 1".into(),
            Kind::Names => "qemuarm64,rpi4".into(),
            Kind::Version => "4.17".into(),
            Kind::PortForwards => "2222:22 5353:53/udp".into(),
        }
    }

    /// Every declared setting: command line -> image -> export -> build
    /// gives the same image, and `--set` gives it too.
    #[test]
    fn every_setting_round_trips() {
        let tmp = tempfile::tempdir().unwrap();
        let default = snapshot(&Image::new_default());
        for s in settings::SETTINGS {
            let text = sample(s.kind, tmp.path());
            let value = s.parse_text("test", &text).unwrap();
            let op = Op::Set { setting: s, value };
            if !s.cli.is_empty() {
                assert_eq!(Op::parse(s.cli, Some(&text)).unwrap(), op, "--{}", s.cli);
            }
            let mut image = Image::new_default();
            op.apply(&mut image).unwrap();
            let made = snapshot(&image);
            assert_ne!(made, default, "{s:?} changed nothing");
            if s.toml.is_empty() {
                // Not in the TOML (the host manager sets it): export leaves it out.
                let (exported, _) = export(&image).unwrap();
                assert!(!toml::to_string(&exported).unwrap().contains(&text), "{s:?}");
                continue;
            }
            let out = tmp.path().join(s.toml);
            std::fs::create_dir(&out).unwrap();
            let (exported, files) = export(&image).unwrap();
            for (rel, blob) in &files {
                let dest = out.join(rel);
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::write(dest, blob.read_all(rel).unwrap()).unwrap();
            }
            let toml_path = out.join("guest.toml");
            let text_out = toml::to_string_pretty(&exported).unwrap();
            assert!(text_out.contains(s.toml.rsplit('.').next().unwrap()), "{text_out}");
            std::fs::write(&toml_path, &text_out).unwrap();
            let spec = GuestSpec::load(&toml_path).unwrap();
            let rebuilt = spec.to_image(&toml_path, &BTreeMap::new()).unwrap();
            assert_eq!(snapshot(&rebuilt), made, "{} through export and build", s.toml);
            let mut set = GuestSpec::default();
            set.set(&format!("{}={text}", s.toml)).unwrap();
            let via_set = set.to_image(Path::new("--set"), &BTreeMap::new()).unwrap();
            assert_eq!(snapshot(&via_set), made, "--set {}", s.toml);
        }
    }

    #[test]
    fn duplicate_partitions_and_values_given_twice_are_errors() {
        let lower = |text: &str| {
            GuestSpec::parse(text, Path::new("g.toml"))
                .unwrap()
                .to_image(Path::new("g.toml"), &BTreeMap::new())
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let e = lower(
            "[disk]\nsize = \"4G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"1G\"\n\n[[disk.partitions]]\nnumber = 1\nsize = \"2G\"\n",
        );
        assert!(
            e.contains("line 7")
                && e.contains("disk.partitions #2")
                && e.contains("disk.partitions #1")
                && e.contains("line 3"),
            "{e}"
        );
        let e = lower("[guest]\nautoboot = true\n[params]\nGUEST_AUTOBOOT = \"0\"\n");
        assert!(
            e.contains("guest.autoboot")
                && e.contains("params.GUEST_AUTOBOOT")
                && e.contains("line 4")
                && e.contains("`0`")
                && e.contains("`1`")
                && e.contains("differ"),
            "{e}"
        );
        let e = lower("[guest]\nautoboot = true\n[params]\nGUEST_AUTOBOOT = \"1\"\n");
        assert!(
            e.contains("sets the same GUEST_AUTOBOOT") && !e.contains("differ"),
            "{e}"
        );
        let e = lower("[params]\nXENGUEST_NETWORK_TYPE = \"brdge\"\n");
        assert!(e.contains("line 2") && e.contains("bridge, nat, none"), "{e}");
        let e = lower("[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"9G\"\nfs = \"ext4\"\n");
        assert!(e.contains("`disk.size`") && !e.contains("--"), "{e}");
    }

    #[test]
    fn a_set_item_giving_a_toml_destination_is_an_error() {
        for (key, toml_text, set) in [
            ("xen.files", "[xen.files]\n\"a.json\" = \"x\"\n", "xen.files=y:a.json"),
            (
                "disk.files",
                "[disk.files]\n\"r.tar\" = \"x\"\n",
                "disk.files=dir/y:r.tar",
            ),
        ] {
            let mut spec = GuestSpec::parse(toml_text, Path::new("g.toml")).unwrap();
            spec.set(set).unwrap();
            let e = spec
                .lower(Path::new("g.toml"), &BTreeMap::new())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("`--set {set}` and `{key}.")) && e.contains("line 2"),
                "{e}"
            );
        }
    }
}
