//! `check` (an image against its rules and manifest) and `verify` (against its manifest and sidecar).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use super::{print_json, problems, raw_member, sha256_file, sha256_of, Global};
use crate::checksum::{sidecar_digest, sidecar_path, Manifest};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::tar::Kind;
use crate::image::{Blob, Member, MANIFEST};
use crate::progress::Progress;

/// `check`: returns whether the image passed (the problems are reported
/// already; an error is an image that cannot be read at all).
pub(crate) fn check(g: Global, path: &Path) -> Result<bool> {
    let result = reader::open(path, false).and_then(|opened| {
        let mut problems = problems(&opened.image, Some(&opened));
        // A directory's manifest is written by `extract` and kept up to
        // date by every writer of the directory: checked like a tar's.
        if opened.image.manifest.is_some() {
            problems.extend(manifest_report(g, &opened)?.problems);
        }
        Ok((opened.form, problems))
    });
    let (form, problems) = match result {
        Ok((form, problems)) => (Some(form), problems),
        // In JSON mode an unreadable image is one more failed check.
        Err(e) if g.json => (None, vec![e.to_string()]),
        Err(e) => return Err(e),
    };
    if g.json {
        print_json(
            "check",
            json!({ "image": path, "form": form.map(form_name), "ok": problems.is_empty(), "problems": problems }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        println!("Image is OK");
    }
    if !problems.is_empty() {
        crate::cli::report(&Error::NotAnImage {
            path: path.to_path_buf(),
            reason: problems.join("; "),
        });
    }
    Ok(problems.is_empty())
}

/// The `form` field of JSON documents.
fn form_name(form: Form) -> &'static str {
    match form {
        Form::Dir => "dir",
        Form::Tar => "tar",
        Form::TarGz => "tar.gz",
    }
}

/// A member as hashed against the manifest.
struct MemberDigest {
    name: String,
    size: u64,
    sha256: String,
    recorded: Option<String>,
}

/// What [`manifest_report`] found.
struct ManifestReport {
    problems: Vec<String>,
    members: Vec<MemberDigest>,
}

/// Checks the members of an image against its manifest. Reads a tar
/// once, hashing each member's data range; a directory's files as stored.
fn manifest_report(g: Global, opened: &Opened) -> Result<ManifestReport> {
    let mut problems = Vec::new();
    let mut members = Vec::new();
    let Some(manifest) = &opened.image.manifest else {
        return Ok(ManifestReport {
            problems: vec![format!("no embedded manifest (`./{MANIFEST}`)")],
            members,
        });
    };
    let Manifest {
        digests: expected,
        malformed,
    } = Manifest::parse(&manifest.read_text(MANIFEST)?);
    for line in malformed {
        problems.push(format!("manifest line `{}` is malformed", line.escape_debug()));
    }
    let files: Vec<(String, Blob)> = match opened.form {
        Form::Dir => opened
            .image
            .members()
            .into_iter()
            .filter_map(|m| match m {
                Member::File { path, .. } => raw_member(opened, &path).map(|blob| (path, blob)),
                Member::Dir(_) => None,
            })
            .collect(),
        _ => opened
            .entries
            .iter()
            .filter(|(name, e)| e.kind == Kind::File && name != MANIFEST)
            .filter_map(|(name, e)| opened.entry_blob(e).map(|blob| (name.clone(), blob)))
            .collect(),
    };
    let total = files.iter().map(|(_, b)| b.len()).sum();
    let bar = Progress::from_terminal(g.quiet).bar(total, &format!("checking {}", opened.path.display()));
    let mut seen = BTreeSet::new();
    for (name, blob) in files {
        seen.insert(name.clone());
        let actual = sha256_of(&blob, &name, &bar)?;
        match expected.get(&name) {
            None => problems.push(format!("member `./{name}` is not listed in the manifest")),
            Some(d) if *d != actual => problems.push(format!(
                "member `./{name}` does not match the manifest (sha256 {actual}, manifest says {d})"
            )),
            Some(_) => {}
        }
        members.push(MemberDigest {
            recorded: expected.get(&name).cloned(),
            size: blob.len(),
            sha256: actual,
            name,
        });
    }
    bar.finish();
    for name in expected.keys() {
        if !seen.contains(name) {
            problems.push(format!("manifest lists `./{name}` but the image has no such member"));
        }
    }
    Ok(ManifestReport { problems, members })
}

/// `verify`: returns whether the image passed (the problems are reported
/// already).
pub(crate) fn verify(g: Global, path: &Path) -> Result<bool> {
    let opened = reader::open(path, false)?;
    let Integrity {
        problems,
        members,
        sidecar_checked,
        sidecar_sha256: expected,
        sha256: whole,
    } = integrity(g, &opened, true)?;
    if g.json {
        let members: Vec<_> = members
            .iter()
            .map(|m| {
                json!({
                    "member": m.name,
                    "size": m.size,
                    "sha256": m.sha256,
                    "manifest_sha256": m.recorded,
                    "ok": m.recorded.as_ref() == Some(&m.sha256),
                })
            })
            .collect();
        print_json(
            "verify",
            json!({
                "image": path,
                "form": form_name(opened.form),
                "ok": problems.is_empty(),
                "sidecar": sidecar_checked,
                "sidecar_sha256": expected,
                "sha256": whole,
                "members": members,
                "problems": problems,
            }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        println!(
            "{}: OK (manifest{})",
            path.display(),
            if sidecar_checked {
                " and sidecar"
            } else if opened.form == Form::Dir {
                "; a directory has no sidecar"
            } else {
                "; no sidecar"
            }
        );
    }
    if !problems.is_empty() {
        crate::cli::report(&Error::Verify(format!(
            "`{}` failed verification: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    Ok(problems.is_empty())
}

/// What [`integrity`] found.
pub(crate) struct Integrity {
    /// What failed.
    pub(crate) problems: Vec<String>,
    /// Each member as hashed against the manifest.
    members: Vec<MemberDigest>,
    /// Whether a sidecar was checked.
    pub(crate) sidecar_checked: bool,
    /// The digest the sidecar records.
    sidecar_sha256: Option<String>,
    /// The digest of the image file (when a sidecar was checked).
    sha256: Option<String>,
}

/// The integrity of the image `opened`: its members against the embedded
/// manifest (when `require_manifest` or when it has one) and, for a file,
/// the whole file against its sidecar (when there is one). `verify` and the
/// host manager (before it creates anything) both judge an image with this.
pub(crate) fn integrity(g: Global, opened: &Opened, require_manifest: bool) -> Result<Integrity> {
    let path = opened.path.as_path();
    let sidecar = sidecar_path(path);
    // A directory has no sidecar: its manifest is all there is to verify.
    let expected = match fs::read_to_string(&sidecar) {
        _ if opened.form == Form::Dir => None,
        Ok(text) => Some(sidecar_digest(&text).to_owned()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("cannot read", &sidecar, e)),
    };
    // The whole-file hash (sidecar) and the member hashes (manifest) are
    // independent passes: run them on two threads.
    let (members, whole) = std::thread::scope(|scope| {
        let whole = expected.as_ref().map(|_| scope.spawn(|| sha256_file(path)));
        let members = if require_manifest || opened.image.manifest.is_some() {
            manifest_report(g, opened)
        } else {
            Ok(ManifestReport {
                problems: Vec::new(),
                members: Vec::new(),
            })
        };
        let whole = whole.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Refused("the hashing thread failed".into())))
        });
        (members, whole)
    });
    let ManifestReport { mut problems, members } = members?;
    let sidecar_checked = expected.is_some();
    let whole = whole.transpose()?;
    if let (Some(expected), Some(actual)) = (&expected, &whole) {
        if expected != actual {
            problems.push(format!(
                "the image does not match `{}` (sha256 {actual}, sidecar says {expected})",
                sidecar.display()
            ));
        }
    }
    Ok(Integrity {
        problems,
        members,
        sidecar_checked,
        sidecar_sha256: expected,
        sha256: whole,
    })
}
