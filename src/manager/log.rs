//! The manager's log file (`/var/log/xenguest`), in the classic format:
//! `DD-MM-YYYY HH:MM:SS [LEVEL]    text`, one line per line of text.
//!
//! The terminal only ever shows errors (on stderr, with the program's
//! prefix); everything else goes to the file, filtered by level. Times are
//! UTC: the library has no time zone database, and the `log` function the
//! init scripts get writes UTC too, so the file never mixes two clocks.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Log levels, least verbose first. The file receives every line whose
/// level is at most the configured one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Failures (also printed on stderr).
    Error,
    /// What the manager does: one line per step.
    Info,
    /// Every external command and its output.
    Verbose,
}

impl Level {
    /// Every level, least verbose first.
    pub const ALL: [Level; 3] = [Level::Error, Level::Info, Level::Verbose];

    /// The name in the file and in `XENGUEST_LOG_LEVEL`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Info => "INFO",
            Level::Verbose => "VERBOSE",
        }
    }

    /// Parses a level name (as the classic manager spells them).
    pub fn parse(text: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name() == text)
    }
}

/// The log file and its level.
#[derive(Debug, Clone)]
pub struct Log {
    path: PathBuf,
    level: Level,
}

impl Log {
    /// A log writing lines up to `level` to `path`.
    pub fn new(path: PathBuf, level: Level) -> Log {
        Log { path, level }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The most verbose level written.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Writes `text` (each of its lines) at `level`. A log that cannot be
    /// written is not a reason to fail an action: the error is printed on
    /// stderr instead.
    pub fn write(&self, level: Level, text: &str) {
        if level > self.level {
            return;
        }
        let stamp = timestamp(SystemTime::now());
        let mut out = String::new();
        for line in text.lines() {
            let _ = writeln!(out, "{stamp} [{}]    {line}", level.name());
        }
        let result = self
            .path
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&self.path))
            .and_then(|mut f| f.write_all(out.as_bytes()));
        if let Err(e) = result {
            eprintln!(
                "xenguest-manager: warning: cannot write the log `{}`: {e}",
                self.path.display()
            );
        }
    }

    /// [`Log::write`] at [`Level::Error`].
    pub fn error(&self, text: &str) {
        self.write(Level::Error, text);
    }

    /// [`Log::write`] at [`Level::Info`].
    pub fn info(&self, text: &str) {
        self.write(Level::Info, text);
    }

    /// [`Log::write`] at [`Level::Verbose`].
    pub fn verbose(&self, text: &str) {
        self.write(Level::Verbose, text);
    }
}

/// `DD-MM-YYYY HH:MM:SS` (UTC) of `t`.
pub fn timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{d:02}-{m:02}-{y:04} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC) of `t`.
pub fn iso_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_classic_and_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "01-01-1970 00:00:00");
        assert_eq!(
            iso_timestamp(UNIX_EPOCH + Duration::from_secs(1_796_420_446)),
            "2026-12-04T21:40:46Z"
        );
        // 2024-02-29T23:59:58Z: a leap day.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_198);
        assert_eq!(timestamp(t), "29-02-2024 23:59:58");
        // 2026-12-02T05:08:37Z
        let t = UNIX_EPOCH + Duration::from_secs(1_796_188_117);
        assert_eq!(timestamp(t), "02-12-2026 05:08:37");
    }

    #[test]
    fn levels_filter_and_format() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::new(dir.path().join("sub/xenguest"), Level::Info);
        log.error("bad\nthing");
        log.info("step");
        log.verbose("hidden");
        let text = fs::read_to_string(dir.path().join("sub/xenguest")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with(" [ERROR]    bad"), "{text}");
        assert!(lines[1].ends_with(" [ERROR]    thing"), "{text}");
        assert!(lines[2].ends_with(" [INFO]    step"), "{text}");
        assert_eq!(lines[0].len(), "DD-MM-YYYY HH:MM:SS [ERROR]    bad".len());
        assert_eq!(Level::parse("VERBOSE"), Some(Level::Verbose));
        assert_eq!(Level::parse("verbose"), None);
    }
}
