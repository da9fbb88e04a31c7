//! The tar layer: an index reader that seeks over member data, and a
//! deterministic header writer.
//!
//! Reading never touches member data: each header is read, its data range
//! recorded, and the next header found by arithmetic, so indexing a 4 GiB
//! image costs a few reads. Each header is read as GNU tar reads it, and an
//! archive that GNU tar, bsdtar, busybox tar or Python's tarfile could read
//! differently (other members, names, types or data) is refused, naming
//! the member and the reason: `check` passes only what every reader sees
//! alike. Writing produces POSIX ustar headers (with a pax
//! extended header only for names over 100 bytes or sizes over 8 GiB), as
//! GNU tar, bsdtar, busybox and Python's tarfile all read.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Size of a tar block.
pub const BLOCK: u64 = 512;
/// [`BLOCK`] as a buffer length.
pub const BLOCK_LEN: usize = 512;

/// Largest pax or GNU long-name payload we accept when reading.
const MAX_EXTENSION: u64 = 1024 * 1024;

/// Kind of an indexed member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Anything else, with its type flag (links, devices, FIFOs…).
    Other(u8),
}

/// One member of an archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Name as stored (after pax/GNU long-name resolution).
    pub name: Vec<u8>,
    /// Kind.
    pub kind: Kind,
    /// Offset of the first data byte.
    pub data_offset: u64,
    /// Data size.
    pub size: u64,
    /// Mode bits from the header.
    pub mode: u32,
    /// Modification time from the header.
    pub mtime: u64,
    /// Owner id.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
    /// Owner and group names (`user:group`).
    pub owner: String,
}

/// Rounds up to the next block boundary.
pub fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

