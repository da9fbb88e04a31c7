//! The one error type of the library.
//!
//! Every variant names what the user gave us (an option, a file, a member)
//! so that the message alone says what to fix. Messages are lowercase and put
//! values in backticks; `main` prefixes them with `xenguest-mkimage: error:`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line option or TOML value is malformed or not allowed.
    #[error("invalid value `{value}` for `{option}`: {reason}")]
    InvalidValue {
        /// The option or TOML key, e.g. `--disk-size` or `disk.size`.
        option: String,
        /// The value as given.
        value: String,
        /// Why it is refused and, where possible, what to use instead.
        reason: String,
    },

    /// A file system operation on a named path failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What we tried to do, e.g. "cannot read".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The path given as an image is not a usable xenguest image.
    #[error("`{}` is not a valid xenguest image: {reason}", path.display())]
    NotAnImage {
        /// The image path.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },

    /// A tar archive is malformed, truncated or hostile.
    #[error("`{}`: {reason}", path.display())]
    BadArchive {
        /// The archive path.
        path: PathBuf,
        /// What is wrong, naming the member where there is one.
        reason: String,
    },

    /// An operation's precondition does not hold (e.g. the destination
    /// already exists).
    #[error("{0}")]
    Refused(String),

    /// The TOML guest description cannot be used.
    #[error("`{}`: {message}", path.display())]
    Spec {
        /// The TOML file.
        path: PathBuf,
        /// The message, with line and column where known.
        message: String,
    },

    /// Integrity checks failed (verify).
    #[error("{0}")]
    Verify(String),

    /// Bad command-line usage (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// Builds an [`Error::InvalidValue`].
    pub fn invalid(option: impl Into<String>, value: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::InvalidValue {
            option: option.into(),
            value: value.into(),
            reason: reason.to_string(),
        }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Builds an [`Error::BadArchive`].
    pub fn archive(path: impl AsRef<Path>, reason: impl fmt::Display) -> Self {
        Error::BadArchive {
            path: path.as_ref().to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// The message with the messages of its sources, each once: what both
    /// binaries print after their `error:` prefix and log.
    pub fn full_message(&self) -> String {
        let mut msg = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            source = s.source();
        }
        msg
    }

    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// Adds path context to `io::Result`s.
pub(crate) trait IoContext<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}
