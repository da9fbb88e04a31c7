//! Progress display for long operations.
//!
//! A bar appears only when standard error is a terminal, the operation
//! moves more than [`THRESHOLD`] bytes and `-q` was not given; under
//! `BitBake` or in a pipe the tool stays silent.

use std::io::IsTerminal;

/// Operations moving fewer bytes than this show no bar.
pub const THRESHOLD: u64 = 100 * 1000 * 1000;

/// Whether progress may be shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Progress on a terminal unless `quiet`.
    pub fn from_terminal(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A bar for `total` bytes (hidden when disabled or below the
    /// threshold).
    pub fn bar(self, total: u64, message: &str) -> Bar {
        if !self.enabled || total < THRESHOLD {
            return Bar(None);
        }
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(message.to_owned());
        Bar(Some(bar))
    }
}

/// A progress bar, possibly hidden.
#[derive(Debug)]
pub struct Bar(Option<indicatif::ProgressBar>);

impl Bar {
    /// A bar that shows nothing.
    pub fn hidden() -> Bar {
        Bar(None)
    }

    /// Advances by `n` bytes.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// A reader that advances the bar by what it reads.
    pub fn reader<R: std::io::Read>(&self, inner: R) -> BarReader<'_, R> {
        BarReader { bar: self, inner }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// A reader that reports progress to a [`Bar`].
#[derive(Debug)]
pub struct BarReader<'a, R> {
    bar: &'a Bar,
    inner: R,
}

impl<R: std::io::Read> std::io::Read for BarReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
