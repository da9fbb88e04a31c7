//! Running external tools (xl, LVM, parted, mkfs, mount, tar, …).
//!
//! Every tool runs from an argument vector ([`std::process::Command`]),
//! never through a shell, so no value from an image or a configuration
//! file is ever parsed as shell text. Each run is logged at VERBOSE with
//! its arguments and output; a failure becomes an error naming the
//! command, its exit status and what it printed on stderr.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

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
    /// output; fails when it cannot be started or when a signal stops the
    /// manager (see [`wait`]).
    pub fn output(&self, mut cmd: Command) -> Result<Output> {
        let prog = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = spawn(&mut cmd).map_err(|e| spawn_error(&prog, &e))?;
        let out = wait(child, &prog)?;
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

/// Spawns `cmd` in a process group of its own, so that [`wait`] can stop
/// it with everything it started.
pub fn spawn(cmd: &mut Command) -> std::io::Result<Child> {
    cmd.process_group(0).spawn()
}

/// Waits for `child` (from [`spawn`]) and collects its output (stdout and
/// stderr, when piped). When SIGINT or SIGTERM asks the manager to stop
/// ([`crate::interrupt::stopping`]), the child's whole process group is
/// killed and reaped and an error is returned at once, so the caller can
/// undo what it made.
pub fn wait(mut child: Child, prog: &str) -> Result<Output> {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> Option<std::thread::JoinHandle<Vec<u8>>> {
        pipe.map(|mut p| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                buf
            })
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(Error::Refused(format!("cannot wait for `{prog}`: {e}"))),
        }
        if crate::interrupt::stopping() {
            if let Some(pid) = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            // The readers are left to finish on their own: something the
            // tool started outside its group may still hold a pipe.
            return Err(Error::Refused(format!(
                "interrupted by a signal while `{prog}` was running (stopped it)"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let collect =
        |h: Option<std::thread::JoinHandle<Vec<u8>>>| h.map(|h| h.join().unwrap_or_default()).unwrap_or_default();
    Ok(Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    })
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
