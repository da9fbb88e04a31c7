//! Running external tools (xl, LVM, parted, mkfs, mount, tar, …).
//!
//! Every tool runs from an argument vector ([`std::process::Command`]),
//! never through a shell, so no value from an image or a configuration
//! file is ever parsed as shell text. Each run is logged at VERBOSE with
//! its arguments and output; a failure becomes an error naming the
//! command, its exit status and what it printed on stderr.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Output, Stdio};

use super::log::Log;
use crate::error::{Error, Result};

/// Runs tools and logs what they do.
#[derive(Debug, Clone)]
pub struct Runner {
    log: Log,
    env: Vec<(OsString, OsString)>,
}

impl Runner {
    /// A runner logging to `log`, adding `env` to every tool's environment.
    pub fn new(log: Log, env: Vec<(OsString, OsString)>) -> Runner {
        Runner { log, env }
    }

    /// The log.
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// A command for `prog` with `args` and the runner's environment;
    /// stdin is empty unless the caller changes it.
    pub fn command<S: AsRef<OsStr>>(&self, prog: &str, args: &[S]) -> Command {
        self.command_shown(prog, args, &shown(prog, args))
    }

    /// [`Runner::command`], logged as `display` (for long arguments).
    pub fn command_shown<S: AsRef<OsStr>>(&self, prog: &str, args: &[S], display: &str) -> Command {
        let mut cmd = Command::new(prog);
        cmd.args(args).stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.log.verbose(&format!("run: {display}"));
        cmd
    }

    /// Runs `cmd` (from [`Runner::command`]) to completion, capturing its
    /// output; fails only when it cannot be started.
    pub fn output(&self, mut cmd: Command) -> Result<Output> {
        let prog = cmd.get_program().to_string_lossy().into_owned();
        let out = cmd.output().map_err(|e| spawn_error(&prog, &e))?;
        for (stream, data) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(data);
            if !text.trim().is_empty() {
                self.log.verbose(&format!("{prog} {stream}:\n{}", text.trim_end()));
            }
        }
        if !out.status.success() {
            self.log.verbose(&format!("{prog} exited with {}", out.status));
        }
        Ok(out)
    }

    /// Runs `prog args` and returns whether it succeeded.
    pub fn succeeds<S: AsRef<OsStr>>(&self, prog: &str, args: &[S]) -> Result<bool> {
        Ok(self.output(self.command(prog, args))?.status.success())
    }

    /// Runs `prog args`, failing unless it succeeds; returns its stdout.
    pub fn run<S: AsRef<OsStr>>(&self, prog: &str, args: &[S]) -> Result<String> {
        let out = self.output(self.command(prog, args))?;
        check(prog, args, &out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// An error unless `out` is a success.
pub fn check<S: AsRef<OsStr>>(prog: &str, args: &[S], out: &Output) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let detail = stderr.trim();
    Err(Error::Refused(format!(
        "`{}` failed ({}){}{}",
        shown(prog, args),
        out.status,
        if detail.is_empty() { "" } else { ": " },
        detail
    )))
}

/// The error for a tool that cannot be started.
pub fn spawn_error(prog: &str, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::Refused(format!(
            "cannot run `{prog}`: not found in PATH - install it (docs/manager.md lists the tools the manager needs)"
        ))
    } else {
        Error::Refused(format!("cannot run `{prog}`: {e}"))
    }
}

/// A command line for messages and the log: arguments that hold spaces or
/// quotes are shown quoted (for reading only: nothing parses this).
pub fn shown<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> String {
    let mut out = prog.to_owned();
    for a in args {
        let a = a.as_ref().to_string_lossy();
        out.push(' ');
        if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c)) {
            out.push_str(&a);
        } else {
            out.push('\'');
            out.push_str(&a.escape_debug().to_string());
            out.push('\'');
        }
    }
    out
}
