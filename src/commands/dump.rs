//! The `dump-*` operations: configuration members as stored, and with
//! `--json` also parsed (docs/json.md).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::{print_json, raw_member, raw_text, sha256_of, Global};
use crate::config::{DiskConfig, Params, ShellVars, XlConfig, XlValue};
use crate::error::{Error, Result};
use crate::image::reader::{self, Opened};
use crate::image::Stage;
use crate::progress::Bar;

/// Which `dump-*` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dump {
    /// `dump-xenconfig`; with `merged`, only the configuration xl reads.
    Xen { merged: bool },
    /// `dump-diskconfig`.
    Disk,
    /// `dump-paramsconfig`.
    Params,
    /// `dump-init`.
    Init,
}

impl Dump {
    fn command(self) -> &'static str {
        match self {
            Dump::Xen { .. } => "dump-xenconfig",
            Dump::Disk => "dump-diskconfig",
            Dump::Params => "dump-paramsconfig",
            Dump::Init => "dump-init",
        }
    }
}

fn stdout_error(e: io::Error) -> Error {
    Error::io("cannot write to", "standard output", e)
}

pub(crate) fn dump(g: Global, what: Dump, path: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    if g.json {
        let body = match what {
            Dump::Xen { .. } => xen_json(&opened)?,
            Dump::Disk => disk_json(&opened)?,
            Dump::Params => params_json(&opened)?,
            Dump::Init => init_json(&opened)?,
        };
        let mut doc = json!({ "image": path });
        doc.as_object_mut()
            .expect("an object")
            .extend(body.as_object().cloned().unwrap_or_default());
        return print_json(what.command(), doc);
    }
    let out = &mut io::stdout().lock();
    match what {
        Dump::Xen { merged: true } => {
            out.write_all(merged_xl(&opened)?.as_bytes()).map_err(stdout_error)?;
        }
        Dump::Xen { merged: false } => {
            dump_files(out, "Xen configuration:", &opened, &xl_members(&opened), true)?;
        }
        Dump::Disk => dump_files(out, "Disk configuration:", &opened, &["disk.cfg".to_owned()], true)?,
        Dump::Params => dump_files(out, "Guest configuration:", &opened, &["params.cfg".to_owned()], false)?,
        Dump::Init => dump_init(out, &opened)?,
    }
    out.flush().map_err(stdout_error)
}

/// The xl configuration members in the order the host reads them:
/// `guest.cfg`, then each `guest.d/` file by name.
fn xl_members(opened: &Opened) -> Vec<String> {
    std::iter::once("guest.cfg".to_owned())
        .chain(opened.image.guest_d.keys().map(|k| format!("guest.d/{k}")))
        .collect()
}

/// The configuration `xl create` gets on the host: `guest.cfg` followed
/// by every `guest.d/` file, concatenated as stored (as the host manager's
/// `cat guest.cfg guest.d/*` does).
fn merged_xl(opened: &Opened) -> Result<String> {
    let mut text = String::new();
    for member in xl_members(opened) {
        if let Some(t) = raw_text(opened, &member)? {
            text.push_str(&t);
        }
    }
    Ok(text)
}

fn dump_files(
    out: &mut impl Write,
    title: &str,
    opened: &Opened,
    files: &[String],
    trailing_newline: bool,
) -> Result<()> {
    writeln!(out, "{title}").map_err(stdout_error)?;
    for f in files {
        if let Some(text) = raw_text(opened, f)? {
            // Each guest.d file under an xl comment naming it: where a
            // setting comes from (`--merged` prints what xl reads).
            if f.starts_with("guest.d/") {
                writeln!(out, "# --- {f} ---").map_err(stdout_error)?;
            }
            out.write_all(text.as_bytes()).map_err(stdout_error)?;
            if !text.is_empty() && !text.ends_with('\n') {
                writeln!(out).map_err(stdout_error)?;
            }
        }
    }
    if trailing_newline {
        writeln!(out).map_err(stdout_error)?;
    }
    Ok(())
}

