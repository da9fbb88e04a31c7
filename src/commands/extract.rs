//! `extract`, `extract-config` and `extract-disk-file`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{raw_member, Global};
use crate::checksum::{member_problem, HashingReader, Manifest};
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Opened};
use crate::image::tar::Kind;
use crate::image::writer;
use crate::image::{Blob, Stage, MANIFEST, SIGNATURE, SIGNER, TRAILER};
use crate::progress::{Bar, Progress};

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
    let digests = manifest_digests(&opened)?;
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
    // Every file is first written into a hidden directory inside DEST,
    // hashed as it is copied (each member is read once); only when all
    // match the manifest are they moved into place. On any failure the
    // staging directory goes away and DEST is as it was.
    let staging = tempfile::Builder::new()
        .prefix(".xenguest-extract.")
        .tempdir_in(dest)
        .map_err(|e| Error::io("cannot create a directory in", dest, e))?;
    let bar = Progress::from_terminal(g.quiet).bar(total, &format!("extracting {}", path.display()));
    let mut files = Vec::new();
    for (name, e) in &opened.entries {
        if !wanted(name) || e.kind != Kind::File {
            continue;
        }
        let is_init = Stage::SCRIPTS
            .iter()
            .any(|s| name.starts_with(&format!("{}/", s.dir())));
        let mode = if is_init || e.mode & 0o111 != 0 {
            crate::image::MODE_EXEC
        } else {
            crate::image::MODE_FILE
        };
        let blob = opened.entry_blob(e).ok_or_else(|| Error::archive(path, "no archive"))?;
        let staged = staging.path().join(staged_name(files.len()));
        let mut out = File::create(&staged).with_path("cannot create", &staged)?;
        let digest = copy_hashed(&blob, &mut out, name, &bar)?;
        if !TRAILER.contains(&name.as_str()) {
            check_member(digests.as_ref(), name, &digest, path)?;
        }
        if name == MANIFEST && config_only {
            // The directory's manifest lists what it holds, so that
            // `check` and `verify` of it still hold.
            let text = Manifest::filter(&blob.read_text(MANIFEST)?, |n| !n.starts_with("disk/"));
            out = File::create(&staged).with_path("cannot create", &staged)?;
            out.write_all(text.as_bytes()).with_path("cannot write", &staged)?;
        }
        out.set_permissions(fs::Permissions::from_mode(mode))
            .with_path("cannot set the mode of", &staged)?;
        out.sync_all().with_path("cannot sync", &staged)?;
        files.push((name.as_str(), staged));
    }
    if let Some(digests) = &digests {
        let have: BTreeSet<&str> = opened.entries.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(name) = digests.keys().find(|n| wanted(n) && !have.contains(n.as_str())) {
            return Err(Error::Verify(format!(
                "`{}`: the manifest lists `./{name}` but the image has no such member - nothing was extracted",
                path.display()
            )));
        }
    }
    bar.finish();
    for (name, _) in opened.entries.iter().filter(|(n, e)| wanted(n) && e.kind == Kind::Dir) {
        writer::ensure_dir(dest, name)?;
    }
    for (name, staged) in &files {
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
        fs::rename(staged, &target).with_path("cannot create", &target)?;
    }
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

/// The name of the `n`th file in the staging directory.
fn staged_name(n: usize) -> String {
    format!("{n}")
}

/// The digests the image's embedded manifest records (`None`: it has no
/// manifest, so there is nothing to check its members against).
pub(super) fn manifest_digests(opened: &Opened) -> Result<Option<BTreeMap<String, String>>> {
    opened
        .image
        .manifest
        .as_ref()
        .map(|m| m.read_text(MANIFEST).map(|text| Manifest::parse(&text).digests))
        .transpose()
}

/// Copies `blob` (member `name`) to `out`, hashing what it copies; returns
/// the sha256.
pub(super) fn copy_hashed(blob: &Blob, out: &mut impl Write, name: &str, bar: &Bar) -> Result<String> {
    let mut reader = HashingReader::new(bar.reader(blob.open()?));
    io::copy(&mut reader, out).map_err(|e| Error::Refused(format!("cannot copy `{name}`: {e}")))?;
    Ok(reader.finish())
}

/// Fails when member `name`, copied with sha256 `digest`, does not match
/// the manifest of the image at `path` (when it has one).
pub(super) fn check_member(
    digests: Option<&BTreeMap<String, String>>,
    name: &str,
    digest: &str,
    path: &Path,
) -> Result<()> {
    match digests.and_then(|d| member_problem(name, digest, d.get(name).map(String::as_str))) {
        Some(problem) => Err(Error::Verify(format!(
            "`{}`: {problem} - nothing was written",
            path.display()
        ))),
        None => Ok(()),
    }
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
    let digests = manifest_digests(&opened)?;
    let member = format!("disk/{name}");
    let blob = raw_member(&opened, &member)
        .ok_or_else(|| Error::Refused(format!("`{}` has no disk file `{name}`", path.display())))?;
    // Streamed: the member is read once, hashed as it goes out, and judged
    // at the end. A consumer must check the exit status.
    let mut reader = HashingReader::new(blob.open()?);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
        Ok(()) => {}
        // The reader of a pipe went away (e.g. `| head`): not our error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(Error::io("cannot copy disk file out of", path, e)),
    }
    let digest = reader.finish();
    match digests.and_then(|d| member_problem(&member, &digest, d.get(&member).map(String::as_str))) {
        Some(problem) => Err(Error::Verify(format!(
            "`{}`: {problem} - discard what was written to standard output",
            path.display()
        ))),
        None => Ok(()),
    }
}
