//! One module per operation family; what they share lives here.
//!
//! - [`write`] holds the operations that write an image (`create`,
//!   `update`, `sign`, `partial`, `pack`, `build`);
//! - [`check`] holds `check` and `verify`;
//! - [`dump`] holds the `dump-*` operations;
//! - [`extract`] holds `extract`, `extract-config`, `extract-disk-file`;
//! - [`export`] turns an image back into a TOML specification;
//! - [`diff`] compares two images;
//! - [`lock`] is the advisory lock writers take on an image.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use crate::checksum;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Opened};
use crate::image::writer::{self, Compression, WriteOptions};
use crate::image::{Blob, Image, Member};
use crate::ops::{self, Op};
use crate::progress::{Bar, Progress};
use crate::validate;

mod check;
mod diff;
mod dump;
mod export;
mod extract;
mod lock;
mod write;

pub(crate) use check::{check, integrity, verify};
pub(crate) use diff::diff;
pub(crate) use dump::{dump, Dump};
pub(crate) use export::export;
pub(crate) use extract::{extract, extract_disk_file};
pub(crate) use write::{build, create, file_options, pack, partial, sign, update, BuildOutput};

/// Version of every `--json` document's layout (its `schema` field; see
/// docs/json.md): raised when a field changes meaning or goes away, not
/// when one is added.
pub(crate) const JSON_SCHEMA: u32 = 1;

/// A `--json` document of `command`: `schema` and `command`, then the
/// fields of `body` (an object). The layout both binaries print.
pub(crate) fn json_document(schema: u32, command: &str, body: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("schema".into(), schema.into());
    doc.insert("command".into(), command.into());
    if let serde_json::Value::Object(fields) = body {
        doc.extend(fields);
    }
    serde_json::Value::Object(doc)
}

/// Prints the `--json` document of `command` (see [`json_document`]).
fn print_json(command: &str, body: serde_json::Value) -> Result<()> {
    let out = &mut io::stdout().lock();
    writeln!(out, "{}", json_document(JSON_SCHEMA, command, body))
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to", "standard output", e))
}

/// The `--json` document of a failed operation (printed by the front end
/// for any error in JSON mode): `ok` false and the error's message.
pub(crate) fn print_json_error(command: &str, message: &str) {
    let _ = print_json(command, serde_json::json!({ "ok": false, "error": message }));
}

/// Options every operation sees.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Global {
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    pub(crate) json: bool,
}

impl Global {
    /// A warning on stderr (`-q` silences it): something the user asked
    /// for happened, but not all of it (a signature dropped by a rewrite).
    fn warn(self, msg: &str) {
        if !self.quiet {
            eprintln!("xenguest-mkimage: warning: {msg}");
        }
    }

    fn write_options(self, mtime: u64, compression: Compression) -> WriteOptions {
        WriteOptions {
            mtime,
            compression,
            progress: Progress::from_terminal(self.quiet),
            sign: None,
        }
    }

    fn wrote(self, w: &writer::Written) {
        if self.verbose {
            eprintln!("wrote {} ({} bytes, sha256 {})", w.path.display(), w.bytes, w.sha256);
        }
    }

    fn wrote_dir(self, dir: &Path) {
        if self.verbose {
            eprintln!("wrote directory image {}", dir.display());
        }
    }
}

fn apply(image: &mut Image, ops: &[Op]) -> Result<()> {
    for op in ops {
        op.apply(image)?;
    }
    Ok(())
}

/// What `check` finds wrong with an image's content, and so what every
/// writer refuses to write: the model's rules ([`ops::problems`]) and the
/// text rule ([`validate::text_member`]) over each text member. With
/// `stored`, text members are checked as stored there (what `check` reads);
/// without, as they would be written (what a writer is about to write).
fn problems(image: &Image, stored: Option<&Opened>) -> Vec<String> {
    let mut out = ops::problems(image);
    for member in image.members() {
        let Member::File { path, blob, .. } = member else {
            continue;
        };
        if !validate::is_text_member(&path) {
            continue;
        }
        let blob = stored.and_then(|o| raw_member(o, &path)).unwrap_or(blob);
        if let Err(e) = blob
            .read_all(&path)
            .and_then(|bytes| validate::text_member(&path, &bytes))
        {
            out.push(e.to_string());
        }
    }
    out
}

/// Refuses to write `image` to `dest` if `check` would refuse it, with the
/// problems `check` would name; `already` are problems the image had
/// before the operation, which are let through (see `update`).
fn refuse_problems(dest: &Path, image: &Image, already: &[String]) -> Result<()> {
    let new: Vec<String> = problems(image, None)
        .into_iter()
        .filter(|p| !already.contains(p))
        .collect();
    if new.is_empty() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "not writing `{}`: {}",
            dest.display(),
            new.join("; ")
        )))
    }
}

/// Opens the image at `path` (the caller holds its lock), applies `ops`,
/// and returns the image as read, as modified, and the files it had (for
/// a directory, the ones to remove if they are gone).
fn open_and_apply(path: &Path, partial: bool, ops: &[Op]) -> Result<(Opened, Image, Vec<String>)> {
    let opened = reader::open(path, partial)?;
    let previous = opened
        .image
        .members()
        .into_iter()
        .filter_map(|m| match m {
            crate::image::Member::File { path, .. } => Some(path),
            crate::image::Member::Dir(_) => None,
        })
        .collect();
    let mut image = opened.image.clone();
    apply(&mut image, ops)?;
    Ok((opened, image, previous))
}

fn sha256_of(blob: &Blob, what: &str, bar: &Bar) -> Result<String> {
    checksum::sha256_read(blob.open()?, bar).map_err(|e| Error::Refused(format!("cannot read `{what}`: {e}")))
}

fn sha256_file(path: &Path) -> Result<String> {
    let len = fs::metadata(path).with_path("cannot read", path)?.len();
    sha256_of(
        &Blob::File {
            path: path.to_path_buf(),
            len,
        },
        &path.display().to_string(),
        &Bar::hidden(),
    )
}

/// The raw bytes of member `name` as stored (not re-rendered).
fn raw_member(opened: &Opened, name: &str) -> Option<Blob> {
    opened.raw_member(name)
}

fn raw_text(opened: &Opened, name: &str) -> Result<Option<String>> {
    raw_member(opened, name).map(|b| b.read_text(name)).transpose()
}