/// Reads the index of the tar archive `file` (named `path` in messages).
///
/// The index decides for every header what GNU tar decides (which members
/// exist, their names, types and data), and refuses every archive that
/// GNU tar, bsdtar, busybox tar and Python's tarfile could read differently,
/// naming the member and the reason. See README.md, "Security".
pub fn index(file: &File, path: &Path) -> Result<Vec<Entry>> {
    let len = file.metadata().map_err(|e| Error::io("cannot read", path, e))?.len();
    let bad = |reason: String| Error::archive(path, reason);
    let mut entries = Vec::new();
    let mut pos = 0u64;
    // Extension headers read that no member has used yet.
    let mut ext = Extensions::default();
    let mut block = [0u8; BLOCK_LEN];
    loop {
        if pos == len {
            // No end-of-archive blocks: every reader stops here too.
            break;
        }
        if pos + BLOCK > len {
            return Err(bad(format!("truncated: a partial header at byte {pos}")));
        }
        file.read_exact_at(&mut block, pos)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if block.iter().all(|b| *b == 0) {
            // GNU tar, bsdtar and Python stop at the first zero block;
            // busybox skips one and reads on, as `tar -i` does. Anything
            // after it would be seen by some readers only.
            if let Some(at) = first_nonzero(file, pos + BLOCK, len).map_err(|e| Error::io("cannot read", path, e))? {
                return Err(bad(format!(
                    "data at byte {at} after the end-of-archive zero block at byte {pos}: GNU tar stops at that block, busybox tar and `tar -i` read on"
                )));
            }
            break;
        }
        let raw = RawHeader::parse(&block, pos).map_err(bad)?;
        let size = match ext.size.take() {
            Some(s) => {
                if raw.size != s {
                    return Err(bad(format!(
                        "member `{}`: its pax `size` record ({s}) differs from its header's size field ({}), which busybox tar reads",
                        shown(ext.name.as_deref().unwrap_or(&raw.name)),
                        raw.size
                    )));
                }
                s
            }
            None => raw.size,
        };
        let data_offset = pos + BLOCK;
        let end = padded_checked(size)
            .and_then(|p| data_offset.checked_add(p))
            .ok_or_else(|| bad(format!("absurd member size {size} at byte {pos}")))?;
        if size > len - data_offset {
            let name = ext.name.clone().unwrap_or_else(|| raw.name.clone());
            return Err(bad(format!(
                "truncated: member `{}` needs {size} bytes but the file ends first",
                shown(&name)
            )));
        }
        if let Some(kind) = ExtKind::of(raw.typeflag) {
            if !raw.ustar {
                return Err(bad(format!(
                    "extension header at byte {pos} has no ustar magic: GNU tar applies it, the `tar` crate reads a member"
                )));
            }
            if size > MAX_EXTENSION {
                return Err(bad(format!(
                    "extension header at byte {pos} is too large ({size} bytes)"
                )));
            }
            let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
            file.read_exact_at(&mut data, data_offset)
                .map_err(|e| Error::io("cannot read", path, e))?;
            ext.add(kind, &data, pos).map_err(bad)?;
            pos = end;
            continue;
        }
        let name = match ext.name.take() {
            Some(name) => name,
            None => raw.name.clone(),
        };
        ext = Extensions::default();
        let member = || shown(&name);
        let slash = name.last() == Some(&b'/');
        let kind = match raw.typeflag {
            // Old (v7) tar marks a directory by a trailing slash alone, as
            // GNU tar, bsdtar and Python's tarfile read it (busybox tar
            // refuses v7 headers outright). In ustar headers busybox reads
            // a file, and Python's tarfile reads `0` and `7` as files.
            0 if slash && !raw.ustar => Kind::Dir,
            0 if slash => {
                return Err(bad(format!(
                    "member `{}` has type NUL and a name ending in `/` in a ustar header: GNU tar reads a directory, busybox tar a file",
                    member()
                )))
            }
            b'0' | b'7' if slash => {
                return Err(bad(format!(
                    "member `{}` has type `{}` and a name ending in `/`: GNU tar reads a directory, Python's tarfile a file",
                    member(),
                    char::from(raw.typeflag)
                )))
            }
            b'0' | 0 | b'7' => Kind::File,
            b'5' => Kind::Dir,
            b'1' | b'2' | b'3' | b'4' | b'6' => Kind::Other(raw.typeflag),
            b'S' => {
                return Err(bad(format!(
                    "member `{}` is a GNU sparse file (type `S`): sparse members are refused, readers disagree on their data",
                    member()
                )))
            }
            other => {
                return Err(bad(format!(
                    "member `{}` has type `{}` ({}): readers disagree on what it holds",
                    member(),
                    other.escape_ascii(),
                    type_name(other)
                )))
            }
        };
        // GNU tar skips the data of every type but `5`; bsdtar, busybox
        // and Python skip none for directories and links: a member that
        // is not a regular file must say it has no data.
        if kind != Kind::File && size != 0 {
            return Err(bad(format!(
                "member `{}` is a {} whose header gives it {size} bytes of data: readers disagree on whether they follow",
                member(),
                match kind {
                    Kind::Dir => "directory".to_owned(),
                    Kind::Other(flag) => format!("member of type `{}`", flag.escape_ascii()),
                    Kind::File => unreachable!(),
                }
            )));
        }
        entries.push(Entry {
            name,
            kind,
            data_offset,
            size,
            mode: raw.mode,
            mtime: raw.header().mtime().unwrap_or(0),
            uid: raw.header().uid().unwrap_or(0),
            gid: raw.header().gid().unwrap_or(0),
            owner: format!(
                "{}:{}",
                String::from_utf8_lossy(raw.header().username_bytes().unwrap_or_default()),
                String::from_utf8_lossy(raw.header().groupname_bytes().unwrap_or_default())
            ),
        });
        pos = end;
    }
    if ext.pending {
        return Err(bad("truncated: an extension header is not followed by a member".into()));
    }
    Ok(entries)
}

