//! `info`: what an image is and what it needs, in one view (as
//! `rauc info` and `mender-artifact read` show a bundle or an artifact).

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};

use super::{print_json, Global};
use crate::admit::{self, Candidate, Policy, Rule, Signature, Stored};
use crate::error::{Error, Result};
use crate::image::meta::{Metadata, FORMAT};
use crate::image::reader;
use crate::image::{Member, Stage, SBOM_DIR, TRAILER};
use crate::progress::Progress;

/// Prints what the image at `path` is: its metadata, signature, manifest,
/// members, disk, xl settings, init scripts, the host permissions it
/// needs and its SBOM documents. An image `check` refuses is still shown,
/// with its problems; only an unreadable one is an error.
pub(crate) fn info(g: Global, path: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    let stored = Stored {
        opened: &opened,
        trusted: None,
        sidecar: true,
        progress: Progress::from_terminal(g.quiet || g.json),
    };
    let report = admit::admit(Candidate::Stored(stored), &Policy::default())?;
    let image = &opened.image;
    let meta = image.meta.clone().unwrap_or_default();
    let format = if image.meta.is_some() { meta.format } else { FORMAT };
    let (is_signed, signature) = match &report.signature {
        Signature::Consistent(s) | Signature::Trusted(s) => (
            Some(true),
            json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint }),
        ),
        Signature::Unsigned => (Some(false), Value::Null),
        Signature::NotChecked => (None, Value::Null),
    };
    let manifest = if image.manifest.is_none() {
        "none"
    } else if report.problems.iter().any(|p| p.rule == Rule::Manifest) {
        "mismatch"
    } else {
        "ok"
    };
    let mut members = Vec::new();
    let mut sbom = Vec::new();
    for m in image.members() {
        if let Member::File { path: name, blob, .. } = m {
            if name.starts_with(SBOM_DIR) {
                sbom.push(json!({ "member": name, "size": blob.len() }));
            }
            let size = opened.raw_member(&name).map_or(blob.len(), |b| b.len());
            members.push(json!({ "member": name, "size": size }));
        }
    }
    for name in TRAILER {
        if let Some(b) = opened.raw_member(name) {
            members.push(json!({ "member": name, "size": b.len() }));
        }
    }
    let disk = match &image.disk {
        Some(d) if d.size_mb().unwrap_or(0) > 0 || !d.partitions().unwrap_or_default().is_empty() => {
            let layout = admit::layout(d).unwrap_or_default();
            // A wrong mark is one of `problems` (and shows no partition kept).
            let kept = d.kept().unwrap_or_default();
            let parts: Vec<Value> = d
                .partitions()
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    let at = layout.iter().find(|l| l.number == p.number);
                    json!({
                        "number": p.number,
                        "size_mb": p.size_mb,
                        "start_mb": at.map(|l| l.start_mb),
                        "end_mb": at.map(|l| l.end_mb),
                        "fs": p.fs,
                        "content": p.content,
                        "content_size": image.disk_files.get(&p.content).map(crate::image::Blob::len),
                        "keep": kept.contains(&p.number),
                    })
                })
                .collect();
            json!({
                "size_mb": d.size_mb().ok(),
                "device": d.0.get("DISK_DEVICE").unwrap_or(""),
                "partitions": parts,
            })
        }
        _ => Value::Null,
    };
    let xl = super::dump::xl_settings(&opened)?;
    // The guest type xl reads (guest.cfg, then guest.d/).
    let guest_type = xl.get("type").and_then(Value::as_str).map(str::to_owned);
    let init: Vec<Value> = Stage::SCRIPTS
        .iter()
        .flat_map(|stage| {
            image
                .init(*stage)
                .keys()
                .map(move |name| json!({ "stage": stage.dir(), "name": name }))
        })
        .collect();
    let permissions: Vec<Value> = report
        .permissions()
        .iter()
        .map(|p| json!({ "setting": p.setting, "values": p.values }))
        .collect();
    let problems: Vec<Value> = report
        .image_problems()
        .map(|p| json!({ "rule": p.rule.name(), "subject": p.subject, "message": p.message }))
        .collect();
    let doc = json!({
        "image": path,
        "format": format,
        "name": meta.name,
        "version": meta.version,
        "description": meta.description,
        "arch": meta.arch,
        "type": guest_type,
        "compatible": meta.compatible,
        "xen": meta.xen,
        "signed": is_signed,
        "signature": signature,
        "manifest": manifest,
        "ok": problems.is_empty(),
        "problems": problems,
        "members": members,
        "disk": disk,
        "xl": xl,
        "init": init,
        "permissions": permissions,
        "sbom": sbom,
    });
    if g.json {
        return print_json("info", doc);
    }
    print_text(&doc, &meta).map_err(|e| Error::io("cannot write to", "standard output", e))
}

