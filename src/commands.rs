//! One function per operation.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::checksum::{self, sidecar_digest, sidecar_path};
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::tar::Kind;
use crate::image::writer::{self, Compression, WriteOptions};
use crate::image::{Blob, Image, Stage, MANIFEST};
use crate::ops::{self, Op};
use crate::progress::{Bar, Progress};
use crate::signature::{self, SignatureStatus, SigningKey, TrustedKeys};
use crate::spec::GuestSpec;

/// Options every operation sees.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Global {
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    pub(crate) json: bool,
}

impl Global {
    fn warn(self, msg: &str) {
        if !self.quiet {
            eprintln!("xenguest-mkimage: warning: {msg}");
        }
    }

    fn write_options(self, mtime: u64, compression: Compression) -> WriteOptions {
        WriteOptions {
            mtime,
            compression,
            progress: Progress::from_terminal(self.quiet),
            sign: None,
        }
    }

    fn wrote(self, w: &writer::Written) {
        if self.verbose {
            eprintln!("wrote {} ({} bytes, sha256 {})", w.path.display(), w.bytes, w.sha256);
        }
    }
}

fn apply(image: &mut Image, ops: &[Op]) -> Result<()> {
    for op in ops {
        op.apply(image)?;
    }
    Ok(())
}

fn warn_problems(g: Global, image: &Image) {
    for p in ops::problems(image) {
        g.warn(&p);
    }
}

pub(crate) fn create(g: Global, dest: &Path, ops: &[Op], mtime: u64) -> Result<()> {
    let into_dir = match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            if fs::read_dir(dest).with_path("cannot list", dest)?.next().is_some() {
                return Err(Error::Refused(format!("directory `{}` is not empty", dest.display())));
            }
            true
        }
        Ok(_) => return Err(Error::Refused(format!("`{}` already exists", dest.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io("cannot read", dest, e)),
    };
    let mut image = Image::new_default();
    apply(&mut image, ops)?;
    warn_problems(g, &image);
    if into_dir {
        writer::write_dir(&image, dest, &[])
    } else {
        let w = writer::write_file(&image, dest, &g.write_options(mtime, Compression::None))?;
        g.wrote(&w);
        Ok(())
    }
}

/// An exclusive advisory lock on an image (file or directory), held until
/// dropped. Taken on the path's current inode; if a concurrent writer
/// replaced the file meanwhile, the lock is taken again on the new one.
struct Lock(#[allow(dead_code)] File);

fn lock(path: &Path) -> Result<Lock> {
    loop {
        let f = File::open(path).with_path("cannot open", path)?;
        // Poll rather than block, so that Ctrl-C still works while another
        // process holds the image.
        loop {
            match rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    crate::interrupt::check().with_path("interrupted while waiting for the lock on", path)?;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(Error::io("cannot lock", path, e.into())),
            }
        }
        let held = f.metadata().with_path("cannot read", path)?;
        match fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(Lock(f)),
            Ok(_) => {}
            Err(e) => return Err(Error::io("cannot read", path, e)),
        }
    }
}

pub(crate) fn update(g: Global, path: &Path, ops: &[Op], mtime: u64, sign: Option<&Arc<SigningKey>>) -> Result<()> {
    update_with(g, path, ops, |_| mtime, sign)
}

/// `sign`: rewrites an image file unchanged but for a new signature
/// (replacing any earlier one). Without an explicit time, the members keep
/// the time of the image's manifest, so signing a build afterwards gives
/// the same bytes as signing it in the build.
pub(crate) fn sign(g: Global, path: &Path, key: &Arc<SigningKey>, mtime: Option<u64>) -> Result<()> {
    if path.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is a directory - sign works on image files (a directory has no manifest to sign)",
            path.display()
        )));
    }
    update_with(
        g,
        path,
        &[],
        |opened| {
            mtime.unwrap_or_else(|| {
                opened
                    .entries
                    .iter()
                    .find(|(n, _)| n == MANIFEST)
                    .map_or(writer::DEFAULT_MTIME, |(_, e)| e.mtime)
            })
        },
        Some(key),
    )?;
    if g.verbose {
        eprintln!(
            "signed {} with {} ({})",
            path.display(),
            key.public().fingerprint(),
            key.public().algorithm()
        );
    }
    Ok(())
}

