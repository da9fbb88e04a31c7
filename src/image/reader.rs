//! Opening an image: a directory, a tar file or a gzip-compressed tar file.
//!
//! Every member name is checked before anything else happens: absolute
//! names, `..`, links, devices, FIFOs and repeated names make the image
//! unusable, so `extract` refuses before it writes anything.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tar::{self, Entry, Kind};
use super::{Archive, Blob, Image};
use crate::error::{Error, IoContext, Result};

/// How an image is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A directory.
    Dir,
    /// An uncompressed tar file.
    Tar,
    /// A gzip-compressed tar file.
    TarGz,
}

/// An image read from disk.
#[derive(Debug)]
pub struct Opened {
    /// The typed image.
    pub image: Image,
    /// How it was stored.
    pub form: Form,
    /// Where.
    pub path: PathBuf,
    /// The archive members (tar forms only), in archive order.
    pub entries: Vec<(String, Entry)>,
    /// The archive the blobs point into (tar forms; for gzip, a decompressed
    /// temporary copy that lives as long as this value).
    pub archive: Option<Arc<Archive>>,
    _decompressed: Option<tempfile::TempPath>,
}

impl Opened {
    /// The data of an archive member, as a blob (`None` for directory
    /// images, which have no archive).
    pub fn entry_blob(&self, entry: &Entry) -> Option<Blob> {
        self.archive.as_ref().map(|archive| archive_blob(archive, entry))
    }

    /// The raw bytes of member `name` as stored (not re-rendered): a
    /// regular file of a directory image, or a file member of an archive.
    pub fn raw_member(&self, name: &str) -> Option<Blob> {
        match self.form {
            Form::Dir => {
                let p = self.path.join(name);
                fs::symlink_metadata(&p)
                    .ok()
                    .filter(fs::Metadata::is_file)
                    .map(|m| Blob::File { path: p, len: m.len() })
            }
            _ => self
                .entries
                .iter()
                .find(|(n, e)| n == name && e.kind == Kind::File)
                .and_then(|(_, e)| self.entry_blob(e)),
        }
    }
}

fn archive_blob(archive: &Arc<Archive>, entry: &Entry) -> Blob {
    Blob::Archive {
        archive: Arc::clone(archive),
        offset: entry.data_offset,
        len: entry.size,
    }
}

/// Space left free on the temporary file system when decompressing.
const TMP_RESERVE: u64 = 256 * 1024 * 1024;

/// Whether `path` starts with the gzip magic.
pub fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).with_path("cannot open", path)?;
    Ok(match f.read_exact(&mut magic) {
        Ok(()) => magic == [0x1f, 0x8b],
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
        Err(e) => return Err(Error::io("cannot read", path, e)),
    })
}

/// Opens the image at `path` (directory, tar or tar.gz). With `partial`,
/// the three configuration files may be missing.
pub fn open(path: &Path, partial: bool) -> Result<Opened> {
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotAnImage {
            path: path.to_path_buf(),
            reason: "no such file or directory".into(),
        },
        _ => Error::io("cannot read", path, e),
    })?;
    let opened = if meta.is_dir() {
        open_dir(path)?
    } else if meta.is_file() {
        open_file(path)?
    } else {
        return Err(Error::NotAnImage {
            path: path.to_path_buf(),
            reason: "neither a regular file nor a directory".into(),
        });
    };
    if !partial {
        let missing = opened.image.missing_configs();
        if !missing.is_empty() {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: format!("`{}` missing", missing.join("`, `")),
            });
        }
    }
    Ok(opened)
}

fn open_file(path: &Path) -> Result<Opened> {
    let (file, form, tmp) = if is_gzip(path)? {
        let mut tmp = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("cannot create a temporary file in", std::env::temp_dir(), e))?;
        let input = File::open(path).with_path("cannot open", path)?;
        // deflate expands at most ~1032:1, so a small image can still fill
        // the temporary file system: stop before it does.
        let room = rustix::fs::fstatvfs(tmp.as_file()).map_or(u64::MAX, |v| {
            v.f_bavail.saturating_mul(v.f_frsize).saturating_sub(TMP_RESERVE)
        });
        let decoder = crate::interrupt::Checked(flate2::read::MultiGzDecoder::new(io::BufReader::new(input)));
        let copied = io::copy(&mut decoder.take(room.saturating_add(1)), tmp.as_file_mut())
            .map_err(|e| Error::archive(path, format!("cannot decompress: {e}")))?;
        if copied > room {
            return Err(Error::Refused(format!(
                "decompressing `{}` needs more than the {room} bytes free in the temporary directory `{}` - set TMPDIR to a larger file system",
                path.display(),
                std::env::temp_dir().display()
            )));
        }
        let (file, tmp_path) = tmp.into_parts();
        (file, Form::TarGz, Some(tmp_path))
    } else {
        (File::open(path).with_path("cannot open", path)?, Form::Tar, None)
    };
    let raw_entries = tar::index(&file, path)?;
    let archive = Arc::new(Archive {
        file,
        path: path.to_path_buf(),
    });
    let mut seen = BTreeSet::new();
    let mut entries = Vec::with_capacity(raw_entries.len());
    let mut members = Vec::new();
    for entry in raw_entries {
        let Some(name) = checked_name(&entry.name).map_err(|reason| Error::archive(path, reason))? else {
            if entry.kind == Kind::Dir {
                continue;
            }
            return Err(Error::archive(path, "the archive root `./` is not a directory"));
        };
        if !seen.insert(name.clone()) {
            return Err(Error::archive(path, format!("member `{name}` appears more than once")));
        }
        match entry.kind {
            Kind::Dir => {}
            Kind::File => members.push((name.clone(), archive_blob(&archive, &entry))),
            Kind::Other(flag) => {
                return Err(Error::archive(
                    path,
                    format!(
                        "member `{name}` is a {} - only regular files and directories are allowed",
                        describe_type(flag)
                    ),
                ))
            }
        }
        entries.push((name, entry));
    }
    check_file_dir_clash(path, entries.iter().map(|(n, e)| (n.as_str(), e.kind == Kind::Dir)))?;
    Ok(Opened {
        image: Image::from_members(members)?,
        form,
        path: path.to_path_buf(),
        entries,
        archive: Some(archive),
        _decompressed: tmp,
    })
}

