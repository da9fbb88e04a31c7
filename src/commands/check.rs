//! `check` (an image as a host judges it: its rules, manifest, sidecar and signature, and the host permissions it needs) and `verify` (against trusted keys, its manifest and sidecar).

use std::path::Path;

use serde_json::json;

use super::{print_json, Global};
use crate::admit::{self, Candidate, Integrity, Permission, Policy, Problem, Report, Rule, Signature, Stored};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form};
use crate::progress::Progress;
use crate::signature::{Signer, TrustedKeys};

/// `check`: returns whether the image passed (the problems are reported
/// already; an error is an image that cannot be read at all). Judges with
/// [`Policy::default`], the strictest host: what is wrong with the image
/// fails the check; the host permissions it needs are listed (text and
/// JSON) but do not fail it.
pub(crate) fn check(g: Global, path: &Path) -> Result<bool> {
    let result = reader::open(path, false).and_then(|opened| {
        let stored = Stored {
            opened: &opened,
            trusted: None,
            sidecar: true,
            progress: Progress::from_terminal(g.quiet),
        };
        let report = admit::admit(Candidate::Stored(stored), &Policy::default())?;
        Ok((opened.form, report))
    });
    let (form, report) = match result {
        Ok((form, report)) => (Some(form), report),
        // In JSON mode an unreadable image is one more failed check.
        Err(e) if g.json => {
            let mut report = Report::default();
            report
                .problems
                .push(Problem::new(Rule::Archive, path.display().to_string(), e.to_string()));
            (None, report)
        }
        Err(e) => return Err(e),
    };
    let found: Vec<&Problem> = report.image_problems().collect();
    let problems: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    let permissions = report.permissions();
    if g.json {
        let (is_signed, signature) = match &report.signature {
            Signature::Consistent(s) | Signature::Trusted(s) => (Some(true), signature_json(s, None)),
            Signature::Unsigned => (Some(false), json!(null)),
            Signature::NotChecked => (None, json!(null)),
        };
        print_json(
            "check",
            json!({
                "image": path,
                "form": form.map(form_name),
                "ok": problems.is_empty(),
                "problems": problems,
                "findings": found.iter().map(|p| problem_json(p)).collect::<Vec<_>>(),
                "sidecar": report.integrity.sidecar_checked,
                "permissions": permissions
                    .iter()
                    .map(|p| json!({ "setting": p.setting, "values": p.values }))
                    .collect::<Vec<_>>(),
                "signed": is_signed,
                "signature": signature,
            }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        println!("Image is OK");
        match &report.signature {
            Signature::Consistent(s) | Signature::Trusted(s) => {
                println!("signed by {} ({})", s.fingerprint, s.algorithm);
            }
            Signature::Unsigned => println!("unsigned"),
            Signature::NotChecked => {}
        }
        for p in &permissions {
            println!("{}", permission_text(p));
        }
    }
    if !problems.is_empty() {
        super::report(&Error::NotAnImage {
            path: path.to_path_buf(),
            reason: problems.join("; "),
        });
    }
    Ok(problems.is_empty())
}

/// The rules `verify` answers for: where the image comes from and whether
/// it is what was signed.
fn is_provenance(rule: Rule) -> bool {
    matches!(rule, Rule::Signature | Rule::Manifest)
}

/// One permission as `check` prints it:
/// `needs host permission: dtdev, pci (XENGUEST_ALLOW_XL_KEYS)`.
pub(crate) fn permission_text(p: &Permission) -> String {
    let values: Vec<String> = if p.setting == admit::ALLOW_IMAGE_DEVICE {
        p.values.iter().map(|v| format!("disk device `{v}`")).collect()
    } else {
        p.values.clone()
    };
    format!("needs host permission: {} ({})", values.join(", "), p.setting)
}

/// A typed problem in JSON documents.
fn problem_json(p: &Problem) -> serde_json::Value {
    json!({ "rule": p.rule.name(), "subject": p.subject, "message": p.message })
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
/// manifest, then the whole file against the sidecar. The judge is the
/// host's ([`admit::admit`], with a manifest required and a signature by
/// one of `trusted` when given); `verify` answers for the provenance
/// rules ([`Rule::Signature`], [`Rule::Manifest`]), `check` for the rest.
/// Returns whether the image passed (the problems are reported already).
pub(crate) fn verify(g: Global, path: &Path, trusted: &TrustedKeys) -> Result<bool> {
    let opened = reader::open(path, false)?;
    let policy = Policy {
        require_manifest: true,
        require_signature: !trusted.is_empty(),
        ..Policy::default()
    };
    let stored = Stored {
        opened: &opened,
        trusted: Some(trusted),
        sidecar: true,
        progress: Progress::from_terminal(g.quiet),
    };
    let report = admit::admit(Candidate::Stored(stored), &policy)?;
    // The signature first: when it fails, the rest is not worth reading.
    let signature: Vec<&str> = report
        .problems
        .iter()
        .filter(|p| p.rule == Rule::Signature)
        .map(|p| p.message.as_str())
        .collect();
    if !signature.is_empty() {
        return Err(Error::Verify(format!(
            "`{}` failed verification: {}",
            path.display(),
            signature.join("; ")
        )));
    }
    // What is wrong with the content is `check`'s to say (a directory from
    // `extract-config` lacks the disk files and still verifies).
    let found: Vec<&Problem> = report.problems.iter().filter(|p| is_provenance(p.rule)).collect();
    let problems: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
    let Integrity {
        members,
        sidecar_checked,
        sidecar_sha256: expected,
        sha256: whole,
    } = &report.integrity;
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
        let (signed, signature) = match &report.signature {
            Signature::Trusted(s) => (true, signature_json(s, Some(true))),
            Signature::Consistent(s) => (true, signature_json(s, Some(false))),
            Signature::Unsigned | Signature::NotChecked => (false, json!(null)),
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
                "signed": signed,
                "signature": signature,
                "members": members,
                "problems": problems,
                "findings": found.iter().map(|p| problem_json(p)).collect::<Vec<_>>(),
            }),
        )?;
    } else if problems.is_empty() && !g.quiet {
        let by = match &report.signature {
            Signature::Trusted(s) => format!("signature by trusted key {} ({}), ", s.fingerprint, s.algorithm),
            _ => String::new(),
        };
        let claim = match &report.signature {
            Signature::Consistent(s) => format!(
                "; signed by {} ({}), not checked against a trusted key: give --key or --trust",
                s.fingerprint, s.algorithm
            ),
            _ => String::new(),
        };
        println!(
            "{}: OK ({by}manifest{}{claim})",
            path.display(),
            if *sidecar_checked {
                " and sidecar"
            } else if opened.form == Form::Dir {
                "; a directory has no sidecar"
            } else {
                "; no sidecar"
            }
        );
    }
    if !problems.is_empty() {
        super::report(&Error::Verify(format!(
            "`{}` failed verification: {}",
            path.display(),
            problems.join("; ")
        )));
    }
    Ok(problems.is_empty())
}
