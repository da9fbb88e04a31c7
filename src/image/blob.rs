//! Where the bytes of a member come from.
//!
//! Large members (kernels, root file systems) are never loaded into memory:
//! a [`Blob`] points at an input file or at a byte range of the archive the
//! image was read from, and the writer copies from there.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, IoContext, Result};

/// Largest member read into memory as a configuration file or script.
pub const MAX_TEXT_MEMBER: u64 = 4 * 1024 * 1024;

/// An archive file shared by the blobs that point into it.
#[derive(Debug)]
pub struct Archive {
    /// The open archive.
    pub file: File,
    /// Its path, for messages.
    pub path: PathBuf,
}

/// The content of one member.
#[derive(Debug, Clone)]
pub enum Blob {
    /// Bytes held in memory (configuration files we generate).
    Bytes(Arc<[u8]>),
    /// A whole file on disk (an input file, or a member of a directory
    /// image).
    File {
        /// The file.
        path: PathBuf,
        /// Its size when we looked.
        len: u64,
    },
    /// A byte range of a tar archive.
    Archive {
        /// The archive.
        archive: Arc<Archive>,
        /// Offset of the first data byte.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Blob {
    /// A blob of in-memory bytes.
    pub fn bytes(data: impl Into<Vec<u8>>) -> Blob {
        Blob::Bytes(data.into().into())
    }

    /// A blob for an input file, which must be a regular file.
    pub fn from_input(option: &str, path: &Path) -> Result<Blob> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::invalid(option, path.display().to_string(), "no such file"),
            _ => Error::io("cannot read", path, e),
        })?;
        if !meta.is_file() {
            return Err(Error::invalid(option, path.display().to_string(), "not a regular file"));
        }
        // Open it now so an unreadable file fails before anything is written.
        File::open(path).with_path("cannot open", path)?;
        Ok(Blob::File {
            path: path.to_path_buf(),
            len: meta.len(),
        })
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Blob::Bytes(b) => b.len() as u64,
            Blob::File { len, .. } | Blob::Archive { len, .. } => *len,
        }
    }

    /// Whether the blob is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A reader over the content.
    pub fn open(&self) -> Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            Blob::Bytes(b) => Box::new(&b[..]),
            Blob::File { path, len } => {
                let file = File::open(path).with_path("cannot open", path)?;
                Box::new(ExactReader {
                    inner: file,
                    left: *len,
                    path: path.clone(),
                })
            }
            Blob::Archive { archive, offset, len } => Box::new(RangeReader {
                file: &archive.file,
                pos: *offset,
                end: offset + len,
            }),
        })
    }

    /// Reads the whole content (only for small members: configuration
    /// files and scripts).
    pub fn read_all(&self, what: &str) -> Result<Vec<u8>> {
        if self.len() > MAX_TEXT_MEMBER {
            return Err(Error::Refused(format!(
                "`{what}` is {} bytes, more than the {MAX_TEXT_MEMBER} allowed for a configuration file",
                self.len()
            )));
        }
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.open()?
            .read_to_end(&mut out)
            .map_err(|e| Error::Refused(format!("cannot read `{what}`: {e}")))?;
        Ok(out)
    }

    /// Reads the content as UTF-8 text.
    pub fn read_text(&self, what: &str) -> Result<String> {
        crate::validate::utf8(what, &self.read_all(what)?).map(str::to_owned)
    }
}

/// Reads exactly `left` bytes and fails if the file changed size under us
/// (the tar header already promised that many).
struct ExactReader {
    inner: File,
    left: u64,
    path: PathBuf,
}

impl Read for ExactReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        crate::interrupt::check()?;
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("`{}` shrank while it was being read", self.path.display()),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Positional reads of a byte range, so several blobs can share one file
/// descriptor without seeking.
struct RangeReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for RangeReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        crate::interrupt::check()?;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}
