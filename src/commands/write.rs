//! The operations that write an image: `create`, `update`, `partial`, `pack`, `build`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::lock::lock;
use super::{apply, open_and_apply, problems, refuse_problems, Global};
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form};
use crate::image::writer::{self, Compression};
use crate::image::Image;
use crate::ops::Op;
use crate::spec::GuestSpec;

pub(crate) fn create(g: Global, dest: &Path, ops: &[Op], mtime: u64) -> Result<()> {
    let into_dir = match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            if fs::read_dir(dest).with_path("cannot list", dest)?.next().is_some() {
                return Err(Error::Refused(format!("directory `{}` is not empty", dest.display())));
            }
            true
        }
        Ok(_) => return Err(Error::Refused(format!("`{}` already exists", dest.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io("cannot read", dest, e)),
    };
    let mut image = Image::new_default();
    apply(&mut image, ops)?;
    refuse_problems(dest, &image, &[])?;
    if into_dir {
        writer::write_dir(&image, dest, &[])?;
        g.wrote_dir(dest);
        Ok(())
    } else {
        let w = writer::write_file(&image, dest, &g.write_options(mtime, Compression::None))?;
        g.wrote(&w);
        Ok(())
    }
}

pub(crate) fn update(g: Global, path: &Path, ops: &[Op], mtime: u64) -> Result<()> {
    match fs::metadata(path) {
        // Checked before `lock` opens it: opening a FIFO blocks forever.
        Ok(m) if m.is_file() || m.is_dir() => {}
        Ok(_) => {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: "neither a regular file nor a directory".into(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: "no such file or directory".into(),
            })
        }
        Err(e) => return Err(Error::io("cannot read", path, e)),
    }
    let _lock = lock(path)?;
    let (opened, image, previous) = open_and_apply(path, false, ops)?;
    match opened.form {
        // A directory is often a partial view (`extract-config` leaves the
        // disk files out, and the host updates what it extracted): refuse
        // only what this update would add to what `check` finds.
        Form::Dir => {
            refuse_problems(path, &image, &problems(&opened.image, Some(&opened)))?;
            writer::write_dir(&image, path, &previous)?;
            g.wrote_dir(path);
            Ok(())
        }
        Form::Tar | Form::TarGz => {
            refuse_problems(path, &image, &[])?;
            let compression = if opened.form == Form::TarGz {
                Compression::Gzip
            } else {
                Compression::None
            };
            let w = writer::write_file(&image, path, &g.write_options(mtime, compression))?;
            g.wrote(&w);
            Ok(())
        }
    }
}

pub(crate) fn partial(g: Global, dir: &Path, ops: &[Op]) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Refused(format!(
                "`{}` exists and is not a directory",
                dir.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    }
    let _lock = lock(dir)?;
    let (_, image, previous) = open_and_apply(dir, true, ops)?;
    writer::write_dir(&image, dir, &previous)?;
    g.wrote_dir(dir);
    Ok(())
}

pub(crate) fn pack(g: Global, dir: &Path, dest: &Path, mtime: u64) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is not a directory - pack works on image directories",
            dir.display()
        )));
    }
    let opened = reader::open(dir, false)?;
    if dest.exists() {
        return Err(Error::Refused(format!("`{}` already exists", dest.display())));
    }
    refuse_problems(dest, &opened.image, &[])?;
    let w = writer::write_file(&opened.image, dest, &g.write_options(mtime, Compression::None))?;
    g.wrote(&w);
    Ok(())
}

/// Where `build` writes: `-o` (default: the description's name with
/// `.xenguest`, in the current directory), and whether an existing file
/// may be replaced (`--force`).
pub(crate) struct BuildOutput<'a> {
    pub(crate) path: Option<&'a Path>,
    pub(crate) force: bool,
}

pub(crate) fn build(
    g: Global,
    spec: &GuestSpec,
    spec_path: &Path,
    output: &BuildOutput<'_>,
    defines: &BTreeMap<String, String>,
    mtime: u64,
    compression: Compression,
) -> Result<()> {
    let image = spec.to_image(spec_path, defines)?;
    let default_out;
    let out = if let Some(o) = output.path {
        o
    } else {
        let stem = spec_path
            .file_stem()
            .map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
        default_out = PathBuf::from(format!("{stem}.xenguest"));
        &default_out
    };
    if out.is_dir() {
        return Err(Error::Refused(format!("output `{}` is a directory", out.display())));
    }
    // The write renames over the output: never over a device or a FIFO
    // (`-o /dev/null` run as root would replace the device node).
    if fs::metadata(out).is_ok_and(|m| !m.is_file()) {
        return Err(Error::Refused(format!(
            "output `{}` exists and is not a regular file",
            out.display()
        )));
    }
    if !output.force && fs::symlink_metadata(out).is_ok() {
        return Err(Error::Refused(format!(
            "output `{}` already exists - use --force to replace it",
            out.display()
        )));
    }
    refuse_problems(out, &image, &[])?;
    let w = writer::write_file(&image, out, &g.write_options(mtime, compression))?;
    g.wrote(&w);
    Ok(())
}
