//! Writing an image: a deterministic tar stream (optionally gzip'd) with an
//! embedded manifest and a `sha256sum` sidecar, or a directory.
//!
//! Determinism: members are sorted by name, every header has the same
//! owner (0:0, `root`), a normalised mode and the same mtime, and there is
//! no atime, ctime, user name from the build machine or unsorted directory
//! walk anywhere. The same [`Image`] and mtime give the same bytes.
//!
//! Safety: every file is written to a temporary file in the destination's
//! directory, fsynced and renamed over the destination only when complete.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use sha2::{Digest, Sha256};

use super::tar::{pad_len, write_header, BLOCK_LEN, ZEROS};
use super::{member_name, Blob, Image, Member, MANIFEST, MODE_EXEC, MODE_FILE, SIGNATURE, SIGNER, TRAILER};
use crate::checksum::{push_manifest_line, sidecar_path, sidecar_text, Manifest};
use crate::digest::{hex, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::progress::Bar;
use crate::progress::Progress;
use crate::signature::SigningKey;
use std::os::unix::fs::FileExt;

/// Member time used when neither `--source-date-epoch` nor
/// `SOURCE_DATE_EPOCH` is given: 2000-01-01T00:00:00Z. Not 0, because some
/// tools treat a zero time as "unset" and substitute the current time.
pub const DEFAULT_MTIME: u64 = 946_684_800;

/// Size of the copy buffers: large enough to amortise system calls, small
/// enough that the few in flight stay far below the memory budget.
const CHUNK: usize = 1 << 20;

/// Compression of a written image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar.
    #[default]
    None,
    /// gzip, with no name and no time in its header.
    Gzip,
}

/// How to write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Member modification time.
    pub mtime: u64,
    /// Compression.
    pub compression: Compression,
    /// Progress display.
    pub progress: Progress,
    /// Sign the manifest with this key (see [`crate::signature`]); without
    /// one the image is written unsigned.
    pub sign: Option<Arc<SigningKey>>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The image file.
    pub path: PathBuf,
    /// Its sha256, as in the sidecar.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Writes `image` as a tar file at `dest` (atomically) and its sidecar.
pub fn write_file(image: &Image, dest: &Path, opts: &WriteOptions) -> Result<Written> {
    let members = image.members();
    let total: u64 = members
        .iter()
        .map(|m| match m {
            Member::File { blob, .. } => blob.len(),
            Member::Dir(_) => 0,
        })
        .sum();
    let progress = opts.progress.bar(total, &format!("writing {}", dest.display()));
    let known = known_digests(image);
    let sign = opts.sign.as_deref();
    let (sha256, _lock) = atomic_write_locked(dest, None, |file| match opts.compression {
        Compression::None => {
            let sink = PlainSink::new(file).with_path("cannot write", dest)?;
            write_tar(&members, &known, sign, sink, opts.mtime, &progress, dest)
        }
        Compression::Gzip => write_tar(&members, &known, sign, GzipSink::new(file), opts.mtime, &progress, dest),
    })?;
    progress.finish();
    let bytes = fs::metadata(dest).with_path("cannot read", dest)?.len();
    let name = dest
        .file_name()
        .map_or_else(|| dest.display().to_string(), |n| n.to_string_lossy().into_owned());
    let sidecar = sidecar_text(&sha256, &name);
    atomic_write(&sidecar_path(dest), |mut file| {
        file.write_all(sidecar.as_bytes()).with_path("cannot write", dest)?;
        Ok((file, ()))
    })?;
    Ok(Written {
        path: dest.to_path_buf(),
        sha256,
        bytes,
    })
}