fn update_with(
    g: Global,
    path: &Path,
    ops: &[Op],
    mtime: impl FnOnce(&Opened) -> u64,
    sign: Option<&Arc<SigningKey>>,
) -> Result<()> {
    match fs::metadata(path) {
        // Checked before `lock` opens it: opening a FIFO blocks forever.
        Ok(m) if m.is_file() || m.is_dir() => {}
        Ok(_) => {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: "neither a regular file nor a directory".into(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: "no such file or directory".into(),
            })
        }
        Err(e) => return Err(Error::io("cannot read", path, e)),
    }
    let _lock = lock(path)?;
    let (opened, image, previous) = open_and_apply(path, false, ops)?;
    match opened.form {
        // A directory is often a partial view (extract-config leaves the
        // disk files out): only image files are checked for completeness.
        Form::Dir if sign.is_some() => Err(Error::Refused(format!(
            "`{}` is a directory - only image files are signed",
            path.display()
        ))),
        Form::Dir => writer::write_dir(&image, path, &previous),
        Form::Tar | Form::TarGz => {
            warn_problems(g, &image);
            let compression = if opened.form == Form::TarGz {
                Compression::Gzip
            } else {
                Compression::None
            };
            if sign.is_none() && image.signature.is_some() {
                // The writer signs only with a key: the old signature
                // cannot cover the new manifest.
                g.warn(&format!(
                    "`{}` was signed; the update dropped its signature (give --sign-key, or sign it again with `xenguest-mkimage sign`)",
                    path.display()
                ));
            }
            let mut options = g.write_options(mtime(&opened), compression);
            options.sign = sign.cloned();
            let w = writer::write_file(&image, path, &options)?;
            g.wrote(&w);
            Ok(())
        }
    }
}

/// Opens the image at `path` (the caller holds its lock), applies `ops`,
/// and returns the image as read, as modified, and the files it had (for
/// a directory, the ones to remove if they are gone).
fn open_and_apply(path: &Path, partial: bool, ops: &[Op]) -> Result<(Opened, Image, Vec<String>)> {
    let opened = reader::open(path, partial)?;
    let previous = opened
        .image
        .members()
        .into_iter()
        .filter_map(|m| match m {
            crate::image::Member::File { path, .. } => Some(path),
            crate::image::Member::Dir(_) => None,
        })
        .collect();
    let mut image = opened.image.clone();
    apply(&mut image, ops)?;
    Ok((opened, image, previous))
}

pub(crate) fn partial(dir: &Path, ops: &[Op]) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Refused(format!(
                "`{}` exists and is not a directory",
                dir.display()
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        Err(e) => return Err(Error::io("cannot read", dir, e)),
    }
    let _lock = lock(dir)?;
    let (_, image, previous) = open_and_apply(dir, true, ops)?;
    writer::write_dir(&image, dir, &previous)
}

pub(crate) fn pack(g: Global, dir: &Path, dest: &Path, mtime: u64) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is not a directory - pack works on image directories",
            dir.display()
        )));
    }
    let opened = reader::open(dir, false)?;
    if dest.exists() {
        return Err(Error::Refused(format!("`{}` already exists", dest.display())));
    }
    warn_problems(g, &opened.image);
    let w = writer::write_file(&opened.image, dest, &g.write_options(mtime, Compression::None))?;
    g.wrote(&w);
    Ok(())
}

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

fn sha256_of(blob: &Blob, what: &str, bar: &Bar) -> Result<String> {
    checksum::sha256_read(blob.open()?, bar).map_err(|e| Error::Refused(format!("cannot read `{what}`: {e}")))
}