fn padded_checked(size: u64) -> Option<u64> {
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

/// The fields of one header block that decide how readers see it.
struct RawHeader {
    block: [u8; BLOCK_LEN],
    /// The name: the `name` field, after the ustar `prefix` if any.
    name: Vec<u8>,
    typeflag: u8,
    size: u64,
    mode: u32,
    /// Whether the magic is POSIX ustar or old GNU (else v7: all NULs).
    ustar: bool,
}

impl RawHeader {
    /// Parses and checks the header at byte `pos`; the error is the reason.
    fn parse(block: &[u8; BLOCK_LEN], pos: u64) -> std::result::Result<RawHeader, String> {
        let stored =
            numeric(&block[148..156]).ok_or_else(|| format!("not a tar archive (bad header at byte {pos})"))?;
        let (unsigned, signed) = checksums(block);
        if stored != unsigned {
            return Err(if i64::try_from(stored).ok() == Some(signed) {
                format!("the header at byte {pos} has a checksum over signed bytes, which busybox tar rejects")
            } else {
                format!("not a tar archive or corrupted: header checksum mismatch at byte {pos}")
            });
        }
        let typeflag = block[156];
        let mut name = nts(&block[..100]).to_vec();
        let prefix = &block[345..500];
        let magic = &block[257..265];
        // Every writer writes one of these three; readers classify any
        // other magic differently (busybox refuses it, GNU tar reads v7).
        let ustar = if magic == b"ustar\x0000" || magic == b"ustar  \0" {
            true
        } else if magic.iter().all(|b| *b == 0) {
            false
        } else {
            return Err(format!(
                "the header at byte {pos} has an unknown magic `{}`: readers disagree on its format",
                magic.escape_ascii()
            ));
        };
        if name.is_empty() && prefix[0] == 0 {
            // busybox tar takes a header without a name for an empty block
            // and reads its data as headers; GNU tar reads a member. (A
            // name in the ustar prefix alone is fine: cpio and Python
            // write long directory names so.)
            return Err(format!("the header at byte {pos} has an empty name field"));
        }
        if magic == b"ustar\x0000" {
            let p = nts(prefix);
            // GNU tar reads a shorter prefix followed by times in headers
            // that look like star's; others read the whole field.
            if prefix[p.len()..].iter().any(|b| *b != 0) {
                return Err(format!(
                    "the header at byte {pos} has bytes after its ustar prefix, which readers split differently"
                ));
            }
            if !p.is_empty() {
                let mut full = p.to_vec();
                full.push(b'/');
                full.extend_from_slice(&name);
                name = full;
            }
        } else if typeflag != b'S' && prefix.iter().any(|b| *b != 0) {
            // Old GNU headers keep times there and GNU tar ignores them;
            // Python's tarfile prepends them to the name as a prefix.
            return Err(format!(
                "member `{}` (header at byte {pos}) is not ustar but has bytes in the ustar prefix field: Python's tarfile adds them to its name, GNU tar does not",
                shown(&name)
            ));
        }
        let size = numeric(&block[124..136]).ok_or_else(|| {
            format!(
                "member `{}` has a corrupted size field `{}`",
                shown(&name),
                block[124..136].escape_ascii()
            )
        })?;
        // GNU tar's sizes are signed 64-bit numbers.
        if i64::try_from(size).is_err() {
            return Err(format!("absurd member size {size} at byte {pos}"));
        }
        let mode = numeric(&block[100..108])
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| {
                format!(
                    "member `{}` has a malformed mode field `{}`",
                    shown(&name),
                    block[100..108].escape_ascii()
                )
            })?;
        Ok(RawHeader {
            block: *block,
            name,
            typeflag,
            size,
            mode,
            ustar,
        })
    }

    fn header(&self) -> &tar::Header {
        tar::Header::from_byte_slice(&self.block)
    }
}

/// A numeric header field as every reader reads it alike, or `None`:
/// octal digits after optional spaces and before NULs or spaces only, or
/// GNU's positive base-256 (first byte 0x80). GNU tar stops at the first
/// byte after the digits, Python's tarfile reads to the first NUL, so
/// anything else after the digits is refused.
fn numeric(field: &[u8]) -> Option<u64> {
    if field.first() == Some(&0x80) {
        return field[1..]
            .iter()
            .try_fold(0u64, |n, b| n.checked_mul(256)?.checked_add(u64::from(*b)));
    }
    let start = field.iter().position(|b| *b != b' ')?;
    let digits = field[start..].iter().take_while(|b| (b'0'..=b'7').contains(*b)).count();
    if digits == 0 || field[start + digits..].iter().any(|b| *b != 0 && *b != b' ') {
        return None;
    }
    field[start..start + digits]
        .iter()
        .try_fold(0u64, |n, b| n.checked_mul(8)?.checked_add(u64::from(b - b'0')))
}

/// The header checksum over unsigned and over signed bytes (the checksum
/// field counted as spaces).
fn checksums(block: &[u8; BLOCK_LEN]) -> (u64, i64) {
    let mut unsigned = 0u64;
    let mut signed = 0i64;
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(i8::from_ne_bytes([b]));
    }
    (unsigned, signed)
}