/// The one tar pipeline, for plain and gzip images alike: headers, member
/// data, padding, the manifest and the end blocks are written here, once;
/// the [`Sink`] below it decides how bytes reach the file (copied by the
/// kernel, or compressed) and how they are hashed.
fn write_tar<S: Sink>(
    members: &[Member],
    known: &BTreeMap<String, String>,
    sign: Option<&SigningKey>,
    mut sink: S,
    mtime: u64,
    progress: &Bar,
    dest: &Path,
) -> Result<(File, String)> {
    let werr = |e| Error::io("cannot write", dest, e);
    // Each member's name and digest: known (kept from the archive it is
    // copied out of, or hashed on the way), or still pending on the sink.
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    for member in members {
        match member {
            Member::Dir(path) => {
                write_header(&mut sink, &member_name(path, true), true, MODE_EXEC, 0, mtime).map_err(werr)?;
            }
            Member::File { path, mode, blob } => {
                let name = member_name(path, false);
                write_header(&mut sink, &name, false, *mode, blob.len(), mtime).map_err(werr)?;
                let kept = kept_digest(known, path, blob);
                let hashed = sink
                    .data(blob, kept.is_none(), progress)
                    .map_err(|e| blob_error(blob, path, e))?;
                sink.write_all(&ZEROS[..pad_len(blob.len())]).map_err(werr)?;
                names.push((name, kept.cloned().or(hashed)));
            }
        }
    }
    sink.end_of_data().map_err(werr)?;
    let mut manifest = String::new();
    for (name, digest) in &names {
        let digest = match digest {
            Some(d) => d.clone(),
            None => sink.next_digest().with_path("cannot read back", dest)?,
        };
        push_manifest_line(&mut manifest, &digest, name);
    }
    for (name, data) in trailer(manifest.into_bytes(), sign) {
        let len = data.len() as u64;
        write_header(&mut sink, &member_name(name, false), false, MODE_FILE, len, mtime).map_err(werr)?;
        sink.write_all(&data).map_err(werr)?;
        sink.write_all(&ZEROS[..pad_len(len)]).map_err(werr)?;
    }
    sink.write_all(&ZEROS[..2 * BLOCK_LEN]).map_err(werr)?;
    sink.flush().map_err(werr)?;
    sink.finish(dest)
}

/// The layer below the tar stream: where its bytes go (compressed or not)
/// and how the member digests (for the manifest) and the whole-file digest
/// (for the sidecar) are computed.
trait Sink: Write {
    /// Writes the data of one member. With `hash`, its sha256 is either
    /// returned (hashed on the way) or left pending, to be had in member
    /// order from [`Sink::next_digest`] after [`Sink::end_of_data`].
    fn data(&mut self, blob: &Blob, hash: bool, progress: &Bar) -> io::Result<Option<String>>;
    /// All member data is written; the manifest follows.
    fn end_of_data(&mut self) -> io::Result<()>;
    /// The next pending member digest.
    fn next_digest(&mut self) -> io::Result<String>;
    /// Ends the stream (everything is written and flushed): the file and
    /// the sha256 of all of it.
    fn finish(self, dest: &Path) -> Result<(File, String)>;
}

/// The plain tar sink, built for speed on large members: headers are
/// written from memory, member data is copied by the kernel
/// (`copy_file_range`) where it can be, and what was written is read back
/// from the page cache once, following the copy, by a thread that hashes
/// the whole file (for the sidecar) and hands each piece of member data to
/// a second thread that hashes each member (for the manifest): two sha256
/// passes on two cores from one read. Hashing what was written, rather
/// than the input, means a file changing under us can never produce
/// checksums that disagree with the image.
struct PlainSink {
    out: Output,
    digests: mpsc::Receiver<io::Result<String>>,
    member_hasher: Option<thread::JoinHandle<()>>,
    whole: thread::JoinHandle<io::Result<String>>,
    early_sync: Option<thread::JoinHandle<io::Result<()>>>,
    /// Tells the hashing threads to stop if the write is abandoned.
    _stop: StopOnDrop,
}