/// The text form of `info`: one `key: value` line per field, then the
/// lists, indented.
fn print_text(doc: &Value, meta: &Metadata) -> io::Result<()> {
    let out = &mut io::stdout().lock();
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let line = |out: &mut io::StdoutLock<'_>, k: &str, v: String| writeln!(out, "{k:<12} {v}");
    line(out, "image:", text(&doc["image"]))?;
    line(out, "format:", text(&doc["format"]))?;
    for key in ["name", "version", "description", "arch", "type"] {
        line(out, &format!("{key}:"), text(&doc[key]))?;
    }
    let compatible = if meta.compatible.is_empty() {
        "any host".to_owned()
    } else {
        meta.compatible.join(", ")
    };
    line(out, "compatible:", compatible)?;
    line(
        out,
        "xen:",
        meta.xen.as_ref().map_or("any".to_owned(), |x| format!("{x} or newer")),
    )?;
    let signature = match doc["signed"].as_bool() {
        Some(true) => format!(
            "{} {}",
            text(&doc["signature"]["algorithm"]),
            text(&doc["signature"]["fingerprint"])
        ),
        Some(false) => "unsigned".to_owned(),
        None => "not checked".to_owned(),
    };
    line(out, "signature:", signature)?;
    line(out, "manifest:", text(&doc["manifest"]))?;
    let problems = doc["problems"].as_array().map_or(0, Vec::len);
    line(
        out,
        "check:",
        if problems == 0 {
            "ok".to_owned()
        } else {
            format!("{problems} problem(s)")
        },
    )?;
    for p in doc["problems"].as_array().into_iter().flatten() {
        writeln!(out, "  {}", text(&p["message"]))?;
    }
    writeln!(out, "members:")?;
    for m in doc["members"].as_array().into_iter().flatten() {
        writeln!(out, "  {:>12}  {}", text(&m["size"]), text(&m["member"]))?;
    }
    if let Some(d) = doc["disk"].as_object() {
        let device = d["device"].as_str().filter(|v| !v.is_empty());
        let on = device.map_or(String::new(), |v| format!(" on {v}"));
        line(out, "disk:", format!("{} MB{on}", text(&d["size_mb"])))?;
        for p in d["partitions"].as_array().into_iter().flatten() {
            let keep = if p["keep"].as_bool() == Some(true) {
                ", kept across updates"
            } else {
                ""
            };
            writeln!(
                out,
                "  partition {}: {} MB, fs {}, content {}{keep}",
                text(&p["number"]),
                text(&p["size_mb"]),
                text(&p["fs"]),
                text(&p["content"])
            )?;
        }
    } else {
        line(out, "disk:", "none".to_owned())?;
    }
    writeln!(out, "xl:")?;
    for (k, v) in doc["xl"].as_object().into_iter().flatten() {
        writeln!(out, "  {k} = {}", text(v))?;
    }
    writeln!(out, "init:")?;
    for s in doc["init"].as_array().into_iter().flatten() {
        writeln!(out, "  {}/{}", text(&s["stage"]), text(&s["name"]))?;
    }
    let permissions = doc["permissions"].as_array().map_or(&[][..], Vec::as_slice);
    if permissions.is_empty() {
        line(out, "permissions:", "none".to_owned())?;
    } else {
        writeln!(out, "permissions:")?;
        for p in permissions {
            let values: Vec<String> = p["values"].as_array().into_iter().flatten().map(text).collect();
            writeln!(out, "  {} ({})", values.join(", "), text(&p["setting"]))?;
        }
    }
    writeln!(out, "sbom:")?;
    for s in doc["sbom"].as_array().into_iter().flatten() {
        writeln!(out, "  {:>12}  {}", text(&s["size"]), text(&s["member"]))?;
    }
    out.flush()
}