/// A field up to its first NUL.
fn nts(field: &[u8]) -> &[u8] {
    &field[..field.iter().position(|b| *b == 0).unwrap_or(field.len())]
}

/// A member name for messages.
fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// What GNU tar calls the type flags it knows and we refuse.
fn type_name(flag: u8) -> &'static str {
    match flag {
        b'D' => "GNU dumpdir",
        b'M' => "GNU multi-volume continuation",
        b'V' => "GNU volume label",
        b'N' => "old GNU long-name list",
        b'A'..=b'Z' => "a vendor extension",
        _ => "an unknown type",
    }
}

/// The offset of the first non-zero byte in `from..len`, if any.
fn first_nonzero(file: &File, from: u64, len: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < len {
        let n = usize::try_from((len - at).min(buf.len() as u64)).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        if let Some(i) = buf[..n].iter().position(|b| *b != 0) {
            return Ok(Some(at + i as u64));
        }
        at += n as u64;
    }
    Ok(None)
}

/// The extension header types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExtKind {
    /// `x`: pax extended header for the next member.
    Pax,
    /// `g`: pax global header.
    Global,
    /// `L`: GNU long name of the next member.
    LongName,
    /// `K`: GNU long link target of the next member.
    LongLink,
}

impl ExtKind {
    fn of(typeflag: u8) -> Option<ExtKind> {
        match typeflag {
            b'x' => Some(ExtKind::Pax),
            b'g' => Some(ExtKind::Global),
            b'L' => Some(ExtKind::LongName),
            b'K' => Some(ExtKind::LongLink),
            _ => None,
        }
    }
}

/// What the extension headers before a member say about it.
#[derive(Default)]
struct Extensions {
    /// Name from a pax `path` record or a GNU long name.
    name: Option<Vec<u8>>,
    /// Size from a pax `size` record.
    size: Option<u64>,
    /// Whether any extension header is waiting for its member.
    pending: bool,
    /// The kinds seen since the last member.
    seen: Vec<ExtKind>,
}

impl Extensions {
    /// Takes in the extension header at byte `pos` with payload `data`.
    fn add(&mut self, kind: ExtKind, data: &[u8], pos: u64) -> std::result::Result<(), String> {
        // Python's tarfile drops the records of an `x` followed by another
        // `x`, and lets a GNU long name win over a pax path where GNU tar
        // does the opposite: one of each kind, and never both names.
        if self.seen.contains(&kind) || (kind == ExtKind::Global && self.pending) {
            return Err(format!(
                "extension header at byte {pos} follows another one for the same member: readers combine them differently"
            ));
        }
        match kind {
            ExtKind::Global => {
                // A global header applies to every later member in GNU
                // tar: a global `path` or `size` would make it see other
                // members than we check.
                let records = pax_records(data).map_err(|e| format!("malformed pax header at byte {pos}: {e}"))?;
                if let Some((key, _)) = records
                    .iter()
                    .find(|(k, _)| matches!(*k, b"path" | b"size" | b"linkpath") || k.starts_with(b"GNU.sparse."))
                {
                    return Err(format!(
                        "global pax header at byte {pos} sets `{}` for every member",
                        String::from_utf8_lossy(key)
                    ));
                }
                for (key, value) in records {
                    check_pax_value(key, value, pos)?;
                }
                return Ok(());
            }
            ExtKind::Pax => {
                for (key, value) in pax_records(data).map_err(|e| format!("malformed pax header at byte {pos}: {e}"))? {
                    match key {
                        b"path" => {
                            if value.is_empty() {
                                return Err(format!("pax header at byte {pos} has an empty `path`"));
                            }
                            if self.name.is_some() {
                                return Err(format!(
                                    "pax header at byte {pos} and a GNU long name name the same member: GNU tar and Python's tarfile pick different ones"
                                ));
                            }
                            self.name = Some(value.to_vec());
                        }
                        b"size" => {
                            let size = (!value.is_empty() && value.iter().all(u8::is_ascii_digit))
                                .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
                                .flatten()
                                .ok_or_else(|| format!("malformed pax size at byte {pos}"))?;
                            if i64::try_from(size).is_err() {
                                return Err(format!("absurd member size {size} at byte {pos}"));
                            }
                            self.size = Some(size);
                        }
                        // GNU tar reads these as a sparse map, so it would
                        // see other data than we check.
                        k if k.starts_with(b"GNU.sparse.") => {
                            return Err(format!("sparse pax header at byte {pos} is not supported"));
                        }
                        k => check_pax_value(k, value, pos)?,
                    }
                }
            }
            ExtKind::LongName => {
                let name = nts(data);
                if name.is_empty() {
                    return Err(format!("GNU long name at byte {pos} is empty"));
                }
                // GNU tar, busybox and Python stop at the first NUL; the
                // `tar` crate reads on to the end of the data.
                if data[name.len()..].iter().any(|b| *b != 0) {
                    return Err(format!(
                        "GNU long name at byte {pos} has bytes after a NUL, which readers read differently"
                    ));
                }
                if self.name.is_some() {
                    return Err(format!(
                        "GNU long name at byte {pos} and a pax `path` name the same member: GNU tar and Python's tarfile pick different ones"
                    ));
                }
                self.name = Some(name.to_vec());
            }
            ExtKind::LongLink => {}
        }
        self.seen.push(kind);
        self.pending = true;
        Ok(())
    }
}

