//! `check` (an image against its rules, manifest and signature) and `verify` (against trusted keys, its manifest and sidecar).

use std::fs;
use std::io;
use std::path::Path;

use serde_json::json;

use super::{sha256_file, Global};
use crate::checksum::{self, sidecar_digest, sidecar_path};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form};
use crate::ops;
use crate::progress::Progress;
use crate::signature::{self, SignatureStatus, TrustedKeys};

pub(crate) fn check(g: Global, path: &Path) -> Result<()> {
    let mut signed = None;
    let result = reader::open(path, false).and_then(|opened| {
        let mut problems = ops::problems(&opened.image);
        // A directory's manifest is the one its tar image carried when it
        // was extracted: `update` of the directory (or `extract-config`,
        // which leaves out disk/) makes it stale, so only tar images are
        // checked against theirs (and against its signature).
        if opened.form != Form::Dir {
            problems.extend(signature::placement_problems(&opened));
            match signature::status(&opened) {
                Ok(status) => signed = Some(status),
                Err(e) => problems.push(e.to_string()),
            }
            if opened.image.manifest.is_some() {
                problems.extend(checksum::manifest_problems(&opened, Progress::from_terminal(g.quiet))?);
            }
        }
        Ok(problems)
    });
    let problems = match result {
        Ok(p) => p,
        Err(e) if g.json => vec![e.to_string()],
        Err(e) => return Err(e),
    };
    if g.json {
        let signature = match &signed {
            Some(SignatureStatus::Signed(s)) => {
                json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint })
            }
            _ => json!(null),
        };
        let is_signed = signed.as_ref().map(|s| matches!(s, SignatureStatus::Signed(_)));
        println!(
            "{}",
            json!({ "image": path, "ok": problems.is_empty(), "problems": problems, "signed": is_signed, "signature": signature })
        );
    } else if problems.is_empty() {
        println!("Image is OK");
        match &signed {
            Some(SignatureStatus::Signed(s)) => println!("signed by {} ({})", s.fingerprint, s.algorithm),
            Some(SignatureStatus::Unsigned) => println!("unsigned"),
            None => {}
        }
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

/// Verifies an image file: with `trusted` keys, its signature first (and
/// nothing else when that fails), then every member against the manifest,
/// then the whole file against the sidecar.
pub(crate) fn verify(g: Global, path: &Path, trusted: &TrustedKeys) -> Result<()> {
    let opened = reader::open(path, false)?;
    if opened.form == Form::Dir {
        return Err(Error::Refused(format!(
            "`{}` is a directory - verify works on image files (directories have no manifest)",
            path.display()
        )));
    }
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
        let members = checksum::manifest_problems(&opened, Progress::from_terminal(g.quiet));
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
    if signer.is_some() && !problems.is_empty() {
        problems.insert(
            0,
            "tampered: the signature is good but the image does not match its signed manifest".into(),
        );
    }
    if g.json {
        // `trusted`: verified with a given key; false: only consistent with
        // the key the image names.
        let signature = match (&signer, &untrusted) {
            (Some(s), _) => json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint, "trusted": true }),
            (None, Some(s)) => {
                json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint, "trusted": false })
            }
            (None, None) => json!(null),
        };
        println!(
            "{}",
            json!({ "image": path, "ok": problems.is_empty(), "sidecar": sidecar_checked, "signature": signature, "problems": problems })
        );
    } else if problems.is_empty() {
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