fn sha256_file(path: &Path) -> Result<String> {
    let len = fs::metadata(path).with_path("cannot read", path)?.len();
    sha256_of(
        &Blob::File {
            path: path.to_path_buf(),
            len,
        },
        &path.display().to_string(),
        &Bar::hidden(),
    )
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
    let signer = if trusted.is_empty() {
        None
    } else {
        Some(signature::verify_image(&opened, trusted)?)
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
        let signature = signer.as_ref().map_or(
            json!(null),
            |s| json!({ "algorithm": s.algorithm.name(), "fingerprint": s.fingerprint }),
        );
        println!(
            "{}",
            json!({ "image": path, "ok": problems.is_empty(), "sidecar": sidecar_checked, "signature": signature, "problems": problems })
        );
    } else if problems.is_empty() {
        let by = signer
            .as_ref()
            .map(|s| format!("signature by trusted key {} ({}), ", s.fingerprint, s.algorithm))
            .unwrap_or_default();
        println!(
            "{}: OK ({by}manifest{})",
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

/// The raw bytes of member `name` as stored (not re-rendered).
fn raw_member(opened: &Opened, name: &str) -> Option<Blob> {
    match opened.form {
        Form::Dir => {
            let p = opened.path.join(name);
            fs::metadata(&p)
                .ok()
                .filter(fs::Metadata::is_file)
                .map(|m| Blob::File { path: p, len: m.len() })
        }
        _ => opened
            .entries
            .iter()
            .find(|(n, e)| n == name && e.kind == Kind::File)
            .and_then(|(_, e)| opened.entry_blob(e)),
    }
}

fn raw_text(opened: &Opened, name: &str) -> Result<Option<String>> {
    raw_member(opened, name).map(|b| b.read_text(name)).transpose()
}

pub(crate) fn dump(g: Global, what: &str, path: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    let out = &mut io::stdout().lock();
    let guest_d: Vec<String> = opened.image.guest_d.keys().map(|k| format!("guest.d/{k}")).collect();
    let result = match what {
        "dump-xenconfig" => {
            let mut files = vec!["guest.cfg".to_owned()];
            files.extend(guest_d);
            dump_files(g, out, "Xen configuration:", &opened, &files, true)
        }
        "dump-diskconfig" => dump_files(g, out, "Disk configuration:", &opened, &["disk.cfg".to_owned()], true),
        "dump-paramsconfig" => dump_files(
            g,
            out,
            "Guest configuration:",
            &opened,
            &["params.cfg".to_owned()],
            false,
        ),
        _ => dump_init(g, out, &opened),
    };
    result.and_then(|()| out.flush().with_path("cannot write to", "standard output"))
}

fn dump_files(
    g: Global,
    out: &mut impl Write,
    title: &str,
    opened: &Opened,
    files: &[String],
    trailing_newline: bool,
) -> Result<()> {
    let stdout = |e| Error::io("cannot write to", "standard output", e);
    if g.json {
        let mut map = serde_json::Map::new();
        for f in files {
            map.insert(f.clone(), json!(raw_text(opened, f)?));
        }
        return writeln!(out, "{}", serde_json::Value::Object(map)).map_err(stdout);
    }
    writeln!(out, "{title}").map_err(stdout)?;
    for f in files {
        if let Some(text) = raw_text(opened, f)? {
            out.write_all(text.as_bytes()).map_err(stdout)?;
        }
    }
    if trailing_newline {
        writeln!(out).map_err(stdout)?;
    }
    Ok(())
}

fn dump_init(g: Global, out: &mut impl Write, opened: &Opened) -> Result<()> {
    let stdout = |e| Error::io("cannot write to", "standard output", e);
    let stages = [Stage::Main, Stage::Pre, Stage::Post];
    if g.json {
        let mut map = serde_json::Map::new();
        for stage in stages {
            let mut scripts = serde_json::Map::new();
            for name in opened.image.init(stage).keys() {
                let member = format!("{}/{name}", stage.dir());
                scripts.insert(name.clone(), json!(raw_text(opened, &member)?));
            }
            map.insert(stage.dir().to_owned(), serde_json::Value::Object(scripts));
        }
        return writeln!(out, "{}", serde_json::Value::Object(map)).map_err(stdout);
    }
    for stage in stages {
        let dir = stage.dir();
        writeln!(out, "=== {dir} ===").map_err(stdout)?;
        let scripts = opened.image.init(stage);
        if scripts.is_empty() {
            writeln!(out, "No {dir} scripts.").map_err(stdout)?;
        }
        for name in scripts.keys() {
            if let Some(text) = raw_text(opened, &format!("{dir}/{name}"))? {
                out.write_all(text.as_bytes()).map_err(stdout)?;
            }
        }
        writeln!(out, "===============\n").map_err(stdout)?;
    }
    Ok(())
}

pub(crate) fn extract(g: Global, path: &Path, dest: &Path, config_only: bool) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| Error::io("cannot read", path, e))?;
    if meta.is_dir() {
        return Err(Error::Refused(format!(
            "`{}` is a directory - extract works on image files",
            path.display()
        )));
    }
    if !dest.is_dir() {
        return Err(Error::Refused(format!(
            "destination `{}` is not an existing directory",
            dest.display()
        )));
    }
    // Everything is checked when the image is opened: nothing is written
    // unless every member is safe.
    let opened = reader::open(path, false)?;
    let wanted = |name: &str| !(config_only && (name == "disk" || name.starts_with("disk/")));
    let total = opened
        .entries
        .iter()
        .filter(|(n, _)| wanted(n))
        .map(|(_, e)| e.size)
        .sum();
    // Then the destination: a link, or an entry of the wrong type, on the
    // path of any member is refused before anything is written.
    for (name, e) in opened.entries.iter().filter(|(n, _)| wanted(n)) {
        check_extract_path(dest, name, e.kind == Kind::Dir)?;
    }
    let bar = Progress::from_terminal(g.quiet).bar(total, &format!("extracting {}", path.display()));
    for (name, e) in &opened.entries {
        if !wanted(name) {
            continue;
        }
        match e.kind {
            Kind::Dir => writer::ensure_dir(dest, name)?,
            Kind::File => {
                if let Some((parent, _)) = name.rsplit_once('/') {
                    writer::ensure_dir(dest, parent)?;
                }
                let target = dest.join(name);
                if fs::symlink_metadata(&target).is_ok_and(|m| !m.is_file()) {
                    return Err(Error::Refused(format!(
                        "`{}` exists and is not a regular file",
                        target.display()
                    )));
                }
                let is_init = Stage::ALL.iter().any(|s| name.starts_with(&format!("{}/", s.dir())));
                let mode = if is_init || e.mode & 0o111 != 0 {
                    crate::image::MODE_EXEC
                } else {
                    crate::image::MODE_FILE
                };
                let blob = opened.entry_blob(e).expect("tar images have an archive");
                writer::write_file_member_with(&target, mode, &blob, name, &bar)?;
            }
            Kind::Other(_) => unreachable!("refused when the image was opened"),
        }
    }
    bar.finish();
    Ok(())
}

/// Checks what already exists on the way to member `name` under `dest`:
/// directories where directories go, a regular file (to be replaced) or
/// nothing where the file goes, and never a symbolic link.
fn check_extract_path(dest: &Path, name: &str, dir: bool) -> Result<()> {
    let parts: Vec<&str> = name.split('/').collect();
    let mut cur = dest.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        let want_dir = dir || i + 1 < parts.len();
        match fs::symlink_metadata(&cur) {
            Ok(m) if want_dir && m.is_dir() => {}
            Ok(m) if !want_dir && m.is_file() => {}
            Ok(_) => {
                return Err(Error::Refused(format!(
                    "`{}` exists and is not a {} - refusing to write through it",
                    cur.display(),
                    if want_dir { "directory" } else { "regular file" }
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(Error::io("cannot read", &cur, e)),
        }
    }
    Ok(())
}

pub(crate) fn extract_disk_file(path: &Path, name: &str) -> Result<()> {
    crate::validate::member_name("DISKFILE", name)?;
    let opened = reader::open(path, false)?;
    let member = format!("disk/{name}");
    let blob = raw_member(&opened, &member)
        .ok_or_else(|| Error::Refused(format!("`{}` has no disk file `{name}`", path.display())))?;
    let mut reader = blob.open()?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match io::copy(&mut reader, &mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // The reader of a pipe went away (e.g. `| head`): not our error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("cannot copy disk file out of", path, e)),
    }
}

pub(crate) fn build(
    g: Global,
    spec_path: &Path,
    output: Option<&Path>,
    defines: &BTreeMap<String, String>,
    mtime: u64,
    compression: Compression,
    sign: Option<&Arc<SigningKey>>,
) -> Result<()> {
    let spec = GuestSpec::load(spec_path)?;
    let image = spec.to_image(spec_path, defines)?;
    let default_out;
    let out = if let Some(o) = output {
        o
    } else {
        let stem = spec_path
            .file_stem()
            .map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
        default_out = PathBuf::from(format!("{stem}.xenguest"));
        &default_out
    };
    if out.is_dir() {
        return Err(Error::Refused(format!("output `{}` is a directory", out.display())));
    }
    // The write renames over the output: never over a device or a FIFO
    // (`-o /dev/null` run as root would replace the device node).
    if fs::metadata(out).is_ok_and(|m| !m.is_file()) {
        return Err(Error::Refused(format!(
            "output `{}` exists and is not a regular file",
            out.display()
        )));
    }
    let mut opts = g.write_options(mtime, compression);
    opts.sign = sign.cloned();
    let w = writer::write_file(&image, out, &opts)?;
    g.wrote(&w);
    Ok(())
}

pub(crate) fn export(g: Global, path: &Path, dest: &Path) -> Result<()> {
    let opened = reader::open(path, false)?;
    let (spec, files) = crate::spec::export(&opened.image)?;
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!("directory `{}` is not empty", dest.display())));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).with_path("cannot create directory", dest)?;
        }
        Err(e) => return Err(Error::io("cannot list", dest, e)),
    }
    for (rel, blob) in &files {
        if let Some((parent, _)) = rel.rsplit_once('/') {
            writer::ensure_dir(dest, parent)?;
        }
        let mode = if Stage::ALL.iter().any(|s| rel.starts_with(&format!("{}/", s.dir()))) {
            crate::image::MODE_EXEC
        } else {
            crate::image::MODE_FILE
        };
        writer::write_file_member(&dest.join(rel), mode, blob, rel)?;
    }
    let text = toml::to_string_pretty(&spec).map_err(|e| Error::Refused(format!("cannot write the TOML: {e}")))?;
    let header = format!(
        "# Exported by xenguest-mkimage from {}.\n# Build it again with: xenguest-mkimage build guest.toml -o IMAGE\n\n",
        path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
    );
    let toml_path = dest.join("guest.toml");
    writer::write_file_member(
        &toml_path,
        crate::image::MODE_FILE,
        &Blob::bytes(header + &text),
        "guest.toml",
    )?;
    if g.verbose {
        eprintln!("wrote {} and {} files", toml_path.display(), files.len());
    }
    Ok(())
}

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
                changed.push(json!({ "member": name, "what": "content", "diff": diff }));
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
        println!(
            "{}",
            json!({ "a": a, "b": b, "identical": same, "added": added, "removed": removed, "changed": changed, "order_differs": order_differs })
        );
        return Ok(same);
    }
    let out = &mut io::stdout().lock();
    let stdout = |e| Error::io("cannot write to", "standard output", e);
    for name in &removed {
        writeln!(out, "removed: ./{name}").map_err(stdout)?;
    }
    for name in &added {
        writeln!(out, "added:   ./{name}").map_err(stdout)?;
    }
    for c in &changed {
        let name = c["member"].as_str().unwrap_or_default();
        if c["what"] == "metadata" {
            writeln!(out, "changed: ./{name} (metadata: {} -> {})", c["a"], c["b"]).map_err(stdout)?;
        } else {
            writeln!(out, "changed: ./{name}").map_err(stdout)?;
            if let Some(d) = c["diff"].as_str() {
                out.write_all(d.as_bytes()).map_err(stdout)?;
            }
        }
    }
    if order_differs {
        writeln!(out, "member order differs").map_err(stdout)?;
    }
    if same {
        writeln!(out, "identical").map_err(stdout)?;
    }
    Ok(same)
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
