//! `check` (an image against its rules, manifest and signature) and `verify` (against trusted keys, its manifest and sidecar).

use std::path::Path;

use serde_json::json;

use super::{print_json, problems, sha256_file, Global};
use crate::checksum::{manifest_report, read_sidecar, sidecar_digest, sidecar_path, ManifestReport, MemberDigest};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form, Opened};
use crate::progress::Progress;
use crate::signature::{self, SignatureStatus, Signer, TrustedKeys};

/// `check`: returns whether the image passed (the problems are reported
/// already; an error is an image that cannot be read at all).
pub(crate) fn check(g: Global, path: &Path) -> Result<bool> {
    let mut signed = None;
    let result = reader::open(path, false).and_then(|opened| {
        let mut problems = problems(&opened.image, Some(&opened));
        // The signature members: where they are, and whether the signature
        // matches the manifest under the key the image names. A directory
        // extracted from a signed image holds them beside its manifest.
        problems.extend(signature::placement_problems(&opened));
        match signature::status(&opened) {
            Ok(status) => signed = Some(status),
            Err(e) => problems.push(e.to_string()),
        }
        // A directory's manifest is written by `extract` and kept up to
        // date by every writer of the directory: checked like a tar's.
        if opened.image.manifest.is_some() {
            problems.extend(manifest_report(&opened, Progress::from_terminal(g.quiet))?.problems);
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
        let signature = match &signed {
            Some(SignatureStatus::Signed(s)) => signature_json(s, None),
            _ => json!(null),
        };
        let is_signed = signed.as_ref().map(|s| matches!(s, SignatureStatus::Signed(_)));
        print_json(
            "check",
            json!({
                "image": path,
                "form": form.map(form_name),
                "ok": problems.is_empty(),
                "problems": problems,
                "signed": is_signed,
                "signature": signature,
            }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        println!("Image is OK");
        match &signed {
            Some(SignatureStatus::Signed(s)) => println!("signed by {} ({})", s.fingerprint, s.algorithm),
            Some(SignatureStatus::Unsigned) => println!("unsigned"),
            None => {}
        }
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

/// The `signature` object of JSON documents; `trusted` only in `verify`'s.
fn signature_json(s: &Signer, trusted: Option<bool>) -> serde_json::Value {
    let mut v = json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint });
    if let Some(t) = trusted {
        v["trusted"] = t.into();
    }
    v
}

/// `verify`: with `trusted` keys, the signature first (and nothing else
/// when that fails: the error says why), then every member against the
/// manifest, then the whole file against the sidecar. Returns whether the
/// image passed (the problems are reported already).
pub(crate) fn verify(g: Global, path: &Path, trusted: &TrustedKeys) -> Result<bool> {
    let opened = reader::open(path, false)?;
    let placement = signature::placement_problems(&opened);
    if !placement.is_empty() {
        return Err(Error::Verify(format!(
            "`{}` failed verification: {}",
            path.display(),
            placement.join("; ")
        )));
    }
    // Without trusted keys the signature can only be checked against the
    // key the image names: a mismatch is a problem, a match proves nothing
    // about who signed, and the output says so.
    let (signer, untrusted) = if trusted.is_empty() {
        match signature::status(&opened) {
            Ok(SignatureStatus::Signed(s)) => (None, Some(s)),
            Ok(SignatureStatus::Unsigned) => (None, None),
            Err(e) => {
                return Err(Error::Verify(format!("`{}` failed verification: {e}", path.display())));
            }
        }
    } else {
        (Some(signature::verify_image(&opened, trusted)?), None)
    };
    let Integrity {
        mut problems,
        members,
        sidecar_checked,
        sidecar_sha256: expected,
        sha256: whole,
    } = integrity(g, &opened, true)?;
    if signer.is_some() && !problems.is_empty() {
        problems.insert(
            0,
            "tampered: the signature is good but the image does not match its signed manifest".into(),
        );
    }
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
        // `trusted`: verified with a given key; false: only consistent
        // with the key the image names.
        let signature = match (&signer, &untrusted) {
            (Some(s), _) => signature_json(s, Some(true)),
            (None, Some(s)) => signature_json(s, Some(false)),
            (None, None) => json!(null),
        };
        print_json(
            "verify",
            json!({
                "image": path,
                "form": form_name(opened.form),
                "ok": problems.is_empty(),
                "sidecar": sidecar_checked,
                "sidecar_sha256": expected,
                "sha256": whole,
                "signed": signer.is_some() || untrusted.is_some(),
                "signature": signature,
                "members": members,
                "problems": problems,
            }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        let by = signer
            .as_ref()
            .map(|s| format!("signature by trusted key {} ({}), ", s.fingerprint, s.algorithm))
            .unwrap_or_default();
        let claim = untrusted
            .as_ref()
            .map(|s| {
                format!(
                    "; signed by {} ({}), not checked against a trusted key: give --key or --trust",
                    s.fingerprint, s.algorithm
                )
            })
            .unwrap_or_default();
        println!(
            "{}: OK ({by}manifest{}{claim})",
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
/// manifest ([`manifest_report`], when `require_manifest` or when it has
/// one) and, for a file, the whole file against its sidecar (when there is
/// one). `verify` and the host manager (before it creates anything) both
/// judge an image with this; the signature is checked before it.
pub(crate) fn integrity(g: Global, opened: &Opened, require_manifest: bool) -> Result<Integrity> {
    let path = opened.path.as_path();
    let sidecar = sidecar_path(path);
    // A directory has no sidecar: its manifest is all there is to verify.
    let expected = if opened.form == Form::Dir {
        None
    } else {
        read_sidecar(&sidecar)?.map(|text| sidecar_digest(&text).to_owned())
    };
    // The whole-file hash (sidecar) and the member hashes (manifest) are
    // independent passes: run them on two threads.
    let (members, whole) = std::thread::scope(|scope| {
        let whole = expected.as_ref().map(|_| scope.spawn(|| sha256_file(path)));
        let members = if require_manifest || opened.image.manifest.is_some() {
            manifest_report(opened, Progress::from_terminal(g.quiet))
        } else {
            Ok(ManifestReport::default())
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
