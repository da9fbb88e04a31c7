//! Opening an image: a directory, a tar file or a gzip-compressed tar file.
//!
//! Every member name is checked before anything else happens: absolute
//! names, `..`, links, devices, FIFOs and repeated names make the image
//! unusable, so `extract` refuses before it writes anything.
//!
//! Each member is read once: the configuration files, the manifest and the
//! signature members are held in memory from the read the model is parsed
//! from, and [`open_private`] copies a whole image file, in one read, into
//! a private file for a consumer that must use exactly what it verified.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tar::{self, Entry, Kind};
use super::{Archive, Blob, Image, MANIFEST, MAX_TEXT_MEMBER, SIGNATURE, SIGNER};
use crate::digest::HashingReader;
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
    /// temporary copy that lives as long as this value; from
    /// [`open_private`], a private copy).
    pub archive: Option<Arc<Archive>>,
    /// The sha256 of the image file as it was read, when it was read
    /// whole ([`open_private`]): what its sidecar must match.
    pub sha256: Option<String>,
    /// The members read into memory when the image was opened (the
    /// configuration files the model is parsed from, the manifest and the
    /// signature members), by name: every later use sees those bytes.
    held: BTreeMap<String, Blob>,
    /// Data offsets of the held members of an archive.
    held_at: BTreeMap<u64, String>,
    /// The decompressed temporary file, removed when this value is dropped.
    decompressed: Option<tempfile::TempPath>,
}

impl Opened {
    /// The data of an archive member, as a blob (`None` for directory
    /// images, which have no archive).
    pub fn entry_blob(&self, entry: &Entry) -> Option<Blob> {
        if entry.kind == Kind::File {
            if let Some(blob) = self.held_at.get(&entry.data_offset).and_then(|n| self.held.get(n)) {
                return Some(blob.clone());
            }
        }
        self.archive.as_ref().map(|archive| archive_blob(archive, entry))
    }

    /// The raw bytes of member `name` as stored (not re-rendered): a
    /// regular file of a directory image, or a file member of an archive.
    pub fn raw_member(&self, name: &str) -> Option<Blob> {
        if let Some(blob) = self.held.get(name) {
            return Some(blob.clone());
        }
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
    if partial {
        Ok(opened)
    } else {
        complete(opened, path)
    }
}

/// `opened`, if it holds the three configuration files every image has.
fn complete(opened: Opened, path: &Path) -> Result<Opened> {
    let missing = opened.image.missing_configs();
    if missing.is_empty() {
        Ok(opened)
    } else {
        Err(Error::NotAnImage {
            path: path.to_path_buf(),
            reason: format!("`{}` missing", missing.join("`, `")),
        })
    }
}

fn open_file(path: &Path) -> Result<Opened> {
    let (file, form, tmp) = if is_gzip(path)? {
        let mut tmp = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("cannot create a temporary file in", std::env::temp_dir(), e))?;
        let input = File::open(path).with_path("cannot open", path)?;
        // deflate expands at most ~1032:1, so a small image can still fill
        // the temporary file system: stop before it does.
        let room = room(tmp.as_file());
        let decoder = crate::interrupt::Checked(flate2::read::MultiGzDecoder::new(io::BufReader::new(input)));
        let copied = io::copy(&mut decoder.take(room.saturating_add(1)), tmp.as_file_mut())
            .map_err(|e| Error::archive(path, format!("cannot decompress: {e}")))?;
        if copied > room {
            return Err(no_room(
                "decompressing",
                path,
                room,
                &std::env::temp_dir(),
                "set TMPDIR to a larger file system",
            ));
        }
        let (file, tmp_path) = tmp.into_parts();
        (file, Form::TarGz, Some(tmp_path))
    } else {
        (File::open(path).with_path("cannot open", path)?, Form::Tar, None)
    };
    let mut opened = from_archive(file, path, form, None)?;
    opened.decompressed = tmp;
    Ok(opened)
}

/// Bytes that may be written to the file system of `file`, keeping
/// [`TMP_RESERVE`] free.
fn room(file: &File) -> u64 {
    rustix::fs::fstatvfs(file).map_or(u64::MAX, |v| {
        v.f_bavail.saturating_mul(v.f_frsize).saturating_sub(TMP_RESERVE)
    })
}

fn no_room(verb: &str, path: &Path, room: u64, dir: &Path, fix: &str) -> Error {
    Error::Refused(format!(
        "{verb} `{}` needs more than the {room} bytes free in `{}` (keeping {TMP_RESERVE} bytes free) - {fix}",
        path.display(),
        dir.display()
    ))
}

