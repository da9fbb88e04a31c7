//! The tar layer: an index reader that seeks over member data, and a
//! deterministic header writer.
//!
//! Reading never touches member data: each header is read, its data range
//! recorded, and the next header found by arithmetic, so indexing a 4 GiB
//! image costs a few reads. Writing produces POSIX ustar headers (with a pax
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
pub fn index(file: &File, path: &Path) -> Result<Vec<Entry>> {
    let len = file.metadata().map_err(|e| Error::io("cannot read", path, e))?.len();
    let bad = |reason: String| Error::archive(path, reason);
    let mut entries = Vec::new();
    let mut pos = 0u64;
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    // Whether extension headers were read that no member has used yet.
    let mut pending_extension = false;
    let mut block = [0u8; BLOCK_LEN];
    loop {
        if pos == len {
            // No end-of-archive blocks: GNU tar accepts this too.
            break;
        }
        if pos + BLOCK > len {
            return Err(bad(format!("truncated: a partial header at byte {pos}")));
        }
        file.read_exact_at(&mut block, pos)
            .map_err(|e| Error::io("cannot read", path, e))?;
        if block.iter().all(|b| *b == 0) {
            break;
        }
        let header = tar::Header::from_byte_slice(&block);
        let stored = header
            .cksum()
            .map_err(|_| bad(format!("not a tar archive (bad header at byte {pos})")))?;
        if stored != checksum(&block) {
            return Err(bad(format!(
                "not a tar archive or corrupted: header checksum mismatch at byte {pos}"
            )));
        }
        let typeflag = block[156];
        let size = match pax_size.take() {
            Some(s) => s,
            None => header
                .entry_size()
                .map_err(|_| bad(format!("corrupted size field in the header at byte {pos}")))?,
        };
        let data_offset = pos + BLOCK;
        let end = data_offset
            .checked_add(padded_checked(size).ok_or_else(|| bad(format!("absurd member size {size} at byte {pos}")))?)
            .ok_or_else(|| bad(format!("absurd member size {size} at byte {pos}")))?;
        if data_offset + size > len {
            let name = pax_path
                .clone()
                .or_else(|| long_name.clone())
                .unwrap_or_else(|| header.path_bytes().into_owned());
            return Err(bad(format!(
                "truncated: member `{}` needs {size} bytes but the file ends first",
                String::from_utf8_lossy(&name)
            )));
        }
        match typeflag {
            b'x' | b'g' | b'L' | b'K' => {
                if size > MAX_EXTENSION {
                    return Err(bad(format!(
                        "extension header at byte {pos} is too large ({size} bytes)"
                    )));
                }
                let mut data = vec![0u8; usize::try_from(size).unwrap_or(0)];
                file.read_exact_at(&mut data, data_offset)
                    .map_err(|e| Error::io("cannot read", path, e))?;
                match typeflag {
                    b'x' => {
                        for (key, value) in
                            pax_records(&data).ok_or_else(|| bad(format!("malformed pax header at byte {pos}")))?
                        {
                            match key {
                                b"path" => pax_path = Some(value.to_vec()),
                                b"size" => {
                                    pax_size = Some(
                                        std::str::from_utf8(value)
                                            .ok()
                                            .and_then(|v| v.parse().ok())
                                            .ok_or_else(|| bad(format!("malformed pax size at byte {pos}")))?,
                                    );
                                }
                                // GNU tar reads these as a sparse map, so
                                // it would see other data than we check.
                                k if k.starts_with(b"GNU.sparse.") => {
                                    return Err(bad(format!("sparse pax header at byte {pos} is not supported")));
                                }
                                _ => {}
                            }
                        }
                    }
                    b'g' => {
                        // A global header applies to every later member in
                        // GNU tar (which older hosts use): a global `path` or
                        // `size` would make it see other members than we check.
                        let records =
                            pax_records(&data).ok_or_else(|| bad(format!("malformed pax header at byte {pos}")))?;
                        if let Some((key, _)) = records.iter().find(|(k, _)| {
                            matches!(*k, b"path" | b"size" | b"linkpath") || k.starts_with(b"GNU.sparse.")
                        }) {
                            return Err(bad(format!(
                                "global pax header at byte {pos} sets `{}` for every member",
                                String::from_utf8_lossy(key)
                            )));
                        }
                    }
                    b'L' => {
                        let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                        data.truncate(end);
                        long_name = Some(data);
                    }
                    _ => {}
                }
                pending_extension = true;
                pos = end;
                continue;
            }
            _ => {}
        }
        let name = pax_path
            .take()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| header.path_bytes().into_owned());
        let kind = match typeflag {
            b'0' | 0 | b'7' => Kind::File,
            b'5' => Kind::Dir,
            other => Kind::Other(other),
        };
        entries.push(Entry {
            name,
            kind,
            data_offset,
            size,
            mode: header.mode().unwrap_or(0),
            mtime: header.mtime().unwrap_or(0),
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            owner: format!(
                "{}:{}",
                String::from_utf8_lossy(header.username_bytes().unwrap_or_default()),
                String::from_utf8_lossy(header.groupname_bytes().unwrap_or_default())
            ),
        });
        pending_extension = false;
        pos = end;
    }
    if pending_extension {
        return Err(bad("truncated: an extension header is not followed by a member".into()));
    }
    Ok(entries)
}

fn padded_checked(size: u64) -> Option<u64> {
    size.checked_add(BLOCK - 1).map(|s| s / BLOCK * BLOCK)
}

fn checksum(block: &[u8; BLOCK_LEN]) -> u32 {
    block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum()
}

/// Parses pax records (`LEN KEY=VALUE\n`).
fn pax_records(mut data: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|b| *b == 0) {
            break;
        }
        let space = data.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
        if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
            return None;
        }
        let record = &data[space + 1..len - 1];
        let eq = record.iter().position(|b| *b == b'=')?;
        out.push((&record[..eq], &record[eq + 1..]));
        data = &data[len..];
    }
    Some(out)
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
    fn malformed_pax_is_refused() {
        for bad in [&b"5 a=b\n"[..], b"x path=a\n", b"100 path=a\n", b"9 patha\n\n"] {
            assert!(pax_records(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
