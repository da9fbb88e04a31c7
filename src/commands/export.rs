//! `export`: an image back to a TOML specification and its files.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::extract::{check_member, copy_hashed, manifest_digests};
use super::Global;
use crate::checksum::sha256_bytes;
use crate::error::{Error, IoContext, Result};
use crate::image::reader;
use crate::image::writer;
use crate::image::{Blob, Stage};
use crate::progress::Bar;
use crate::spec::Exported;

pub(crate) fn export(g: Global, path: &Path, dest: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    // With a manifest, what the TOML is made from is judged before
    // anything is written: the configuration files as they were read when
    // the image was opened, and each guest.d file, read once here.
    let digests = manifest_digests(&opened)?;
    for name in ["params.cfg", "guest.cfg", "disk.cfg"] {
        if let Some(blob) = opened.raw_member(name) {
            check_member(digests.as_ref(), name, &sha256_bytes(&blob.read_all(name)?), path)?;
        }
    }
    let mut image = opened.image.clone();
    for (name, blob) in &mut image.guest_d {
        let member = format!("guest.d/{name}");
        let bytes = blob.read_all(&member)?;
        check_member(digests.as_ref(), &member, &sha256_bytes(&bytes), path)?;
        *blob = Blob::bytes(bytes);
    }
    let (spec, files) = crate::spec::export(&image)?;
    let created = match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!("directory `{}` is not empty", dest.display())));
            }
            false
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).with_path("cannot create directory", dest)?;
            true
        }
        Err(e) => return Err(Error::io("cannot list", dest, e)),
    };
    let written = write_staged(path, dest, &spec, &files, digests.as_ref());
    if written.is_err() && created {
        // Nothing was moved in: the directory made for it goes too.
        let _ = fs::remove_dir(dest);
    }
    written?;
    if g.verbose {
        eprintln!("wrote {} and {} files", dest.join("guest.toml").display(), files.len());
    }
    Ok(())
}

/// Writes `files` and the guest.toml of `spec` (from image `path`) into
/// the empty directory `dest`: first into a hidden directory inside it,
/// every member hashed as it is copied (read once) and checked against
/// `digests`, then moved into place only when all match. A failure leaves
/// `dest` empty.
fn write_staged(
    path: &Path,
    dest: &Path,
    spec: &Exported,
    files: &[(String, Blob)],
    digests: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    let staging = tempfile::Builder::new()
        .prefix(".xenguest-export.")
        .tempdir_in(dest)
        .map_err(|e| Error::io("cannot create a directory in", dest, e))?;
    let root = staging.path();
    for (rel, blob) in files {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            writer::ensure_dir(root, parent)?;
        }
        let mode = if Stage::SCRIPTS.iter().any(|s| rel.starts_with(&format!("{}/", s.dir()))) {
            crate::image::MODE_EXEC
        } else {
            crate::image::MODE_FILE
        };
        let target = root.join(rel);
        let mut out = File::create(&target).with_path("cannot create", &target)?;
        let digest = copy_hashed(blob, &mut out, rel, &Bar::hidden())?;
        check_member(digests, rel, &digest, path)?;
        out.set_permissions(fs::Permissions::from_mode(mode))
            .with_path("cannot set the mode of", &target)?;
        out.sync_all().with_path("cannot sync", &target)?;
    }
    let text = toml::to_string_pretty(spec).map_err(|e| Error::Refused(format!("cannot write the TOML: {e}")))?;
    let header = format!(
        "# Exported by xenguest-mkimage from {}.\n# Build it again with: xenguest-mkimage build guest.toml -o IMAGE\n\n",
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    );
    let toml_path = root.join("guest.toml");
    let mut out = File::create(&toml_path).with_path("cannot create", &toml_path)?;
    out.write_all((header + &text).as_bytes())
        .and_then(|()| out.set_permissions(fs::Permissions::from_mode(crate::image::MODE_FILE)))
        .and_then(|()| out.sync_all())
        .with_path("cannot write", &toml_path)?;
    let mut names = Vec::new();
    for entry in fs::read_dir(root).with_path("cannot list", root)? {
        names.push(entry.with_path("cannot list", root)?.file_name());
    }
    names.sort();
    for name in &names {
        let target = dest.join(name);
        fs::rename(root.join(name), &target).with_path("cannot create", &target)?;
    }
    Ok(())
}
