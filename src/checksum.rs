//! The two checksum forms an image carries, in one place: the `sha256sum`
//! sidecar beside an image file (`IMG.sha256`), and the embedded manifest
//! (`./manifest.sha256`, one `sha256sum` line per member). Both are read
//! back by `sha256sum -c`, so both use its format: `HEX  NAME`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use crate::digest::{hex, sha256_bytes, HashingReader};
use crate::error::{Error, Result};
use crate::image::reader::{Form, Opened};
use crate::image::tar::Kind;
use crate::image::{Blob, Member, MANIFEST, TRAILER};
use crate::progress::{Bar, Progress};

/// Whether `text` looks like a hex sha256 digest.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of everything `reader` yields, advancing `bar`.
pub fn sha256_read(mut reader: impl Read, bar: &Bar) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bar.inc(n as u64);
    }
    Ok(hex(&h.finalize()))
}

/// What is wrong with member `name` (without `./`) whose data hashed to
/// `actual`, against what the manifest records for it (`None`: not
/// listed); `None` when it matches. The wording `check` and `verify` use.
pub fn member_problem(name: &str, actual: &str, recorded: Option<&str>) -> Option<String> {
    match recorded {
        None => Some(format!("member `./{name}` is not listed in the manifest")),
        Some(d) if d != actual => Some(format!(
            "member `./{name}` does not match the manifest (sha256 {actual}, manifest says {d})"
        )),
        Some(_) => None,
    }
}

/// Path of the sidecar of an image file: `IMG.sha256`.
pub fn sidecar_path(image: &Path) -> PathBuf {
    let mut s = image.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The largest sidecar read: one `sha256sum` line.
pub const MAX_SIDECAR: u64 = 64 * 1024;

/// The text of the sidecar at `sidecar` (`None`: there is none). Only a
/// regular file of at most [`MAX_SIDECAR`] bytes is read, never waiting:
/// a FIFO, a device or a directory of that name is an error.
pub fn read_sidecar(sidecar: &Path) -> Result<Option<String>> {
    match crate::regular::read_to_string(sidecar, MAX_SIDECAR) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Refused(format!(
            "cannot read the sidecar `{}`: {e} - remove it or write it with `sha256sum`",
            sidecar.display()
        ))),
    }
}

/// The sidecar's text for an image file called `file_name`.
pub fn sidecar_text(digest: &str, file_name: &str) -> String {
    format!("{digest}  {file_name}\n")
}

/// The digest a sidecar records (its first word).
pub fn sidecar_digest(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// Appends the manifest line of member `name` (an archive name, `./…`).
pub fn push_manifest_line(manifest: &mut String, digest: &str, name: &str) {
    let _ = writeln!(manifest, "{digest}  {name}");
}

/// A parsed manifest: member path (without `./`) to digest, and the lines
/// that are not `HEX  NAME`.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Recorded digests by member path.
    pub digests: BTreeMap<String, String>,
    /// Malformed lines, verbatim.
    pub malformed: Vec<String>,
}

impl Manifest {
    /// Parses manifest text.
    pub fn parse(text: &str) -> Manifest {
        let mut m = Manifest::default();
        for line in text.lines() {
            match parse_manifest_line(line) {
                Some((name, digest)) => {
                    m.digests.insert(name.to_owned(), digest.to_owned());
                }
                None => m.malformed.push(line.to_owned()),
            }
        }
        m
    }

    /// Manifest `text` with only the lines of members (paths without
    /// `./`) for which `keep` holds; malformed lines are kept.
    pub fn filter(text: &str, keep: impl Fn(&str) -> bool) -> String {
        text.lines()
            .filter(|line| parse_manifest_line(line).map_or(true, |(name, _)| keep(name)))
            .flat_map(|line| [line, "\n"])
            .collect()
    }
}

/// A manifest line's member path (without `./`) and digest.
fn parse_manifest_line(line: &str) -> Option<(&str, &str)> {
    match line.split_once("  ") {
        Some((digest, name)) if is_digest(digest) && !name.is_empty() => {
            Some((name.strip_prefix("./").unwrap_or(name), digest))
        }
        _ => None,
    }
}

/// A member as hashed against the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDigest {
    /// Member name (without `./`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256 of the member as stored.
    pub sha256: String,
    /// What the manifest records for it, if anything.
    pub recorded: Option<String>,
}

/// What [`manifest_report`] found.
#[derive(Debug, Clone, Default)]
pub struct ManifestReport {
    /// The problems (empty: every member matches the manifest).
    pub problems: Vec<String>,
    /// Every member hashed, in image order.
    pub members: Vec<MemberDigest>,
}

/// Checks the members of an image against its embedded manifest: the one
/// implementation `check`, `verify`, `sign` and
/// [`crate::admit::verify_signed_image`] share. Reads a tar once,
/// hashing each member's data range; a directory's files as stored. The
/// members that follow the manifest ([`TRAILER`]: the manifest and the
/// signature members) are not listed in it.
///
/// # Errors
///
/// A member that cannot be read.
pub fn manifest_report(opened: &Opened, progress: Progress) -> Result<ManifestReport> {
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
        // The directory's files as the image model sees them: members()
        // leaves out the manifest and the signature members.
        Form::Dir => opened
            .image
            .members()
            .into_iter()
            .filter_map(|m| match m {
                Member::File { path, .. } => opened.raw_member(&path).map(|blob| (path, blob)),
                Member::Dir(_) => None,
            })
            .collect(),
        _ => opened
            .entries
            .iter()
            .filter(|(name, e)| e.kind == Kind::File && !TRAILER.contains(&name.as_str()))
            .filter_map(|(name, e)| opened.entry_blob(e).map(|blob| (name.clone(), blob)))
            .collect(),
    };
    let total = files.iter().map(|(_, b)| b.len()).sum();
    let bar = progress.bar(total, &format!("checking {}", opened.path.display()));
    let mut seen = BTreeSet::new();
    for (name, blob) in files {
        seen.insert(name.clone());
        let actual =
            sha256_read(blob.open()?, &bar).map_err(|e| Error::Refused(format!("cannot read `{name}`: {e}")))?;
        problems.extend(member_problem(&name, &actual, expected.get(&name).map(String::as_str)));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip() {
        let d = "a".repeat(64);
        let mut text = String::new();
        push_manifest_line(&mut text, &d, "./files/kernel");
        text.push_str("garbage\n");
        text.push_str("xyz  ./short\n");
        let m = Manifest::parse(&text);
        assert_eq!(m.digests.get("files/kernel"), Some(&d));
        assert_eq!(m.malformed, ["garbage", "xyz  ./short"]);
        let kept = Manifest::filter(&text, |name| name != "files/kernel");
        assert_eq!(kept, "garbage\nxyz  ./short\n");
    }

    #[test]
    fn sidecar_format_is_sha256sum() {
        let d = "0".repeat(64);
        let text = sidecar_text(&d, "g.xenguest");
        assert_eq!(text, format!("{d}  g.xenguest\n"));
        assert_eq!(sidecar_digest(&text), d);
        assert_eq!(
            sidecar_path(Path::new("a/g.xenguest")),
            Path::new("a/g.xenguest.sha256")
        );
    }

    #[test]
    fn hashing() {
        let empty = sha256_read(&b""[..], &Bar::hidden()).unwrap();
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
