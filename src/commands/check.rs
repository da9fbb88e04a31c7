//! `check` (an image against its rules and manifest) and `verify` (against its manifest and sidecar).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use super::{sha256_file, sha256_of, Global};
use crate::checksum::{sidecar_digest, sidecar_path, Manifest};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::tar::Kind;
use crate::image::{Blob, MANIFEST};
use crate::ops;
use crate::progress::Progress;

pub(crate) fn check(g: Global, path: &Path) -> Result<()> {
    let result = reader::open(path, false).and_then(|opened| {
        let mut problems = ops::problems(&opened.image);
        // A directory's manifest is the one its tar image carried when it
        // was extracted: `update` of the directory (or `extract-config`,
        // which leaves out disk/) makes it stale, so only tar images are
        // checked against theirs.
        if opened.form != Form::Dir && opened.image.manifest.is_some() {
            problems.extend(manifest_problems(g, &opened)?);
        }
        Ok(problems)
    });
    let problems = match result {
        Ok(p) => p,
        Err(e) if g.json => vec![e.to_string()],
        Err(e) => return Err(e),
    };
    if g.json {
        println!(
            "{}",
            json!({ "image": path, "ok": problems.is_empty(), "problems": problems })
        );
    } else if problems.is_empty() {
        println!("Image is OK");
    }
    if problems.is_empty() {
        Ok(())
    } else if g.json {
        Err(Error::Verify(format!("`{}` failed the check", path.display())))
    } else {
        Err(Error::NotAnImage {
            path: path.to_path_buf(),
            reason: problems.join("; "),
        })
    }
}

/// Checks the members of a tar image against its manifest. Reads the
/// archive once, hashing each member's data range.
fn manifest_problems(g: Global, opened: &Opened) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let Some(manifest) = &opened.image.manifest else {
        return Ok(vec![format!("no embedded manifest (`./{MANIFEST}`)")]);
    };
    let Manifest {
        digests: expected,
        malformed,
    } = Manifest::parse(&manifest.read_text(MANIFEST)?);
    for line in malformed {
        problems.push(format!("manifest line `{}` is malformed", line.escape_debug()));
    }
    let files: Vec<(&String, Blob)> = match opened.form {
        Form::Dir => Vec::new(),
        _ => opened
            .entries
            .iter()
            .filter(|(name, e)| e.kind == Kind::File && name != MANIFEST)
            .filter_map(|(name, e)| opened.entry_blob(e).map(|blob| (name, blob)))
            .collect(),
    };
    let total = files.iter().map(|(_, b)| b.len()).sum();
    let bar = Progress::from_terminal(g.quiet).bar(total, &format!("checking {}", opened.path.display()));
    let mut seen = BTreeSet::new();
    for (name, blob) in files {
        seen.insert(name.clone());
        let actual = sha256_of(&blob, name, &bar)?;
        match expected.get(name) {
            None => problems.push(format!("member `./{name}` is not listed in the manifest")),
            Some(d) if *d != actual => problems.push(format!(
                "member `./{name}` does not match the manifest (sha256 {actual}, manifest says {d})"
            )),
            Some(_) => {}
        }
    }
    bar.finish();
    for name in expected.keys() {
        if !seen.contains(name) {
            problems.push(format!("manifest lists `./{name}` but the image has no such member"));
        }
    }
    Ok(problems)
}

pub(crate) fn verify(g: Global, path: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    if opened.form == Form::Dir {
        return Err(Error::Refused(format!(
            "`{}` is a directory - verify works on image files (directories have no manifest)",
            path.display()
        )));
    }
    let (problems, sidecar_checked) = integrity_problems(g, &opened, true)?;
    if g.json {
        println!(
            "{}",
            json!({ "image": path, "ok": problems.is_empty(), "sidecar": sidecar_checked, "problems": problems })
        );
    } else if problems.is_empty() {
        println!(
            "{}: OK (manifest{})",
            path.display(),
            if sidecar_checked {
                " and sidecar"
            } else {
                "; no sidecar"
            }
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Verify(format!(
            "`{}` failed verification: {}",
            path.display(),
            problems.join("; ")
        )))
    }
}

/// The integrity problems of the tar image `opened`: its members against
/// the embedded manifest (when `require_manifest` or when it has one) and
/// the whole file against its sidecar (when there is one). Returns the
/// problems and whether a sidecar was checked. `verify` and the host
/// manager (before it creates anything) both judge an image with this.
pub(crate) fn integrity_problems(g: Global, opened: &Opened, require_manifest: bool) -> Result<(Vec<String>, bool)> {
    let path = opened.path.as_path();
    let sidecar = sidecar_path(path);
    let expected = match fs::read_to_string(&sidecar) {
        Ok(text) => Some(sidecar_digest(&text).to_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", &sidecar, e)),
    };
    // The whole-file hash (sidecar) and the member hashes (manifest) are
    // independent passes: run them on two threads.
    let (members, whole) = std::thread::scope(|scope| {
        let whole = expected.as_ref().map(|_| scope.spawn(|| sha256_file(path)));
        let members = if require_manifest || opened.image.manifest.is_some() {
            manifest_problems(g, opened)
        } else {
            Ok(Vec::new())
        };
        let whole = whole.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Refused("the hashing thread failed".into())))
        });
        (members, whole)
    });
    let mut problems = members?;
    let sidecar_checked = expected.is_some();
    if let (Some(expected), Some(actual)) = (expected, whole.transpose()?) {
        if expected != actual {
            problems.push(format!(
                "the image does not match `{}` (sha256 {actual}, sidecar says {expected})",
                sidecar.display()
            ));
        }
    }
    Ok((problems, sidecar_checked))
}
