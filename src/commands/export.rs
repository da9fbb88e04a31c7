//! `export`: an image back to a TOML specification and its files.

use std::fs;
use std::io;
use std::path::Path;

use super::Global;
use crate::error::{Error, IoContext, Result};
use crate::image::reader;
use crate::image::writer;
use crate::image::{Blob, Stage};

pub(crate) fn export(g: Global, path: &Path, dest: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    let (spec, files) = crate::spec::export(&opened.image)?;
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!("directory `{}` is not empty", dest.display())));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).with_path("cannot create directory", dest)?;
        }
        Err(e) => return Err(Error::io("cannot list", dest, e)),
    }
    for (rel, blob) in &files {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            writer::ensure_dir(dest, parent)?;
        }
        let mode = if Stage::ALL.iter().any(|s| rel.starts_with(&format!("{}/", s.dir()))) {
            crate::image::MODE_EXEC
        } else {
            crate::image::MODE_FILE
        };
        writer::write_file_member(&dest.join(rel), mode, blob, rel)?;
    }
    let text = toml::to_string_pretty(&spec).map_err(|e| Error::Refused(format!("cannot write the TOML: {e}")))?;
    let header = format!(
        "# Exported by xenguest-mkimage from {}.\n# Build it again with: xenguest-mkimage build guest.toml -o IMAGE\n\n",
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    );
    let toml_path = dest.join("guest.toml");
    writer::write_file_member(
        &toml_path,
        crate::image::MODE_FILE,
        &Blob::bytes(header + &text),
        "guest.toml",
    )?;
    if g.verbose {
        eprintln!("wrote {} and {} files", toml_path.display(), files.len());
    }
    Ok(())
}