/// Sets its flag when dropped: the hashing threads of an abandoned write
/// stop instead of reading on.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl PlainSink {
    fn new(file: File) -> io::Result<PlainSink> {
        let stop = Arc::new(AtomicBool::new(false));
        let for_whole = file.try_clone()?;
        let (written_tx, written_rx) = mpsc::channel::<Told>();
        // Bounded: the read-back thread waits rather than let pieces pile
        // up in memory when the member hasher lags.
        let (member_tx, member_rx) = mpsc::sync_channel::<ForMember>(4);
        let (recycle_tx, recycle_rx) = mpsc::sync_channel::<Vec<u8>>(8);
        let whole = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || read_back(&for_whole, &written_rx, &member_tx, &recycle_rx, &stop))
        };
        let (digest_tx, digests) = mpsc::channel::<io::Result<String>>();
        let member_hasher = thread::spawn(move || hash_members(&member_rx, &digest_tx, &recycle_tx));
        Ok(PlainSink {
            out: Output::new(file, written_tx),
            digests,
            member_hasher: Some(member_hasher),
            whole,
            early_sync: None,
            _stop: StopOnDrop(stop),
        })
    }
}

impl Sink for PlainSink {
    fn data(&mut self, blob: &Blob, hash: bool, progress: &Bar) -> io::Result<Option<String>> {
        // The header goes out first, so that only the member's data is
        // handed to the member hasher, piece by piece as it is written:
        // it hashes the data while the rest is still being copied.
        self.out.flush()?;
        self.out.hash_member = hash;
        let written = self.out.blob(blob, progress).and_then(|()| self.out.flush());
        self.out.hash_member = false;
        written?;
        if hash {
            self.out.tell(Told::MemberEnd);
        }
        Ok(None)
    }

    fn end_of_data(&mut self) -> io::Result<()> {
        self.out.flush()?;
        // The member data is all written; the hashers are still reading it
        // back. Flush it to disk meanwhile, so that the final fsync (after
        // the manifest) has only the tail left to write.
        let f = self.out.file.try_clone()?;
        self.early_sync = Some(thread::spawn(move || f.sync_data()));
        Ok(())
    }

    fn next_digest(&mut self) -> io::Result<String> {
        self.digests
            .recv()
            .unwrap_or_else(|_| Err(io::Error::other("the member hashing thread stopped")))
    }

    fn finish(mut self, dest: &Path) -> Result<(File, String)> {
        if let Some(sync) = self.early_sync.take() {
            sync.join()
                .map_err(|_| Error::Refused("the sync thread failed".into()))?
                .with_path("cannot sync", dest)?;
        }
        // Closing the channel ends the read-back thread, and with it the
        // member hasher.
        let (file, written) = self.out.into_parts();
        drop(written);
        let digest = self
            .whole
            .join()
            .map_err(|_| Error::Refused("the hashing thread failed".into()))?
            .with_path("cannot read back", dest)?;
        if let Some(h) = self.member_hasher.take() {
            h.join()
                .map_err(|_| Error::Refused("the member hashing thread failed".into()))?;
        }
        Ok((file, digest))
    }
}

impl Write for PlainSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.out.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The gzip sink: member data is read, hashed and compressed in this
/// thread; the compressed stream is hashed on a second one.
struct GzipSink {
    gz: flate2::write::GzEncoder<HashingFile>,
    buf: Vec<u8>,
}

impl GzipSink {
    fn new(file: File) -> GzipSink {
        GzipSink {
            gz: flate2::GzBuilder::new().write(HashingFile::new(file), flate2::Compression::default()),
            buf: vec![0; CHUNK],
        }
    }
}

