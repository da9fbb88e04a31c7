//! Ctrl-C and `kill`: stop cleanly instead of dying mid-write.
//!
//! The default action of SIGINT and SIGTERM kills the process on
//! the spot, which leaves the hidden temporary file of an interrupted
//! write behind (the destination itself is never partial: see
//! [`crate::image::writer::atomic_write`]). With [`install`], the first such
//! signal only raises a flag; the copy and hashing loops and every wait
//! (a lock, a device node, an external tool, which the manager then
//! kills) poll it with [`check`] or [`stopping`] and fail with an error,
//! so temporary files are removed and half-made changes undone on the way
//! out, and the process exits with status 130. Sidecars and keys are
//! opened without waiting (see [`crate::regular`]), so a FIFO cannot hold
//! the process where it does not poll. A second signal exits at once.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGINT, SIGTERM};

/// Exit status after an interruption (128 + SIGINT, as shells report it).
pub const EXIT_CODE: u8 = 130;

fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Routes SIGINT and SIGTERM to the flag. (Not SIGHUP: under `nohup` it
/// is ignored on purpose, and registering a handler would undo that.)
pub fn install() {
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the shutdown action sees the flag as it was before
        // this signal, so only a second signal exits at once.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, i32::from(EXIT_CODE), Arc::clone(flag()));
        let _ = signal_hook::flag::register(signal, Arc::clone(flag()));
    }
}

/// Whether a signal asked us to stop.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed)
}

fn cleaning() -> &'static AtomicUsize {
    static DEPTH: AtomicUsize = AtomicUsize::new(0);
    &DEPTH
}

/// While a [`Cleanup`] lives, [`stopping`] is false: the undoing of a
/// half-done change (which runs tools too) is not cut short by the signal
/// that caused it. A second signal still exits at once.
#[derive(Debug)]
pub struct Cleanup(());

/// Starts a [`Cleanup`].
pub fn cleanup() -> Cleanup {
    cleaning().fetch_add(1, Ordering::SeqCst);
    Cleanup(())
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleaning().fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether work in progress should stop now: a signal asked for it and
/// no [`Cleanup`] is running.
pub fn stopping() -> bool {
    requested() && cleaning().load(Ordering::SeqCst) == 0
}

/// Fails once a signal asked us to stop. (Not `ErrorKind::Interrupted`:
/// the standard library retries on that.)
pub fn check() -> io::Result<()> {
    if requested() {
        Err(io::Error::other("interrupted by a signal"))
    } else {
        Ok(())
    }
}

/// A reader that polls [`check`] before each read.
#[derive(Debug)]
pub struct Checked<R>(pub R);

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        check()?;
        self.0.read(buf)
    }
}
