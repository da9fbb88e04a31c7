//! Helpers shared by the integration tests.
//!
//! `Scratch` is a temporary directory the tool runs in; `Scratch::cmd`
//! returns a fluent [`Cmd`] for runs that need a different working
//! directory, environment or umask. Everything that inspects an image does
//! it with an independent tool (GNU tar, `sha256sum`, Python's tarfile), so
//! the tests never trust the code under test to judge its own output.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xenguest-mkimage"))
}

/// The repository root (for `examples/` and `tests/data/`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file or directory under `tests/data/`.
pub fn data(rel: &str) -> PathBuf {
    repo().join("tests/data").join(rel)
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
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&p, data).unwrap();
        p
    }

    /// Creates a directory (and its parents) and returns its path.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.join(rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// The bytes of a file.
    #[track_caller]
    pub fn read(&self, rel: &str) -> Vec<u8> {
        let p = self.join(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The text of a file.
    #[track_caller]
    pub fn read_text(&self, rel: &str) -> String {
        String::from_utf8(self.read(rel)).expect("UTF-8")
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.join(rel).symlink_metadata().is_ok()
    }

    /// The permission bits of a file.
    pub fn mode(&self, rel: &str) -> u32 {
        fs::metadata(self.join(rel)).unwrap().permissions().mode() & 0o7777
    }

    /// Names in a directory (not recursive), sorted.
    pub fn ls(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Copies a directory tree from anywhere into `rel`.
    pub fn copy_tree(&self, from: &Path, rel: &str) -> PathBuf {
        let to = self.join(rel);
        copy_tree(from, &to);
        to
    }

    /// Runs the tool with `args` in this directory.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        self.cmd(args).run()
    }

    /// A command to adjust before running.
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> Cmd {
        Cmd {
            args: args.iter().map(|a| a.as_ref().to_owned()).collect(),
            dir: self.path().to_path_buf(),
            env: Vec::new(),
            umask: None,
        }
    }

    /// Creates the image `name` with `args` (options) and asserts success.
    #[track_caller]
    pub fn create(&self, name: &str, args: &[&str]) -> PathBuf {
        let mut all = vec!["create", name];
        all.extend_from_slice(args);
        self.run(&all).success();
        self.join(name)
    }

    /// Updates `name` with `args` and asserts success.
    #[track_caller]
    pub fn update(&self, name: &str, args: &[&str]) {
        let mut all = vec!["update", name];
        all.extend_from_slice(args);
        self.run(&all).success();
    }

    /// Runs an external program in this directory.
    #[track_caller]
    pub fn ext(&self, program: &str, args: &[&str]) -> Output {
        external(program, args, self.path())
    }

    /// The lines an external program prints (a tar reader's listing, say);
    /// the test fails, with the program's stderr, if it fails.
    #[track_caller]
    pub fn ext_lines(&self, program: &str, args: &[&str]) -> Vec<String> {
        let out = self.ext(program, args);
        assert!(
            out.status.success(),
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// GNU tar's listing of an image (`tar -tf`), in archive order.
    #[track_caller]
    pub fn tar_names(&self, image: &str) -> Vec<String> {
        self.ext_lines("tar", &["-tf", image])
    }

    /// GNU tar's verbose listing (`tar -tvf`).
    #[track_caller]
    pub fn tar_verbose(&self, image: &str) -> String {
        let out = self.ext("tar", &["-tvf", image]);
        assert!(
            out.status.success(),
            "tar -tvf {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One member of a tar image, read by GNU tar (`tar -xOf IMG ./NAME`).
    #[track_caller]
    pub fn member(&self, image: &str, name: &str) -> Vec<u8> {
        let member = format!("./{name}");
        let out = self.ext("tar", &["-xOf", image, &member]);
        assert!(
            out.status.success(),
            "tar -xOf {image} {member}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// One member as text.
    #[track_caller]
    pub fn member_text(&self, image: &str, name: &str) -> String {
        String::from_utf8(self.member(image, name)).expect("UTF-8 member")
    }

    /// Whether the tar image has member `./name`.
    pub fn has_member(&self, image: &str, name: &str) -> bool {
        let want = format!("./{name}");
        self.tar_names(image).contains(&want)
    }

    /// The merged xl configuration the host uses (`guest.cfg` followed by
    /// every `guest.d/` file, members read with GNU tar), as its active
    /// `key = value` settings. A later setting wins, as in xl.
    #[track_caller]
    pub fn xl(&self, image: &str) -> BTreeMap<String, String> {
        let mut text = self.member_text(image, "guest.cfg");
        for name in self.tar_names(image) {
            if let Some(rest) = name.strip_prefix("./guest.d/") {
                if !rest.is_empty() {
                    text.push_str(&self.member_text(image, &format!("guest.d/{rest}")));
                }
            }
        }
        xl_settings(&text)
    }

    /// `KEY="VALUE"` assignments of a sourced config member (params.cfg,
    /// disk.cfg), values without their quotes, as bash would see them.
    #[track_caller]
    pub fn vars(&self, image: &str, member: &str) -> BTreeMap<String, String> {
        shell_vars(&self.member_text(image, member))
    }

    /// Files and directories left in this directory whose names look like
    /// temporary files (the writer's `.NAME.*.tmp` or anything else hidden).
    pub fn stray_files(&self) -> Vec<String> {
        self.ls("")
            .into_iter()
            .filter(|n| n.starts_with('.') || Path::new(n).extension().is_some_and(|e| e == "tmp"))
            .collect()
    }
}

/// Recursive copy that keeps permission bits.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Active `key = value` lines of an xl config text.
pub fn xl_settings(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    out
}

/// `KEY="VALUE"` lines of a shell-sourced file.
pub fn shell_vars(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
            out.insert(k.to_owned(), v.to_owned());
        }
    }
    out
}

/// A command being prepared: arguments, working directory, environment and
/// umask.
pub struct Cmd {
    args: Vec<OsString>,
    dir: PathBuf,
    env: Vec<(OsString, Option<OsString>)>,
    umask: Option<u32>,
}

impl Cmd {
    pub fn dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.dir = dir.as_ref().to_path_buf();
        self
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.into(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: &str) -> Cmd {
        self.env.push((key.into(), None));
        self
    }

    /// Runs under this umask (through `sh`, as a build system would).
    pub fn umask(mut self, mask: u32) -> Cmd {
        self.umask = Some(mask);
        self
    }

    /// The `Command` this describes (`SOURCE_DATE_EPOCH` removed unless set
    /// explicitly).
    pub fn command(&self) -> Command {
        let mut c = if let Some(mask) = self.umask {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("umask {mask:03o} && exec \"$0\" \"$@\""))
                .arg(bin())
                .args(&self.args);
            c
        } else {
            let mut c = Command::new(bin());
            c.args(&self.args);
            c
        };
        c.current_dir(&self.dir).env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    pub fn run(&self) -> Run {
        Run::new(&mut self.command())
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

    /// Asserts a failed run that behaved: a non-zero exit that is not a
    /// panic (101), the message on stderr (prefixed as every error is)
    /// naming each needle, and nothing on stdout.
    #[track_caller]
    pub fn error(&self, needles: &[&str]) -> &Run {
        let code = self.code();
        assert!(
            code != 0 && code != 101 && code != -1,
            "bad exit code\n{}",
            self.describe()
        );
        assert!(!self.stderr().contains("panicked"), "panic\n{}", self.describe());
        assert!(
            self.stdout().is_empty(),
            "error output went to stdout\n{}",
            self.describe()
        );
        assert!(!self.stderr().trim().is_empty(), "no message\n{}", self.describe());
        for n in needles {
            assert!(self.stderr().contains(n), "stderr lacks {n:?}\n{}", self.describe());
        }
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

    /// Asserts stdout lacks every needle.
    #[track_caller]
    pub fn stdout_lacks(&self, needles: &[&str]) -> &Run {
        for n in needles {
            assert!(!self.stdout().contains(n), "stdout has {n:?}\n{}", self.describe());
        }
        self
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout().trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON: {e}\n{}", self.describe()))
    }
}

/// Runs an external command (GNU tar, python3…) and returns its output.
#[track_caller]
pub fn external(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// The sha256 of a file, computed by `sha256sum` (not by the tool).
#[track_caller]
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Whether we run as root (a file we create belongs to uid 0).
pub fn is_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let p = dir.join(".whoami");
    fs::write(&p, b"").unwrap();
    let uid = fs::metadata(&p).unwrap().uid();
    fs::remove_file(&p).unwrap();
    uid == 0
}

/// Runs the Python differential suite `script` (relative to the repository)
/// against the image tool in a fresh directory, failing with every line
/// that is not `ok …` when the suite fails; returns its output (printed, so
/// that `--nocapture` shows each case).
pub fn python_differential(script: &str, what: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let script = repo().join(script);
    let out = external(
        "python3",
        &[
            script.to_str().unwrap(),
            bin().to_str().unwrap(),
            work.path().to_str().unwrap(),
        ],
        &repo(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{what}:\n{}\n{}",
        stdout
            .lines()
            .filter(|l| !l.starts_with("ok "))
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `openssl ARGS` in the scratch directory, asserting success.
#[track_caller]
pub fn openssl(s: &Scratch, args: &[&str]) -> Vec<u8> {
    let out = s.ext("openssl", args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Makes `NAME.pem` (PKCS#8 private key) and `NAME.pub.pem` (SPKI) with
/// `openssl genpkey`; `kind` is `ed25519`, `ec` (P-256) or `rsa` (2048).
pub fn keypair(s: &Scratch, kind: &str, name: &str) {
    let key = format!("{name}.pem");
    let algorithm: &[&str] = match kind {
        "ed25519" => &["-algorithm", "ed25519"],
        "ec" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "rsa" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        other => panic!("unknown key kind {other}"),
    };
    let mut args = vec!["genpkey"];
    args.extend_from_slice(algorithm);
    args.extend(["-out", key.as_str()]);
    openssl(s, &args);
    openssl(s, &["pkey", "-in", &key, "-pubout", "-out", &format!("{name}.pub.pem")]);
}