impl Sink for GzipSink {
    fn data(&mut self, blob: &Blob, hash: bool, progress: &Bar) -> io::Result<Option<String>> {
        let mut hasher = hash.then(Sha256::new);
        let mut reader = blob.open().map_err(|e| io::Error::other(e.to_string()))?;
        let mut left = blob.len();
        while left > 0 {
            crate::interrupt::check()?;
            let want = self.buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = reader.read(&mut self.buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the input ended early (it changed while being read)",
                ));
            }
            if let Some(h) = hasher.as_mut() {
                h.update(&self.buf[..n]);
            }
            self.gz.write_all(&self.buf[..n])?;
            left -= n as u64;
            progress.inc(n as u64);
        }
        Ok(hasher.map(|h| hex(&h.finalize())))
    }

    fn end_of_data(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn next_digest(&mut self) -> io::Result<String> {
        Err(io::Error::other(
            "no member digest is pending (gzip members are hashed as written)",
        ))
    }

    fn finish(self, dest: &Path) -> Result<(File, String)> {
        let hashing = self.gz.finish().with_path("cannot write", dest)?;
        hashing.finish().with_path("cannot write", dest)
    }
}

impl Write for GzipSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.gz.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.gz.flush()
    }
}

/// The members that follow the member data, in archive order: the
/// manifest, then, when signing, the signer's public key and the signature
/// of the manifest's bytes.
fn trailer(manifest: Vec<u8>, sign: Option<&SigningKey>) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::with_capacity(TRAILER.len());
    if let Some(key) = sign {
        let signature = key.sign(&manifest);
        out.push((MANIFEST, manifest));
        out.push((SIGNER, key.public().to_pem().into_bytes()));
        out.push((SIGNATURE, signature));
    } else {
        out.push((MANIFEST, manifest));
    }
    debug_assert!(out.iter().map(|(n, _)| *n).eq(TRAILER.iter().copied().take(out.len())));
    out
}

/// Digests of the members of the archive an image was read from, from its
/// embedded manifest. A member copied byte for byte out of that archive
/// keeps its recorded digest instead of being hashed again: this saves a
/// full pass over large members on `update`, and a member that was
/// corrupted on disk keeps the digest of its original content, so `verify`
/// still catches it instead of the update blessing the damage.
fn known_digests(image: &Image) -> BTreeMap<String, String> {
    image
        .manifest
        .as_ref()
        .and_then(|m| m.read_text(MANIFEST).ok())
        .map(|text| Manifest::parse(&text).digests)
        .unwrap_or_default()
}

/// The recorded digest of `path` if its data is copied unchanged out of the
/// archive the image was read from.
fn kept_digest<'a>(known: &'a BTreeMap<String, String>, path: &str, blob: &Blob) -> Option<&'a String> {
    known.get(path).filter(|_| matches!(blob, Blob::Archive { .. }))
}

/// Sequential output to a file, with small writes buffered and large
/// member data copied in the kernel. Reports each flushed position so the
/// whole-file hasher can follow.
struct Output {
    file: File,
    pos: u64,
    buf: Vec<u8>,
    written: mpsc::Sender<Told>,
    /// Whether what is written now is data of a member to hash.
    hash_member: bool,
    kernel_copy: bool,
}

/// What the writer tells the read-back thread.
enum Told {
    /// The file now ends at this offset; the bytes since the previous
    /// message are data of the member being hashed (`true`) or not.
    Upto(u64, bool),
    /// The member being hashed is complete.
    MemberEnd,
}

/// What the read-back thread hands the member hasher.
enum ForMember {
    /// The first `n` bytes of the buffer are the member's next data.
    Data(Vec<u8>, usize),
    /// The member is complete: send its digest.
    End,
    /// Reading back failed: no more digests.
    Failed(String),
}

impl Output {
    fn new(file: File, written: mpsc::Sender<Told>) -> Output {
        Output {
            file,
            pos: 0,
            buf: Vec::with_capacity(CHUNK),
            written,
            hash_member: false,
            kernel_copy: true,
        }
    }

    fn advanced(&mut self, n: u64) {
        self.pos += n;
        self.tell(Told::Upto(self.pos, self.hash_member));
    }

    fn tell(&self, what: Told) {
        let _ = self.written.send(what);
    }