/// Refuses the values GNU tar fails on ("Malformed extended header:
/// invalid uid=x") where the other readers go on.
fn check_pax_value(key: &[u8], value: &[u8], pos: u64) -> std::result::Result<(), String> {
    let digits = |v: &[u8]| !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit);
    let ok = match key {
        b"uid" | b"gid" | b"SCHILY.devmajor" | b"SCHILY.devminor" | b"SCHILY.dev" | b"SCHILY.ino" | b"SCHILY.nlink"
        | b"GNU.volume.size" | b"GNU.volume.offset" => digits(value),
        b"atime" | b"ctime" | b"mtime" => {
            let v = value.strip_prefix(b"-").unwrap_or(value);
            match v.iter().position(|b| *b == b'.') {
                Some(dot) => digits(&v[..dot]) && (dot + 1 == v.len() || digits(&v[dot + 1..])),
                None => digits(v),
            }
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "pax header at byte {pos} has an invalid `{}` value `{}`, which GNU tar refuses",
            String::from_utf8_lossy(key),
            value.escape_ascii()
        ))
    }
}

/// One pax record: key and value.
type Record<'a> = (&'a [u8], &'a [u8]);

/// Parses pax records (`LEN KEY=VALUE\n`) as strictly as the strictest
/// reader: GNU tar refuses a record without `=` before a NUL ("missing
/// equal sign"), Python's tarfile takes NULs into keys and values and
/// ignores what follows the last record it can parse. So no NULs, no
/// empty keys, and nothing after the last record.
fn pax_records(mut data: &[u8]) -> std::result::Result<Vec<Record<'_>>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 20 || data.get(digits) != Some(&b' ') {
            return Err(format!(
                "record {} does not start with a length and a space",
                out.len() + 1
            ));
        }
        let len: usize = std::str::from_utf8(&data[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("record {} has an absurd length", out.len() + 1))?;
        if len <= digits + 1 || len > data.len() {
            return Err(format!("record {} has a length of {len}, out of range", out.len() + 1));
        }
        if data[len - 1] != b'\n' {
            return Err(format!("record {} is missing its newline", out.len() + 1));
        }
        let record = &data[digits + 1..len - 1];
        if record.contains(&0) {
            return Err(format!(
                "record {} contains a NUL byte (GNU tar: missing equal sign)",
                out.len() + 1
            ));
        }
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .filter(|eq| *eq > 0)
            .ok_or_else(|| format!("record {} is missing its key or equal sign", out.len() + 1))?;
        // GNU tar skips blanks before the key, Python keeps them in it.
        if matches!(record[0], b' ' | b'\t') {
            return Err(format!("record {} has blanks before its key", out.len() + 1));
        }
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Ok(out)
}

/// Owner name written in every header.
pub const OWNER: &str = "root";