/// Each stage in run order (pre, d, post), then the health checks when
/// there are any (so the output of an image without them is what it
/// always was), each script under a line naming it.
fn dump_init(out: &mut impl Write, opened: &Opened) -> Result<()> {
    for stage in Stage::SCRIPTS {
        let scripts = opened.image.init(stage);
        if stage == Stage::Health && scripts.is_empty() {
            continue;
        }
        let dir = stage.dir();
        writeln!(out, "=== {dir} ===").map_err(stdout_error)?;
        if scripts.is_empty() {
            writeln!(out, "No {dir} scripts.").map_err(stdout_error)?;
        }
        for name in scripts.keys() {
            let member = format!("{dir}/{name}");
            writeln!(out, "--- {member} ---").map_err(stdout_error)?;
            if let Some(text) = raw_text(opened, &member)? {
                out.write_all(text.as_bytes()).map_err(stdout_error)?;
                if !text.is_empty() && !text.ends_with('\n') {
                    writeln!(out).map_err(stdout_error)?;
                }
            }
        }
        writeln!(out, "===============\n").map_err(stdout_error)?;
    }
    Ok(())
}

/// An xl value as JSON: a number, a string or a list of strings; `null`
/// for a form the tool does not parse (the raw text is given beside it).
fn xl_value_json(raw: &str) -> Value {
    match XlValue::parse(raw) {
        Some(XlValue::Number(n)) => json!(n),
        Some(XlValue::Str(s)) => json!(s),
        Some(XlValue::List(items)) => json!(items),
        None => Value::Null,
    }
}

fn xen_json(opened: &Opened) -> Result<Value> {
    let mut files = Vec::new();
    let mut settings = serde_json::Map::new();
    let mut raw_settings = serde_json::Map::new();
    for member in xl_members(opened) {
        let Some(text) = raw_text(opened, &member)? else {
            continue;
        };
        // A later setting wins, as in xl reading the merged file.
        for (key, raw) in XlConfig::parse(&text).settings() {
            settings.insert(key.to_owned(), xl_value_json(raw));
            raw_settings.insert(key.to_owned(), json!(raw.trim()));
        }
        files.push(json!({ "member": member, "text": text }));
    }
    Ok(json!({
        "files": files,
        "merged": merged_xl(opened)?,
        "settings": settings,
        "raw_settings": raw_settings,
    }))
}

/// The xl settings the host reads (guest.cfg, then guest.d/), a later
/// setting winning, as JSON values (`info`).
pub(super) fn xl_settings(opened: &Opened) -> Result<Value> {
    Ok(xen_json(opened)?["settings"].take())
}

fn disk_json(opened: &Opened) -> Result<Value> {
    let text = raw_text(opened, "disk.cfg")?.unwrap_or_default();
    let disk = DiskConfig::parse(&text);
    let kept = disk.kept()?;
    let partitions: Vec<Value> = disk
        .partitions()?
        .iter()
        .map(|p| {
            json!({ "number": p.number, "size_mb": p.size_mb, "fs": p.fs, "content": p.content, "keep": kept.contains(&p.number) })
        })
        .collect();
    Ok(json!({
        "text": text,
        "assignments": assignments(&disk.0),
        "disk": {
            "size_mb": disk.size_mb()?,
            "device": disk.0.get("DISK_DEVICE").unwrap_or(""),
            "partitions": partitions,
        },
    }))
}

fn params_json(opened: &Opened) -> Result<Value> {
    let text = raw_text(opened, "params.cfg")?.unwrap_or_default();
    let params = Params::parse(&text);
    // The last assignment wins, as in bash.
    let map: BTreeMap<&str, &str> = params.0.vars().collect();
    Ok(json!({ "text": text, "params": map, "assignments": assignments(&params.0) }))
}

/// Every assignment of a sourced file in file order, as `[KEY, VALUE]`:
/// what bash performs when it sources the file (when `check` accepts it).
fn assignments(vars: &ShellVars) -> Vec<Value> {
    vars.vars().map(|(k, v)| json!([k, v])).collect()
}

fn init_json(opened: &Opened) -> Result<Value> {
    let mut scripts = Vec::new();
    for stage in Stage::SCRIPTS {
        for name in opened.image.init(stage).keys() {
            let member = format!("{}/{name}", stage.dir());
            let Some(blob) = raw_member(opened, &member) else {
                continue;
            };
            scripts.push(json!({
                "stage": stage.dir(),
                "name": name,
                "member": member,
                "size": blob.len(),
                "sha256": sha256_of(&blob, &member, &Bar::hidden())?,
                "text": blob.read_text(&member)?,
            }));
        }
    }
    Ok(json!({ "scripts": scripts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xl_values_become_json_types() {
        assert_eq!(xl_value_json("512"), json!(512));
        assert_eq!(xl_value_json("\"web\""), json!("web"));
        assert_eq!(xl_value_json("['a', 'b']"), json!(["a", "b"]));
        assert_eq!(xl_value_json("1 + 2"), Value::Null);
    }
}
