//! The `dump-*` operations: configuration members as stored.

use std::io::{self, Write};
use std::path::Path;

use serde_json::json;

use super::{raw_text, Global};
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Opened};
use crate::image::Stage;

pub(crate) fn dump(g: Global, what: &str, path: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    let out = &mut io::stdout().lock();
    let guest_d: Vec<String> = opened.image.guest_d.keys().map(|k| format!("guest.d/{k}")).collect();
    let result = match what {
        "dump-xenconfig" => {
            let mut files = vec!["guest.cfg".to_owned()];
            files.extend(guest_d);
            dump_files(g, out, "Xen configuration:", &opened, &files, true)
        }
        "dump-diskconfig" => dump_files(g, out, "Disk configuration:", &opened, &["disk.cfg".to_owned()], true),
        "dump-paramsconfig" => dump_files(
            g,
            out,
            "Guest configuration:",
            &opened,
            &["params.cfg".to_owned()],
            false,
        ),
        _ => dump_init(g, out, &opened),
    };
    result.and_then(|()| out.flush().with_path("cannot write to", "standard output"))
}

fn dump_files(
    g: Global,
    out: &mut impl Write,
    title: &str,
    opened: &Opened,
    files: &[String],
    trailing_newline: bool,
) -> Result<()> {
    let stdout = |e| Error::io("cannot write to", "standard output", e);
    if g.json {
        let mut map = serde_json::Map::new();
        for f in files {
            map.insert(f.clone(), json!(raw_text(opened, f)?));
        }
        return writeln!(out, "{}", serde_json::Value::Object(map)).map_err(stdout);
    }
    writeln!(out, "{title}").map_err(stdout)?;
    for f in files {
        if let Some(text) = raw_text(opened, f)? {
            out.write_all(text.as_bytes()).map_err(stdout)?;
        }
    }
    if trailing_newline {
        writeln!(out).map_err(stdout)?;
    }
    Ok(())
}

fn dump_init(g: Global, out: &mut impl Write, opened: &Opened) -> Result<()> {
    let stdout = |e| Error::io("cannot write to", "standard output", e);
    let stages = [Stage::Main, Stage::Pre, Stage::Post];
    if g.json {
        let mut map = serde_json::Map::new();
        for stage in stages {
            let mut scripts = serde_json::Map::new();
            for name in opened.image.init(stage).keys() {
                let member = format!("{}/{name}", stage.dir());
                scripts.insert(name.clone(), json!(raw_text(opened, &member)?));
            }
            map.insert(stage.dir().to_owned(), serde_json::Value::Object(scripts));
        }
        return writeln!(out, "{}", serde_json::Value::Object(map)).map_err(stdout);
    }
    for stage in stages {
        let dir = stage.dir();
        writeln!(out, "=== {dir} ===").map_err(stdout)?;
        let scripts = opened.image.init(stage);
        if scripts.is_empty() {
            writeln!(out, "No {dir} scripts.").map_err(stdout)?;
        }
        for name in scripts.keys() {
            if let Some(text) = raw_text(opened, &format!("{dir}/{name}"))? {
                out.write_all(text.as_bytes()).map_err(stdout)?;
            }
        }
        writeln!(out, "===============\n").map_err(stdout)?;
    }
    Ok(())
}
