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
use std::path::Path;

use crate::checksum;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::tar::Kind;
use crate::image::writer::{self, Compression, WriteOptions};
use crate::image::{Blob, Image};
use crate::ops::{self, Op};
use crate::progress::{Bar, Progress};

mod check;
mod diff;
mod dump;
mod export;
mod extract;
mod lock;
mod write;

pub(crate) use check::{check, verify};
pub(crate) use diff::diff;
pub(crate) use dump::dump;
pub(crate) use export::export;
pub(crate) use extract::{extract, extract_disk_file};
pub(crate) use write::{build, create, file_options, pack, partial, sign, update};

/// Options every operation sees.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Global {
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    pub(crate) json: bool,
}

impl Global {
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
}

fn apply(image: &mut Image, ops: &[Op]) -> Result<()> {
    for op in ops {
        op.apply(image)?;
    }
    Ok(())
}

fn warn_problems(g: Global, image: &Image) {
    for p in ops::problems(image) {
        g.warn(&p);
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
    match opened.form {
        Form::Dir => {
            let p = opened.path.join(name);
            fs::metadata(&p)
                .ok()
                .filter(fs::Metadata::is_file)
                .map(|m| Blob::File { path: p, len: m.len() })
        }
        _ => opened
            .entries
            .iter()
            .find(|(n, e)| n == name && e.kind == Kind::File)
            .and_then(|(_, e)| opened.entry_blob(e)),
    }
}

fn raw_text(opened: &Opened, name: &str) -> Result<Option<String>> {
    raw_member(opened, name).map(|b| b.read_text(name)).transpose()
}
