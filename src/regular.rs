//! Reading small files the host trusts (sidecars, keys) without being
//! stalled or misled by what their path names.
//!
//! A path is opened with `O_NONBLOCK | O_NOCTTY` (a FIFO or a terminal
//! never makes the open or the read wait), the *open descriptor* is
//! checked to be a regular file (no race between a check and the open),
//! and at most a fixed number of bytes is read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` for reading if it is a regular file, never blocking.
/// A missing file is [`io::ErrorKind::NotFound`]; a FIFO, a device, a
/// socket or a directory is an error naming what it is.
pub fn open(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(open_flags(rustix::fs::OFlags::empty()))
        .open(path)?;
    let kind = f.metadata()?.file_type();
    if kind.is_file() {
        return Ok(f);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}, not a regular file"),
    ))
}

/// The `open(2)` flags for [`std::os::unix::fs::OpenOptionsExt::custom_flags`]:
/// `O_NONBLOCK | O_NOCTTY` and `extra`.
pub fn open_flags(extra: rustix::fs::OFlags) -> i32 {
    let flags = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY | extra;
    // Every open flag fits in an i32 (it is a C int).
    i32::try_from(flags.bits()).unwrap_or(i32::MAX)
}

/// Reads the regular file at `path` ([`open`]), failing if it holds more
/// than `limit` bytes.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let f = open(path)?;
    let mut data = Vec::new();
    f.take(limit.saturating_add(1)).read_to_end(&mut data)?;
    if data.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(data)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(read(&file, 10).unwrap(), b"0123456789");
        assert!(read(&file, 9).unwrap_err().to_string().contains("larger than 9"));
        let err = read(dir.path(), 10).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        assert_eq!(
            read(&dir.path().join("missing"), 10).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // A FIFO with no writer: the open and the read would wait forever.
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
        let err = read(&fifo, 10).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
        let err = read(Path::new("/dev/null"), 10).unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");
    }
}