    /// Writes a member's data.
    fn blob(&mut self, blob: &Blob, progress: &Bar) -> io::Result<()> {
        let opened;
        let (src, offset, len): (&File, u64, u64) = match blob {
            Blob::Bytes(b) => return self.write_all(b),
            Blob::File { path, len } => {
                opened = File::open(path)?;
                if opened.metadata()?.len() != *len {
                    return Err(io::Error::other(
                        "the file changed size while the image was being written",
                    ));
                }
                (&opened, 0, *len)
            }
            Blob::Archive { archive, offset, len } => (&archive.file, *offset, *len),
        };
        self.flush()?;
        let mut off = offset;
        let end = offset + len;
        let mut buf = Vec::new();
        while off < end {
            crate::interrupt::check()?;
            let want = usize::try_from((end - off).min(COPY_STEP)).unwrap_or(usize::MAX);
            let n = if self.kernel_copy {
                let mut src_off = off;
                match rustix::fs::copy_file_range(src, Some(&mut src_off), &self.file, None, want) {
                    Ok(n) => n,
                    // Not supported between these files: copy through memory.
                    Err(
                        rustix::io::Errno::XDEV
                        | rustix::io::Errno::NOSYS
                        | rustix::io::Errno::INVAL
                        | rustix::io::Errno::OPNOTSUPP,
                    ) => {
                        self.kernel_copy = false;
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                buf.resize(want.min(CHUNK), 0);
                let n = src.read_at(&mut buf, off)?;
                self.file.write_all(&buf[..n])?;
                n
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the input ended early (it changed while being read)",
                ));
            }
            off += n as u64;
            self.advanced(n as u64);
            progress.inc(n as u64);
        }
        Ok(())
    }

    fn into_parts(self) -> (File, mpsc::Sender<Told>) {
        (self.file, self.written)
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > CHUNK {
            self.flush()?;
        }
        if data.len() > CHUNK {
            self.file.write_all(data)?;
            self.advanced(data.len() as u64);
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.write_all(&self.buf)?;
            let n = self.buf.len() as u64;
            self.buf.clear();
            self.advanced(n);
        }
        Ok(())
    }
}

/// Bytes copied per `copy_file_range` call: large enough to amortise the
/// call, small enough that the hashers follow closely (page cache reuse).
const COPY_STEP: u64 = 8 << 20;

/// The read-back thread: reads `file` from offset 0 as it grows (each
/// [`Told::Upto`] is its new end; the channel closing means it is
/// complete), hashes all of it, and hands the pieces that are member data
/// to the member hasher. Returns the whole file's digest.
fn read_back(
    file: &File,
    written: &mpsc::Receiver<Told>,
    member: &mpsc::SyncSender<ForMember>,
    recycle: &mpsc::Receiver<Vec<u8>>,
    stop: &AtomicBool,
) -> io::Result<String> {
    let mut h = Sha256::new();
    let mut done = 0u64;
    // A buffer kept for the next read: one that did not go to the member
    // hasher, or one it gave back (allocating a fresh one per piece would
    // fault in fresh pages for every megabyte).
    let mut spare: Option<Vec<u8>> = None;
    let result = (|| -> io::Result<String> {
        for message in written {
            match message {
                Told::Upto(end, is_member) => {
                    while done < end {
                        check_stop(stop)?;
                        let want = usize::try_from((end - done).min(CHUNK as u64)).unwrap_or(CHUNK);
                        let mut buf = spare
                            .take()
                            .or_else(|| recycle.try_recv().ok())
                            .unwrap_or_else(|| vec![0u8; CHUNK]);
                        file.read_exact_at(&mut buf[..want], done)?;
                        h.update(&buf[..want]);
                        done += want as u64;
                        if is_member {
                            let _ = member.send(ForMember::Data(buf, want));
                        } else {
                            spare = Some(buf);
                        }
                    }
                }
                Told::MemberEnd => {
                    let _ = member.send(ForMember::End);
                }
            }
        }
        Ok(hex(&h.finalize()))
    })();
    if let Err(e) = &result {
        let _ = member.send(ForMember::Failed(e.to_string()));
    }
    result
}

