//! `diff`: two images member by member.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use serde_json::json;

use super::{print_json, raw_member, sha256_of, Global};
use crate::error::{Error, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::tar::Kind;
use crate::image::{Blob, MANIFEST};
use crate::progress::Bar;

/// Compares two images; returns whether they are identical.
pub(crate) fn diff(g: Global, a: &Path, b: &Path) -> Result<bool> {
    let oa = reader::open(a, true)?;
    let ob = reader::open(b, true)?;
    let ma = member_digests(&oa)?;
    let mb = member_digests(&ob)?;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for (name, da) in &ma {
        match mb.get(name) {
            None => removed.push(name.clone()),
            Some(db) if db.digest != da.digest => {
                let diff = text_diff(name, da, db)?;
                changed.push(json!({
                    "member": name,
                    "what": "content",
                    "a_sha256": da.digest,
                    "b_sha256": db.digest,
                    "a_size": da.blob.len(),
                    "b_size": db.blob.len(),
                    "diff": diff,
                }));
            }
            Some(db) if db.meta != da.meta => {
                changed.push(json!({ "member": name, "what": "metadata", "a": da.meta, "b": db.meta }));
            }
            Some(_) => {}
        }
    }
    for name in mb.keys() {
        if !ma.contains_key(name) {
            added.push(name.clone());
        }
    }
    let order_differs = {
        let la: Vec<&str> = oa
            .entries
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| mb.contains_key(*n))
            .collect();
        let lb: Vec<&str> = ob
            .entries
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| ma.contains_key(*n))
            .collect();
        !la.is_empty() && !lb.is_empty() && la != lb
    };
    let same = added.is_empty() && removed.is_empty() && changed.is_empty() && !order_differs;
    if g.json {
        print_json(
            "diff",
            json!({ "a": a, "b": b, "identical": same, "added": added, "removed": removed, "changed": changed, "order_differs": order_differs }),
        )?;
        return Ok(same);
    }
    // `-q`: the exit status alone, as `cmp -s`.
    if g.quiet {
        return Ok(same);
    }
    match print_text(&removed, &added, &changed, order_differs, same) {
        // A reader that stopped reading (`diff A B | head -1`) has what
        // it wanted: the status still says whether the images differ.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Error::io("cannot write to", "standard output", e)),
        Ok(()) => {}
    }
    Ok(same)
}

/// The text form of `diff`.
fn print_text(
    removed: &[String],
    added: &[String],
    changed: &[serde_json::Value],
    order_differs: bool,
    same: bool,
) -> io::Result<()> {
    let out = &mut io::stdout().lock();
    for name in removed {
        writeln!(out, "removed: ./{name}")?;
    }
    for name in added {
        writeln!(out, "added:   ./{name}")?;
    }
    for c in changed {
        let name = c["member"].as_str().unwrap_or_default();
        if c["what"] == "metadata" {
            writeln!(out, "changed: ./{name} (metadata: {} -> {})", c["a"], c["b"])?;
        } else {
            writeln!(out, "changed: ./{name}")?;
            if let Some(d) = c["diff"].as_str() {
                out.write_all(d.as_bytes())?;
            }
        }
    }
    if order_differs {
        writeln!(out, "member order differs")?;
    }
    if same {
        writeln!(out, "identical")?;
    }
    out.flush()
}

#[derive(Debug)]
struct MemberInfo {
    digest: String,
    blob: Blob,
    meta: serde_json::Value,
}

fn member_digests(opened: &Opened) -> Result<BTreeMap<String, MemberInfo>> {
    let mut out = BTreeMap::new();
    if opened.form == Form::Dir {
        for m in opened.image.members() {
            if let crate::image::Member::File { path, .. } = m {
                if let Some(blob) = raw_member(opened, &path) {
                    let digest = sha256_of(&blob, &path, &Bar::hidden())?;
                    out.insert(
                        path,
                        MemberInfo {
                            digest,
                            blob,
                            meta: json!(null),
                        },
                    );
                }
            }
        }
    } else {
        // The manifest follows from the other members: listing it as
        // changed would only repeat them.
        for (name, e) in opened.entries.iter().filter(|(n, _)| n != MANIFEST) {
            let blob = opened.entry_blob(e).expect("tar images have an archive");
            let digest = if e.kind == Kind::File {
                sha256_of(&blob, name, &Bar::hidden())?
            } else {
                String::from("dir")
            };
            let meta = json!({ "mode": format!("{:o}", e.mode), "mtime": e.mtime, "uid": e.uid, "gid": e.gid, "owner": e.owner });
            out.insert(name.clone(), MemberInfo { digest, blob, meta });
        }
    }
    Ok(out)
}

fn text_diff(name: &str, a: &MemberInfo, b: &MemberInfo) -> Result<Option<String>> {
    let small = |m: &MemberInfo| m.blob.len() <= crate::image::MAX_TEXT_MEMBER;
    if !small(a) || !small(b) {
        return Ok(None);
    }
    let (Ok(ta), Ok(tb)) = (
        String::from_utf8(a.blob.read_all(name)?),
        String::from_utf8(b.blob.read_all(name)?),
    ) else {
        return Ok(None);
    };
    let diff = similar::TextDiff::from_lines(&ta, &tb);
    Ok(Some(
        diff.unified_diff()
            .context_radius(2)
            .header(&format!("a/{name}"), &format!("b/{name}"))
            .to_string(),
    ))
}