/// Opens the image file at `path` for a consumer that must use exactly
/// what it verified (the host manager): the file is read once, from one
/// open descriptor, into an unlinked temporary file in `dir` (decompressed
/// on the way when it is gzip-compressed), and its sha256 is computed from
/// that same read ([`Opened::sha256`], what the sidecar must match). Every
/// blob of the result points into the private copy, so a change to the
/// file at `path` after this returns can reach nothing. The copy needs the
/// image's (decompressed) size free in `dir`, plus a reserve of 256 MB.
///
/// # Errors
///
/// A missing or unreadable file, a directory or special file, a copy that
/// does not fit in `dir`, and everything [`open`] refuses.
pub fn open_private(path: &Path, dir: &Path) -> Result<Opened> {
    // Non-blocking, so that a FIFO (or a device) at `path` is refused below
    // instead of stalling the caller (who may hold a lock); a regular file
    // reads as usual.
    let input = std::os::unix::fs::OpenOptionsExt::custom_flags(
        fs::OpenOptions::new().read(true),
        crate::regular::open_flags(rustix::fs::OFlags::empty()),
    )
    .open(path)
    .map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotAnImage {
            path: path.to_path_buf(),
            reason: "no such file or directory".into(),
        },
        _ => Error::io("cannot open", path, e),
    })?;
    // What was opened, not what the path names now.
    let meta = input.metadata().with_path("cannot read", path)?;
    if !meta.is_file() {
        return Err(Error::NotAnImage {
            path: path.to_path_buf(),
            reason: if meta.is_dir() {
                "it is a directory - an image file is needed here".into()
            } else {
                "not a regular file".into()
            },
        });
    }
    let copy = tempfile::tempfile_in(dir).with_path("cannot create a temporary file in", dir)?;
    let (copy, form, sha256) = copy_private(input, meta.len(), copy, path, dir)?;
    complete(from_archive(copy, path, form, Some(sha256))?, path)
}

/// Copies `input` (`len` bytes when opened) into `copy` in one read,
/// decompressing a gzip stream, and returns the copy, its form and the
/// sha256 of every byte read from `input`.
fn copy_private(input: impl Read, len: u64, mut copy: File, path: &Path, dir: &Path) -> Result<(File, Form, String)> {
    let room = room(&copy);
    let fix = "free space there or make the image smaller";
    let mut input = BufReader::with_capacity(1 << 20, HashingReader::new(crate::interrupt::Checked(input)));
    let gzip = input
        .fill_buf()
        .with_path("cannot read", path)?
        .starts_with(&[0x1f, 0x8b]);
    let form = if gzip {
        let decoder = flate2::bufread::MultiGzDecoder::new(&mut input);
        let copied = io::copy(&mut decoder.take(room.saturating_add(1)), &mut copy)
            .map_err(|e| Error::archive(path, format!("cannot decompress: {e}")))?;
        if copied > room {
            return Err(no_room("decompressing", path, room, dir, fix));
        }
        // Whatever follows the compressed stream is part of the file the
        // sidecar describes.
        io::copy(&mut input, &mut io::sink()).with_path("cannot read", path)?;
        Form::TarGz
    } else {
        if len > room {
            return Err(no_room("copying", path, room, dir, fix));
        }
        let copied =
            io::copy(&mut (&mut input).take(room.saturating_add(1)), &mut copy).with_path("cannot copy", path)?;
        if copied > room {
            return Err(no_room("copying", path, room, dir, fix));
        }
        Form::Tar
    };
    Ok((copy, form, input.into_inner().finish()))
}

/// The members read into memory when an image is opened: the ones the
/// model parses and the ones signature checking reads.
fn is_held(name: &str) -> bool {
    matches!(
        name,
        "params.cfg" | "guest.cfg" | "disk.cfg" | super::meta::MEMBER | MANIFEST | SIGNATURE | SIGNER
    )
}

/// Reads a held member into memory (one read; later uses see these
/// bytes). Larger ones stay where they are: reading them as text fails,
/// naming the limit.
fn hold(blob: Blob, name: &str) -> Result<Blob> {
    if blob.len() > MAX_TEXT_MEMBER || matches!(blob, Blob::Bytes(_)) {
        return Ok(blob);
    }
    blob.read_all(name).map(Blob::bytes)
}