/// The member hasher: hashes each member's pieces and sends its digest at
/// [`ForMember::End`]; returns the buffers for reuse.
fn hash_members(
    pieces: &mpsc::Receiver<ForMember>,
    digests: &mpsc::Sender<io::Result<String>>,
    recycle: &mpsc::SyncSender<Vec<u8>>,
) {
    let mut h = Sha256::new();
    for piece in pieces {
        match piece {
            ForMember::Data(buf, n) => {
                h.update(&buf[..n]);
                let _ = recycle.try_send(buf);
            }
            ForMember::End => {
                let digest = std::mem::take(&mut h).finalize();
                if digests.send(Ok(hex(&digest))).is_err() {
                    break;
                }
            }
            ForMember::Failed(message) => {
                let _ = digests.send(Err(io::Error::other(message)));
                break;
            }
        }
    }
}

/// Stops a hashing thread on Ctrl-C, or when its write was abandoned.
fn check_stop(stop: &AtomicBool) -> io::Result<()> {
    if stop.load(Ordering::Relaxed) {
        return Err(io::Error::other("the write was abandoned"));
    }
    crate::interrupt::check()
}

fn blob_error(blob: &Blob, member: &str, e: io::Error) -> Error {
    match blob {
        Blob::File { path, .. } => Error::io("cannot copy", path, e),
        Blob::Archive { archive, .. } => Error::io("cannot copy member out of", &archive.path, e),
        Blob::Bytes(_) => Error::io("cannot write member", member, e),
    }
}

/// A buffered file writer that hashes everything it writes on a second
/// thread, so hashing the whole file overlaps with producing it.
struct HashingFile {
    file: Option<File>,
    buf: Vec<u8>,
    tx: Option<mpsc::SyncSender<Vec<u8>>>,
    recycle: mpsc::Receiver<Vec<u8>>,
    hasher: Option<thread::JoinHandle<[u8; 32]>>,
}

impl HashingFile {
    fn new(file: File) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(4);
        let (back_tx, recycle) = mpsc::sync_channel::<Vec<u8>>(8);
        let hasher = thread::spawn(move || {
            let mut h = Sha256::new();
            for chunk in rx {
                h.update(&chunk);
                let _ = back_tx.try_send(chunk);
            }
            h.finalize().into()
        });
        HashingFile {
            file: Some(file),
            buf: Vec::with_capacity(CHUNK),
            tx: Some(tx),
            recycle,
            hasher: Some(hasher),
        }
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file
            .as_mut()
            .expect("file present until finish")
            .write_all(&self.buf)?;
        let mut next = self.recycle.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        next.clear();
        let full = std::mem::replace(&mut self.buf, next);
        self.tx
            .as_ref()
            .expect("sender present until finish")
            .send(full)
            .map_err(|_| io::Error::other("the hashing thread stopped"))
    }

    fn finish(mut self) -> io::Result<(File, String)> {
        self.flush_buf()?;
        drop(self.tx.take());
        let digest = self
            .hasher
            .take()
            .expect("hasher present until finish")
            .join()
            .map_err(|_| io::Error::other("the hashing thread failed"))?;
        Ok((self.file.take().expect("file present until finish"), hex(&digest)))
    }
}

impl Write for HashingFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > CHUNK {
            self.flush_buf()?;
        }
        if data.len() >= CHUNK {
            // Large writes go straight through, one chunk at a time.
            for piece in data.chunks(CHUNK) {
                self.buf.extend_from_slice(piece);
                self.flush_buf()?;
            }
        } else {
            self.buf.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buf()
    }
}

