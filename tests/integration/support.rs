//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xenguest-mkimage"))
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub tempfile::TempDir);

impl Scratch {
    pub fn new() -> Scratch {
        Scratch(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.0.path().join(rel)
    }

    /// Writes a file (creating parent directories) and returns its path.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        p
    }

    /// Runs the tool with `args` in this directory.
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Run {
        Run::new(
            Command::new(bin())
                .args(args)
                .current_dir(self.path())
                .env_remove("SOURCE_DATE_EPOCH"),
        )
    }
}

/// The result of one run, with assertions that print everything on failure.
pub struct Run {
    pub out: Output,
    pub cmd: String,
}

impl Run {
    pub fn new(cmd: &mut Command) -> Run {
        let desc = format!("{cmd:?}");
        let out = cmd.stdin(Stdio::null()).output().expect("run binary");
        Run { out, cmd: desc }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    fn describe(&self) -> String {
        format!(
            "{}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.cmd,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(&self) -> &Run {
        assert!(self.out.status.success(), "expected success\n{}", self.describe());
        self
    }

    /// Asserts exit code `code` and that stderr contains every needle.
    #[track_caller]
    pub fn failure(&self, code: i32, needles: &[&str]) -> &Run {
        assert_eq!(self.code(), code, "unexpected exit code\n{}", self.describe());
        for n in needles {
            assert!(self.stderr().contains(n), "stderr lacks {n:?}\n{}", self.describe());
        }
        assert!(!self.stderr().contains("panicked"), "panic\n{}", self.describe());
        self
    }

    /// Asserts stdout contains every needle.
    #[track_caller]
    pub fn stdout_has(&self, needles: &[&str]) -> &Run {
        for n in needles {
            assert!(self.stdout().contains(n), "stdout lacks {n:?}\n{}", self.describe());
        }
        self
    }
}

/// Runs an external command (GNU tar, python3…) and returns its output.
#[track_caller]
pub fn external(program: &str, args: &[&str], dir: &Path) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    out
}