/// The image in the tar archive `file` (named `path` in messages).
fn from_archive(file: File, path: &Path, form: Form, sha256: Option<String>) -> Result<Opened> {
    let raw_entries = tar::index(&file, path)?;
    let archive = Arc::new(Archive {
        file,
        path: path.to_path_buf(),
    });
    let mut seen = BTreeSet::new();
    let mut entries = Vec::with_capacity(raw_entries.len());
    let mut members = Vec::new();
    let mut held = BTreeMap::new();
    let mut held_at = BTreeMap::new();
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
            Kind::File => {
                let mut blob = archive_blob(&archive, &entry);
                if is_held(&name) {
                    blob = hold(blob, &name)?;
                    held.insert(name.clone(), blob.clone());
                    held_at.insert(entry.data_offset, name.clone());
                }
                members.push((name.clone(), blob));
            }
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
        sha256,
        held,
        held_at,
        decompressed: None,
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
    let mut held = BTreeMap::new();
    for (name, blob) in &mut members {
        if is_held(name) {
            *blob = hold(blob.clone(), name)?;
            held.insert(name.clone(), blob.clone());
        }
    }
    Ok(Opened {
        image: Image::from_members(members)?,
        form: Form::Dir,
        path: root.to_path_buf(),
        entries: Vec::new(),
        archive: None,
        sha256: None,
        held,
        held_at: BTreeMap::new(),
        decompressed: None,
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
    use super::*;
    use crate::image::writer::{self, Compression, WriteOptions};
    use crate::image::Stage;
    use crate::progress::Progress;
    use std::os::unix::fs::FileExt;

    /// Reads `file` in small steps; once `at` bytes were read, writes
    /// `patch` into the same file (same inode) at `offset`: a rewrite of
    /// what the reader has just passed.
    struct RewriteBehind {
        file: File,
        read: u64,
        at: u64,
        patch: Option<(u64, Vec<u8>)>,
    }

    impl Read for RewriteBehind {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let step = buf.len().min(512);
            let n = self.file.read(&mut buf[..step])?;
            self.read += n as u64;
            if self.read >= self.at {
                if let Some((offset, bytes)) = self.patch.take() {
                    self.file.write_all_at(&bytes, offset)?;
                }
            }
            Ok(n)
        }
    }

    fn image_with(script: &str, big: u8) -> Image {
        let mut image = Image::new_default();
        image
            .init_mut(Stage::Main)
            .insert("run.sh".into(), Blob::bytes(script.as_bytes().to_vec()));
        image.files.insert("rootfs".into(), Blob::bytes(vec![big; 300_000]));
        image
    }

    fn write(image: &Image, dest: &Path, compression: Compression) {
        let opts = WriteOptions {
            mtime: 0,
            compression,
            progress: Progress::from_terminal(true),
            sign: None,
        };
        writer::write_file(image, dest, &opts).unwrap();
    }

    /// The private copy is what was read: a rewrite of a member the reader
    /// has passed (the init script of a plain tar; the first half of a
    /// gzip stream) reaches neither the copy nor its digest, and the copy
    /// verifies against its manifest.
    #[test]
    fn a_rewrite_behind_the_reader_reaches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let good_script = "#!/bin/sh\necho verified\n";
        for compression in [Compression::None, Compression::Gzip] {
            let path = dir.path().join("g.xenguest");
            let evil_path = dir.path().join("evil.xenguest");
            write(&image_with(good_script, 1), &path, compression);
            write(&image_with("#!/bin/sh\necho replaced\n", 2), &evil_path, compression);
            let good = fs::read(&path).unwrap();
            let evil = fs::read(&evil_path).unwrap();
            let (at, rewrite) = if compression == Compression::None {
                let plain = open(&path, false).unwrap();
                let (_, e) = plain.entries.iter().find(|(n, _)| n == "init.d/run.sh").unwrap();
                let range = usize::try_from(e.data_offset).unwrap()..usize::try_from(e.data_offset + e.size).unwrap();
                assert_ne!(good[range.clone()], evil[range.clone()]);
                (e.data_offset + e.size, (e.data_offset, evil[range].to_vec()))
            } else {
                let half = good.len().min(evil.len()) / 2;
                (half as u64, (0, evil[..half].to_vec()))
            };
            let input = RewriteBehind {
                file: fs::OpenOptions::new().read(true).write(true).open(&path).unwrap(),
                read: 0,
                at,
                patch: Some(rewrite),
            };
            let copy = tempfile::tempfile_in(dir.path()).unwrap();
            let (copy, form, digest) = copy_private(input, good.len() as u64, copy, &path, dir.path()).unwrap();
            let opened = from_archive(copy, &path, form, Some(digest.clone())).unwrap();
            assert_ne!(fs::read(&path).unwrap(), good, "the rewrite happened");
            assert_eq!(digest, crate::checksum::sha256_bytes(&good));
            let script = opened.image.init(Stage::Main)["run.sh"].read_all("run.sh").unwrap();
            assert_eq!(script, good_script.as_bytes());
            let report = crate::checksum::manifest_report(&opened, Progress::from_terminal(true)).unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            // And the way in for the manager: the same, from the path.
            write(&image_with(good_script, 1), &path, compression);
            let opened = open_private(&path, dir.path()).unwrap();
            fs::write(&path, &evil).unwrap();
            assert_eq!(
                opened.sha256.as_deref(),
                Some(crate::checksum::sha256_bytes(&good).as_str())
            );
            let script = opened.image.init(Stage::Main)["run.sh"].read_all("run.sh").unwrap();
            assert_eq!(script, good_script.as_bytes());
            // The sidecar (of the good image, written beside it) judges the
            // bytes that were read, not what the path holds now.
            let (problems, checked) =
                crate::admit::integrity(&opened, true, crate::progress::Progress::default()).unwrap();
            assert!(checked.sidecar_checked);
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

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