/// The error of a temporary file that could not be made in `dir`, in the
/// user's words: the directory, never the temporary file's name (tempfile
/// adds it to its errors).
fn temp_file_error(dir: &Path, e: &std::io::Error) -> Error {
    let kind = e.kind();
    if kind == std::io::ErrorKind::NotFound && !dir.exists() {
        return Error::io(
            "cannot write into",
            dir,
            std::io::Error::new(kind, "the directory does not exist - create it first"),
        );
    }
    let cause = e
        .get_ref()
        .and_then(|inner| inner.source())
        .map_or_else(|| e.to_string(), ToString::to_string);
    Error::io(
        "cannot create a temporary file in",
        dir,
        std::io::Error::new(kind, cause),
    )
}

/// Writes a file atomically: `produce` fills a temporary file in the same
/// directory and returns it; it is then fsynced and renamed over `dest`.
/// On any error the temporary file is removed and `dest` is untouched.
pub fn atomic_write<T>(dest: &Path, produce: impl FnOnce(File) -> Result<(File, T)>) -> Result<T> {
    atomic_write_locked(dest, None, produce).map(|(value, _lock)| value)
}

/// [`atomic_write`] with a given mode (default: keep the mode of the file
/// replaced, else 0644). The new file is locked (`flock`) before it
/// appears under `dest`, and the lock is held by the returned handle: an
/// updater that opens the new file waits until the caller is done with
/// what belongs to it (the sidecar).
pub fn atomic_write_locked<T>(
    dest: &Path,
    mode: Option<u32>,
    produce: impl FnOnce(File) -> Result<(File, T)>,
) -> Result<(T, File)> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(dest))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| temp_file_error(dir, &e))?;
    let (file, tmp_path) = tmp.into_parts();
    let (file, value) = produce(file)?;
    // Temporary files are created 0600: a replaced file keeps its mode, a
    // new one gets the usual 0644. Set on the handle, before the rename, so
    // nothing swapped in at `dest` meanwhile can be affected.
    let mode = mode.unwrap_or_else(|| {
        fs::metadata(dest).map_or(MODE_FILE, |m| {
            std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777
        })
    });
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .with_path("cannot set the mode of", dest)?;
    file.sync_all().with_path("cannot sync", dest)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io("cannot lock", dest, e.into()))?;
    tmp_path
        .persist(dest)
        .map_err(|e| Error::io("cannot rename into place", dest, e.error))?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((value, file))
}

/// `.NAME.` for temporary files, with NAME cut so that the temporary name
/// (prefix, 6 random characters, `.tmp`) still fits in 255 bytes.
fn temp_prefix(dest: &Path) -> String {
    let name = dest
        .file_name()
        .map_or_else(|| "xenguest".into(), |n| n.to_string_lossy().into_owned());
    let mut cut = name.len().min(200);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.", &name[..cut])
}

/// Writes `image` into the directory `root`, which holds `previous` (the
/// relative paths of its files before the operation; they are removed if
/// the image no longer has them). Unchanged files are left alone.
///
/// The directory's `manifest.sha256` is kept up to date: a file written
/// gets the digest of what was written, a file left alone keeps the digest
/// recorded before (so a file changed behind the tool's back still fails
/// `check`), a file removed loses its line. A directory without a manifest
/// gets one only when it is new (`previous` empty, as for `create`).
pub fn write_dir(image: &Image, root: &Path, previous: &[String]) -> Result<()> {
    let members = image.members();
    let known = known_digests(image);
    let with_manifest = image.manifest.is_some() || previous.is_empty();
    let mut manifest = String::new();
    let mut keep = std::collections::BTreeSet::new();
    for member in &members {
        match member {
            Member::Dir(path) => ensure_dir(root, path)?,
            Member::File { path, mode, blob } => {
                keep.insert(path.clone());
                let dest = root.join(path);
                let digest = if matches!(blob, Blob::File { path: src, .. } if *src == dest) {
                    known.get(path).cloned()
                } else {
                    Some(write_file_member_hashed(&dest, *mode, blob, path)?)
                };
                if let Some(digest) = digest {
                    push_manifest_line(&mut manifest, &digest, &member_name(path, false));
                }
            }
        }
    }
    for old in previous {
        if !keep.contains(old) && old != MANIFEST {
            let p = root.join(old);
            fs::remove_file(&p).with_path("cannot remove", &p)?;
        }
    }
    if with_manifest {
        write_file_member(&root.join(MANIFEST), MODE_FILE, &Blob::bytes(manifest), MANIFEST)?;
    }
    // A directory is never signed (its manifest changes with every write):
    // the signature of the image it was extracted from goes.
    remove_signature_files(root)
}