/// A member that is a file and also the parent of other members cannot be
/// extracted; refuse it up front.
fn check_file_dir_clash<'a>(path: &Path, names: impl Iterator<Item = (&'a str, bool)>) -> Result<()> {
    let mut files = BTreeSet::new();
    let mut parents = BTreeSet::new();
    for (name, dir) in names {
        if !dir {
            files.insert(name);
        }
        let mut end = 0;
        while let Some(i) = name[end..].find('/') {
            end += i;
            parents.insert(&name[..end]);
            end += 1;
        }
    }
    if let Some(clash) = files.intersection(&parents).next() {
        return Err(Error::archive(
            path,
            format!("member `{clash}` is both a file and a directory"),
        ));
    }
    Ok(())
}

fn describe_type(flag: u8) -> String {
    match flag {
        b'1' => "hard link".into(),
        b'2' => "symbolic link".into(),
        b'3' => "character device".into(),
        b'4' => "block device".into(),
        b'6' => "FIFO".into(),
        other => format!("member of unsupported type `{}`", other.escape_ascii()),
    }
}

/// Normalises an archive member name to a path relative to the image root
/// (`None` for the root itself), refusing names that would leave it.
pub fn checked_name(raw: &[u8]) -> std::result::Result<Option<String>, String> {
    let shown = String::from_utf8_lossy(raw).escape_debug().to_string();
    let name = std::str::from_utf8(raw).map_err(|_| format!("member name `{shown}` is not UTF-8"))?;
    if name.starts_with('/') {
        return Err(format!("member `{shown}` has an absolute name"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("member name `{shown}` contains control characters"));
    }
    let trimmed = name.trim_end_matches('/');
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            ".." => return Err(format!("member `{shown}` contains `..`")),
            "." if parts.is_empty() => {}
            "" | "." => return Err(format!("member name `{shown}` has an empty or `.` component")),
            // Longer names cannot be extracted on Linux: refuse them here,
            // before `extract` writes anything.
            p if p.len() > 255 => {
                return Err(format!(
                    "member name `{}…` has a component longer than 255 bytes",
                    short(&shown)
                ))
            }
            p => parts.push(p),
        }
    }
    if name.len() > 4096 {
        return Err(format!("member name `{}…` is longer than 4096 bytes", short(&shown)));
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// The start of a long name, for messages.
fn short(name: &str) -> String {
    name.chars().take(100).collect()
}

fn open_dir(root: &Path) -> Result<Opened> {
    let mut members = Vec::new();
    walk(root, root, &mut members)?;
    Ok(Opened {
        image: Image::from_members(members)?,
        form: Form::Dir,
        path: root.to_path_buf(),
        entries: Vec::new(),
        archive: None,
        _decompressed: None,
    })
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Blob)>) -> Result<()> {
    let mut children: Vec<_> = fs::read_dir(dir)
        .with_path("cannot list", dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()
        .with_path("cannot list", dir)?;
    children.sort();
    for path in children {
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let name = rel
            .to_str()
            .ok_or_else(|| Error::NotAnImage {
                path: root.to_path_buf(),
                reason: format!("`{}` is not a UTF-8 name", rel.display()),
            })?
            .to_owned();
        // The names a tar image may hold, so that `pack` never makes an
        // image that `check` refuses (a file name can hold a newline).
        checked_name(name.as_bytes()).map_err(|reason| Error::NotAnImage {
            path: root.to_path_buf(),
            reason,
        })?;
        let meta = fs::symlink_metadata(&path).with_path("cannot read", &path)?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if meta.is_file() {
            out.push((name, Blob::File { path, len: meta.len() }));
        } else {
            return Err(Error::NotAnImage {
                path: root.to_path_buf(),
                reason: format!("`{name}` is a link or special file - only regular files and directories are allowed"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::checked_name;

    #[test]
    fn names_normalise_or_fail() {
        assert_eq!(checked_name(b"./").unwrap(), None);
        assert_eq!(checked_name(b".").unwrap(), None);
        assert_eq!(checked_name(b"./params.cfg").unwrap().as_deref(), Some("params.cfg"));
        assert_eq!(checked_name(b"files/").unwrap().as_deref(), Some("files"));
        assert_eq!(
            checked_name(b"./files/net/a.json").unwrap().as_deref(),
            Some("files/net/a.json")
        );
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"./a/../../x",
            b"a//b",
            b"a/./b",
            b"\xff",
            b"a\nb",
        ] {
            assert!(checked_name(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