/// Writes the header(s) of one member: a pax extended header first when the
/// name is over 100 bytes or the size does not fit the octal field.
pub fn write_header(out: &mut impl Write, name: &str, dir: bool, mode: u32, size: u64, mtime: u64) -> io::Result<()> {
    const MAX_OCTAL_SIZE: u64 = 0o777_7777_7777;
    let long_name = name.len() > 100;
    let large = size > MAX_OCTAL_SIZE;
    if long_name || large {
        let mut records = Vec::new();
        if long_name {
            records.extend(pax_record("path", name));
        }
        if large {
            records.extend(pax_record("size", &size.to_string()));
        }
        let pax = header("././@PaxHeader", b'x', MODE_PAX, records.len() as u64, mtime)?;
        out.write_all(pax.as_bytes())?;
        out.write_all(&records)?;
        out.write_all(&ZEROS[..pad_len(records.len() as u64)])?;
    }
    let header = header(name, if dir { b'5' } else { b'0' }, mode, size, mtime)?;
    out.write_all(header.as_bytes())
}

const MODE_PAX: u32 = 0o644;

/// Zero bytes for padding and the end-of-archive marker.
pub const ZEROS: [u8; 1024] = [0; 1024];

/// Bytes of padding after `size` bytes of data.
pub fn pad_len(size: u64) -> usize {
    usize::try_from(padded(size) - size).unwrap_or(0)
}

fn header(name: &str, typeflag: u8, mode: u32, size: u64, mtime: u64) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    {
        let ustar = h.as_ustar_mut().expect("new_ustar makes a ustar header");
        // Longer names are carried by the pax header; the ustar field keeps
        // a truncated copy, as other writers do.
        let bytes = name.as_bytes();
        let n = bytes.len().min(ustar.name.len());
        ustar.name[..n].copy_from_slice(&bytes[..n]);
    }
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::new(typeflag));
    h.set_username(OWNER)?;
    h.set_groupname(OWNER)?;
    h.set_device_major(0)?;
    h.set_device_minor(0)?;
    h.set_cksum();
    Ok(h)
}

fn pax_record(key: &str, value: &str) -> Vec<u8> {
    // The length prefix counts itself, so find the fixed point.
    let base = key.len() + value.len() + 3; // space, '=', newline
    let mut len = base + 1;
    while len != base + len.to_string().len() {
        len = base + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        for value in ["a", &"x".repeat(90), &"y".repeat(95), &"z".repeat(994)] {
            let r = pax_record("path", value);
            let text = String::from_utf8(r.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), r.len());
            assert_eq!(pax_records(&r).unwrap(), vec![(&b"path"[..], value.as_bytes())]);
        }
    }

    #[test]
    fn numeric_fields_are_read_alike_or_refused() {
        assert_eq!(numeric(b"00000000012\0"), Some(10));
        assert_eq!(numeric(b"   12 \0\0\0\0\0\0"), Some(10));
        assert_eq!(numeric(b"000000000012"), Some(10));
        assert_eq!(numeric(b"\x80\0\0\0\0\0\0\x02\0\0\0\x01"), Some((2 << 32) + 1));
        for bad in [
            &b"0000000001 2"[..],
            b"00000000012x",
            b"\0\0\0\0\0\0\0\0\0\0\0\0",
            b"            ",
            b"00000000018\0",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x80\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert_eq!(numeric(bad), None, "{:?}", bad.escape_ascii().to_string());
        }
    }

    /// What the writer writes for a member over 8 GiB (a pax `size` and a
    /// base-256 size field) the index reads back.
    #[test]
    fn sizes_over_8_gib_read_back() {
        let size = 8 * 1024 * 1024 * 1024 + 1;
        let mut bytes = Vec::new();
        write_header(&mut bytes, "./disk/huge.img", false, 0o644, size, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.tar");
        let file = File::create(&path).unwrap();
        file.write_all_at(&bytes, 0).unwrap();
        // Sparse: the data is never written.
        file.set_len(bytes.len() as u64 + padded(size) + 1024).unwrap();
        let file = File::open(&path).unwrap();
        let entries = index(&file, &path).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].size, size);
        assert_eq!(entries[0].name, b"./disk/huge.img");
    }

    #[test]
    fn malformed_pax_is_refused() {
        for bad in [
            &b"5 a=b\n"[..],
            b"x path=a\n",
            b"100 path=a\n",
            b"9 patha\n\n",
            b"11 pa\0th=a\n",
            b"11 path=\0a\n",
            b"6 =ab\n",
            b"7 a=b\n\0\0",
            b"8 a=bc\n",
            b"7  a=b\n",
        ] {
            assert!(pax_records(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