/// Removes the signature members of a directory image, if any (regular
/// files only: anything else there is a problem `check` names).
pub fn remove_signature_files(root: &Path) -> Result<()> {
    for name in [SIGNATURE, SIGNER] {
        let p = root.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => fs::remove_file(&p).with_path("cannot remove", &p)?,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot read", &p, e)),
        }
    }
    Ok(())
}

/// Creates the directory `rel` under `root`, refusing to go through
/// symbolic links that might point outside.
pub fn ensure_dir(root: &Path, rel: &str) -> Result<()> {
    let mut cur = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        cur.push(part);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Refused(format!(
                    "`{}` exists and is not a directory - refusing to write through it",
                    cur.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&cur).with_path("cannot create directory", &cur)?;
            }
            Err(e) => return Err(Error::io("cannot read", &cur, e)),
        }
    }
    Ok(())
}

/// Writes one member file (atomically) with `mode`.
pub fn write_file_member(dest: &Path, mode: u32, blob: &Blob, what: &str) -> Result<()> {
    write_file_member_with(dest, mode, blob, what, &Bar::hidden())
}

/// [`write_file_member`], returning the sha256 of what was written.
fn write_file_member_hashed(dest: &Path, mode: u32, blob: &Blob, what: &str) -> Result<String> {
    atomic_write_locked(dest, Some(mode), |mut file| {
        let mut reader = HashingReader::new(blob.open()?);
        io::copy(&mut reader, &mut file).map_err(|e| blob_error(blob, what, e))?;
        Ok((file, reader.finish()))
    })
    .map(|(digest, _lock)| digest)
}

/// [`write_file_member`], advancing `bar` as data is copied.
pub fn write_file_member_with(dest: &Path, mode: u32, blob: &Blob, what: &str, bar: &Bar) -> Result<()> {
    atomic_write_locked(dest, Some(mode), |mut file| {
        io::copy(&mut bar.reader(blob.open()?), &mut file).map_err(|e| blob_error(blob, what, e))?;
        Ok((file, ()))
    })
    .map(|((), _lock)| ())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::image::Stage;

    /// The guest directory the host manager installs holds every script
    /// stage, executable: `health.d/` as much as `init.d/`.
    #[test]
    fn write_dir_makes_every_script_executable() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = Image::new_default();
        for stage in Stage::SCRIPTS {
            image
                .init_mut(stage)
                .insert("10-run.sh".into(), Blob::bytes(b"#!/bin/sh\ntrue\n".to_vec()));
        }
        write_dir(&image, dir.path(), &[]).unwrap();
        for stage in Stage::SCRIPTS {
            let path = dir.path().join(stage.dir()).join("10-run.sh");
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, MODE_EXEC, "{}", path.display());
        }
        let manifest = fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(manifest.contains("  ./health.d/10-run.sh\n"), "{manifest}");
        let read = Image::from_members(image.members().into_iter().filter_map(|m| match m {
            Member::File { path, blob, .. } => Some((path, blob)),
            Member::Dir(_) => None,
        }))
        .unwrap();
        assert!(read.init(Stage::Health).contains_key("10-run.sh"));
        assert!(read.others.is_empty());
    }
}
