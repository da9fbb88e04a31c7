//! `extract`, `extract-config` and `extract-disk-file`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::{raw_member, Global};
use crate::checksum::Manifest;
use crate::error::{Error, Result};
use crate::image::reader;
use crate::image::tar::Kind;
use crate::image::writer;
use crate::image::{Blob, Stage, MANIFEST, SIGNATURE, SIGNER};
use crate::progress::Progress;

pub(crate) fn extract(g: Global, path: &Path, dest: &Path, config_only: bool) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
    if meta.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is a directory - extract works on image files",
            path.display()
        )));
    }
    if !dest.is_dir() {
        return Err(Error::Refused(format!(
            "destination `{}` is not an existing directory",
            dest.display()
        )));
    }
    // Everything is checked when the image is opened: nothing is written
    // unless every member is safe.
    let opened = reader::open(path, false)?;
    // extract-config filters the manifest, which the image's signature
    // then no longer matches: the signature members stay behind.
    let wanted = |name: &str| {
        !(config_only && (name == "disk" || name.starts_with("disk/") || name == SIGNATURE || name == SIGNER))
    };
    let total = opened
        .entries
        .iter()
        .filter(|(n, _)| wanted(n))
        .map(|(_, e)| e.size)
        .sum();
    // Then the destination: a link, or an entry of the wrong type, on the
    // path of any member is refused before anything is written.
    for (name, e) in opened.entries.iter().filter(|(n, _)| wanted(n)) {
        check_extract_path(dest, name, e.kind == Kind::Dir)?;
    }
    let bar = Progress::from_terminal(g.quiet).bar(total, &format!("extracting {}", path.display()));
    for (name, e) in &opened.entries {
        if !wanted(name) {
            continue;
        }
        match e.kind {
            Kind::Dir => writer::ensure_dir(dest, name)?,
            Kind::File => {
                if let Some((parent, _)) = name.rsplit_once('/') {
                    writer::ensure_dir(dest, parent)?;
                }
                let target = dest.join(name);
                if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_file()) {
                    return Err(Error::Refused(format!(
                        "`{}` exists and is not a regular file",
                        target.display()
                    )));
                }
                let is_init = Stage::ALL.iter().any(|s| name.starts_with(&format!("{}/", s.dir())));
                let mode = if is_init || e.mode & 0o111 != 0 {
                    crate::image::MODE_EXEC
                } else {
                    crate::image::MODE_FILE
                };
                let mut blob = opened.entry_blob(e).expect("tar images have an archive");
                if name == MANIFEST && config_only {
                    // The directory's manifest lists what it holds, so
                    // that `check` and `verify` of it still hold.
                    blob = Blob::bytes(Manifest::filter(&blob.read_text(MANIFEST)?, |n| {
                        !n.starts_with("disk/")
                    }));
                }
                writer::write_file_member_with(&target, mode, &blob, name, &bar)?;
            }
            Kind::Other(_) => unreachable!("refused when the image was opened"),
        }
    }
    bar.finish();
    // A signature left by an earlier extraction would not match the
    // manifest just written.
    if !opened.entries.iter().any(|(n, _)| n == SIGNATURE && wanted(n)) {
        writer::remove_signature_files(dest)?;
    }
    if g.verbose {
        let n = opened.entries.iter().filter(|(n, _)| wanted(n)).count();
        eprintln!("wrote {n} members into {}", dest.display());
    }
    Ok(())
}

/// Checks what already exists on the way to member `name` under `dest`:
/// directories where directories go, a regular file (to be replaced) or
/// nothing where the file goes, and never a symbolic link.
fn check_extract_path(dest: &Path, name: &str, dir: bool) -> Result<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let mut cur = dest.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        let want_dir = dir || i + 1 < parts.len();
        match fs::symlink_metadata(&cur) {
            Ok(m) if want_dir && m.is_dir() => {}
            Ok(m) if !want_dir && m.is_file() => {}
            Ok(_) => {
                return Err(Error::Refused(format!(
                    "`{}` exists and is not a {} - refusing to write through it",
                    cur.display(),
                    if want_dir { "directory" } else { "regular file" }
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io("cannot read", &cur, e)),
        }
    }
    Ok(())
}

pub(crate) fn extract_disk_file(path: &Path, name: &str) -> Result<()> {
    crate::validate::member_name("DISKFILE", name)?;
    let opened = reader::open(path, false)?;
    let member = format!("disk/{name}");
    let blob = raw_member(&opened, &member)
        .ok_or_else(|| Error::Refused(format!("`{}` has no disk file `{name}`", path.display())))?;
    let mut reader = blob.open()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // The reader of a pipe went away (e.g. `| head`): not our error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("cannot copy disk file out of", path, e)),
    }
}
