//! The operations that write an image: `create`, `update`, `sign`, `partial`, `pack`, `build`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lock::lock;
use super::{apply, open_and_apply, refuse_problems, Global};
use crate::admit;
use crate::checksum;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::writer::{self, Compression, WriteOptions};
use crate::image::{Image, MANIFEST};
use crate::ops::Op;
use crate::progress::Progress;
use crate::signature::SigningKey;
use crate::spec::GuestSpec;

/// How to write an image file, signed with `sign` when given.
pub(crate) fn file_options(
    g: Global,
    mtime: u64,
    compression: Compression,
    sign: Option<&Arc<SigningKey>>,
) -> WriteOptions {
    let mut options = g.write_options(mtime, compression);
    options.sign = sign.cloned();
    options
}

/// A directory extracted from a signed image holds the signature, which
/// its writers drop (they rewrite the manifest and never sign): say so.
fn warn_dropped_dir_signature(g: Global, dir: &Path, opened: &Opened) {
    if opened.image.signature.is_some() {
        g.warn(&format!(
            "`{}` held the signature of the image it was extracted from; the update dropped it (directories are not signed: pack it with --sign-key to sign)",
            dir.display()
        ));
    }
}

/// `--sign-key` on a directory: refused, since only image files are
/// signed (a directory's manifest changes with every write of it).
fn refuse_signing_dir(dir: &Path, sign: Option<&Arc<SigningKey>>) -> Result<()> {
    match sign {
        Some(_) => Err(Error::Refused(format!(
            "`{}` is a directory - only image files are signed (pack it into one with --sign-key)",
            dir.display()
        ))),
        None => Ok(()),
    }
}

pub(crate) fn create(g: Global, dest: &Path, ops: &[Op], mtime: u64, sign: Option<&Arc<SigningKey>>) -> Result<()> {
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
        refuse_signing_dir(dest, sign)?;
        writer::write_dir(&image, dest, &[])?;
        g.wrote_dir(dest);
        Ok(())
    } else {
        let w = writer::write_file(&image, dest, &file_options(g, mtime, Compression::None, sign))?;
        g.wrote(&w);
        Ok(())
    }
}

pub(crate) fn update(g: Global, path: &Path, ops: &[Op], mtime: u64, sign: Option<&Arc<SigningKey>>) -> Result<()> {
    update_with(g, path, ops, |_| Ok(mtime), sign)
}

/// `sign`: rewrites an image file unchanged but for a new signature
/// (replacing any earlier one). Without an explicit time, the members keep
/// the time of the image's manifest, so signing a build afterwards gives
/// the same bytes as signing it in the build.
pub(crate) fn sign(g: Global, path: &Path, key: &Arc<SigningKey>, mtime: Option<u64>) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is a directory - sign works on image files (a directory's manifest changes with every write of it: sign the image file, or `pack DIR IMAGE --sign-key KEY`)",
            path.display()
        )));
    }
    // Deployed images are reached through links (`GUEST.xenguest` ->
    // `GUEST-1.0-r0.xenguest`, and its sidecar likewise): sign the file
    // the link names, and leave the link a link.
    let real;
    let path = if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        real = fs::canonicalize(path).with_path("cannot resolve", path)?;
        real.as_path()
    } else {
        path
    };
    update_with(
        g,
        path,
        &[],
        |opened| {
            // A signature vouches for the image: never for one that no
            // longer matches its own manifest (the new manifest would keep
            // the recorded digests, and the damage would be signed).
            if opened.image.manifest.is_some() {
                let problems = checksum::manifest_report(opened, Progress::from_terminal(g.quiet))?.problems;
                if !problems.is_empty() {
                    return Err(Error::Refused(format!(
                        "`{}` does not match its manifest - refusing to sign it: {}",
                        path.display(),
                        problems.join("; ")
                    )));
                }
            }
            Ok(mtime.unwrap_or_else(|| {
                opened
                    .entries
                    .iter()
                    .find(|(n, _)| n == MANIFEST)
                    .map_or(writer::DEFAULT_MTIME, |(_, e)| e.mtime)
            }))
        },
        Some(key),
    )?;
    if g.verbose {
        eprintln!(
            "signed {} with {} ({})",
            path.display(),
            key.public().fingerprint(),
            key.public().algorithm()
        );
    }
    Ok(())
}

/// The problems a directory update may keep because the image had them
/// already (see `update_with`): all that `check` finds but the lines of
/// `params.cfg` and `disk.cfg` that bash would read as more than
/// assignments, which no write keeps.
fn kept_problems(opened: &Opened) -> Result<Vec<String>> {
    let report = admit::admit(
        admit::Candidate::Stored(admit::Stored {
            opened,
            trusted: None,
            sidecar: false,
            progress: crate::progress::Progress::default(),
        }),
        &admit::Policy::default(),
    )?;
    Ok(report
        .image_problems()
        .filter(|p| !crate::config::ShellVars::is_grammar_problem(p))
        .map(|p| p.message.clone())
        .collect())
}

fn update_with(
    g: Global,
    path: &Path,
    ops: &[Op],
    mtime: impl FnOnce(&Opened) -> Result<u64>,
    sign: Option<&Arc<SigningKey>>,
) -> Result<()> {
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
            refuse_signing_dir(path, sign)?;
            refuse_problems(path, &image, &kept_problems(&opened)?)?;
            writer::write_dir(&image, path, &previous)?;
            warn_dropped_dir_signature(g, path, &opened);
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
            if sign.is_none() && image.signature.is_some() {
                // The writer signs only with a key: the old signature
                // cannot cover the new manifest.
                g.warn(&format!(
                    "`{}` was signed; the update dropped its signature (give --sign-key, or sign it again with `xenguest-mkimage sign`)",
                    path.display()
                ));
            }
            let w = writer::write_file(&image, path, &file_options(g, mtime(&opened)?, compression, sign))?;
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
    let (opened, image, previous) = open_and_apply(dir, true, ops)?;
    writer::write_dir(&image, dir, &previous)?;
    warn_dropped_dir_signature(g, dir, &opened);
    g.wrote_dir(dir);
    Ok(())
}

pub(crate) fn pack(g: Global, dir: &Path, dest: &Path, mtime: u64, sign: Option<&Arc<SigningKey>>) -> Result<()> {
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
    if sign.is_none() && opened.image.signature.is_some() {
        // The signature of the image the directory was extracted from
        // covers that image's manifest, not the one written now.
        g.warn(&format!(
            "`{}` holds a signature; the packed image is unsigned (give --sign-key to sign it)",
            dir.display()
        ));
    }
    let w = writer::write_file(&opened.image, dest, &file_options(g, mtime, Compression::None, sign))?;
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
    options: &WriteOptions,
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
    // What `check` would refuse, each problem about a member the TOML
    // names pointing at its source file and TOML line.
    let found = super::problems(&image, None)?;
    if !found.is_empty() {
        let sources = spec.member_sources(spec_path, defines)?;
        let found: Vec<String> = found
            .into_iter()
            .map(|p| {
                let about = sources
                    .iter()
                    .find(|(member, _)| p.starts_with(&format!("`{member}`")) || p.starts_with(&format!("`{member}:")));
                match about {
                    Some((_, source)) => format!("{p} - {source}"),
                    None => p,
                }
            })
            .collect();
        return Err(Error::Refused(format!(
            "not writing `{}`: {}",
            out.display(),
            found.join("; ")
        )));
    }
    let w = writer::write_file(&image, out, options)?;
    g.wrote(&w);
    Ok(())
}
