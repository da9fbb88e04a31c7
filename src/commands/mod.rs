//! One module per operation family; what they share lives here.
//!
//! - [`write`] holds the operations that write an image (`create`,
//!   `update`, `sign`, `partial`, `pack`, `build`);
//! - [`check`] holds `check` and `verify`;
//! - [`dump`] holds the `dump-*` operations;
//! - [`extract`] holds `extract`, `extract-config`, `extract-disk-file`;
//! - [`export`] turns an image back into a TOML specification;
//! - [`diff`] compares two images;
//! - [`info`] shows what an image is and what it needs;
//! - [`lock`] is the advisory lock writers take on an image.

use std::io::{self, Write};
use std::path::Path;

use crate::admit::{self, Candidate, Policy, Stored};
use crate::checksum;
use crate::error::{Error, Result};
use crate::image::reader::{self, Opened};
use crate::image::writer::{self, Compression, WriteOptions};
use crate::image::{Blob, Image};
use crate::ops::Op;
use crate::progress::{Bar, Progress};

mod check;
mod diff;
mod dump;
mod export;
mod extract;
mod info;
mod lock;
mod write;

pub(crate) use check::{check, verify};
pub(crate) use diff::diff;
pub(crate) use dump::{dump, Dump};
pub(crate) use export::export;
pub(crate) use extract::{extract, extract_disk_file};
pub(crate) use info::info;
pub(crate) use write::{build, create, file_options, pack, partial, sign, update, BuildOutput};

/// Version of every `--json` document's layout (its `schema` field; see
/// docs/json.md): raised when a field changes meaning or goes away, not
/// when one is added.
pub(crate) const JSON_SCHEMA: u32 = 1;

/// Prints the `--json` document of `command` (see [`crate::json::document`]).
fn print_json(command: &str, body: serde_json::Value) -> Result<()> {
    let out = &mut io::stdout().lock();
    writeln!(out, "{}", crate::json::document(JSON_SCHEMA, command, body))
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

/// What is wrong with an image whatever a host allows, and so what every
/// writer refuses to write: the admission rules ([`admit::admit`]) but the
/// host permissions. An image about to be written is judged as it would be
/// written; with `stored`, as stored there (what `check` reads).
fn problems(image: &Image, stored: Option<&Opened>) -> Result<Vec<String>> {
    let candidate = match stored {
        Some(opened) => Candidate::Stored(Stored {
            opened,
            trusted: None,
            sidecar: false,
            progress: Progress::default(),
        }),
        None => Candidate::ToWrite(image),
    };
    let report = admit::admit(candidate, &Policy::default())?;
    Ok(report.image_problems().map(|p| p.message.clone()).collect())
}

/// Refuses to write `image` to `dest` if `check` would refuse it, with the
/// problems `check` would name; `already` are problems the image had
/// before the operation, which are let through (see `update`).
fn refuse_problems(dest: &Path, image: &Image, already: &[String]) -> Result<()> {
    let new: Vec<String> = problems(image, None)?
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

/// The raw bytes of member `name` as stored (not re-rendered).
fn raw_member(opened: &Opened, name: &str) -> Option<Blob> {
    opened.raw_member(name)
}

fn raw_text(opened: &Opened, name: &str) -> Result<Option<String>> {
    raw_member(opened, name).map(|b| b.read_text(name)).transpose()
}

/// Prints an error the way every error of the tool is printed.
pub(crate) fn report(e: &Error) {
    let msg = e.full_message();
    eprintln!("xenguest-mkimage: error: {msg}");
    if let Error::Usage(_) = e {
        eprintln!("Try `xenguest-mkimage --help` or `xenguest-mkimage OPERATION --help`.");
    }
}
