//! Issue 14: what a release ships beside the binary — man pages and shell
//! completions generated from the option table (`generate`), and a
//! `--version` that names the git revision of a build from a checkout.

use std::collections::BTreeSet;
use std::process::Command;

use crate::cli::{OPERATIONS, OPTIONS};
use crate::support::{repo, Scratch};

/// Every `--long` option named in `text` (roff escapes `-` as `\-`).
fn long_options(text: &str) -> BTreeSet<String> {
    let text = text.replace("\\-", "-");
    let mut found = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("--") {
        let tail = &rest[at + 2..];
        let len = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(tail.len());
        if len > 0 && tail.as_bytes()[0].is_ascii_alphabetic() {
            found.insert(format!("--{}", &tail[..len]));
        }
        rest = &tail[len..];
    }
    found
}

#[test]
fn man_pages_cover_every_operation_and_option() {
    let s = Scratch::new();
    s.run(&["generate", "man", "man/man1"]).success();
    let page = |name: &str| s.read_text(&format!("man/man1/{name}.1")).replace("\\-", "-");
    let main = page("xenguest-mkimage");
    assert!(main.contains(".TH xenguest-mkimage 1"), "{main}");
    for op in OPERATIONS {
        // The tool's page lists the operation and its page exists.
        assert!(
            main.contains(&format!("xenguest-mkimage-{op}(1)")),
            "{op} missing:\n{main}"
        );
        let text = page(&format!("xenguest-mkimage-{op}"));
        assert!(text.contains(&format!(".TH xenguest-mkimage-{op} 1")), "{text}");
        // Every option that `OP --help` offers is documented on its page.
        let help = s.run(&[op, "--help"]).success().stdout();
        let documented = long_options(&text);
        let missing: Vec<_> = long_options(&help).difference(&documented).cloned().collect();
        assert!(missing.is_empty(), "xenguest-mkimage-{op}.1 lacks {missing:?}");
    }
    let create = page("xenguest-mkimage-create");
    for opt in OPTIONS {
        assert!(create.contains(opt), "xenguest-mkimage-create.1 lacks {opt}");
    }
    // Nothing else is written (no page for `generate`, a packager's tool).
    let mut names = s.ls("man/man1");
    names.sort();
    assert_eq!(names.len(), OPERATIONS.len() + 1, "{names:?}");
    assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
}

#[test]
fn man_pages_are_reproducible() {
    let s = Scratch::new();
    s.run(&["generate", "man", "a"]).success();
    s.run(&["generate", "man", "b"]).success();
    for name in s.ls("a") {
        assert_eq!(s.read(&format!("a/{name}")), s.read(&format!("b/{name}")), "{name}");
    }
}

#[test]
fn bash_completion_is_valid_and_complete() {
    let s = Scratch::new();
    s.run(&["generate", "completions", "bash", "bash"]).success();
    let script = s.join("bash/xenguest-mkimage");
    let out = s.ext("bash", &["-n", script.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = s.read_text("bash/xenguest-mkimage");
    for word in OPERATIONS.iter().chain(OPTIONS) {
        assert!(text.contains(word), "bash completion lacks {word}");
    }
    assert!(!text.contains("generate"), "the hidden operation is completed");
    // Loading it registers a completion for the command.
    let out = s.ext(
        "bash",
        &[
            "-c",
            &format!("source {} && complete -p xenguest-mkimage", script.display()),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("xenguest-mkimage"));
}

#[test]
fn completions_for_each_shell_under_their_conventional_names() {
    let s = Scratch::new();
    for (shell, name) in [
        ("zsh", "_xenguest-mkimage"),
        ("fish", "xenguest-mkimage.fish"),
        ("elvish", "xenguest-mkimage.elv"),
        ("powershell", "_xenguest-mkimage.ps1"),
    ] {
        s.run(&["generate", "completions", shell, "out"]).success();
        let text = s.read_text(&format!("out/{name}"));
        assert!(
            text.contains("xen-memory") && text.contains("dump-xenconfig"),
            "{shell}: {text}"
        );
    }
    // zsh checks the syntax of its script where it is installed.
    if let Ok(out) = Command::new("zsh")
        .arg("-n")
        .arg(s.join("out/_xenguest-mkimage"))
        .output()
    {
        assert!(out.status.success(), "zsh -n: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn generate_is_listed_and_its_errors_name_the_input() {
    let s = Scratch::new();
    // Packagers find it in the help like any operation.
    s.run(&["--help"])
        .success()
        .stdout_has(&["generate", "man pages or shell completions"]);
    s.run(&["generate", "completions", "tcsh", "out"])
        .failure(2, &["tcsh", "bash"]);
    s.run(&["generate", "man"]).failure(2, &["DIR"]);
    s.write("file", "x");
    s.run(&["generate", "man", "file/sub"]).error(&["file/sub"]);
    s.run(&["generate", "--help"])
        .success()
        .stdout_has(&["man", "completions"]);
}

#[test]
fn version_names_the_git_revision_of_a_checkout() {
    let s = Scratch::new();
    let out = s.run(&["--version"]).success().stdout();
    let expected = format!("xenguest-mkimage {}", env!("CARGO_PKG_VERSION"));
    let rev = Command::new("git")
        .args(["-C", repo().to_str().unwrap(), "rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success() && repo().join(".git").exists());
    match rev {
        Some(o) => {
            let rev = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            assert_eq!(out.trim(), format!("{expected} (git {rev})"));
        }
        // A build from a tarball (no .git here): the plain version.
        None => assert_eq!(out.trim(), expected),
    }
    s.run(&["-V"]).success().stdout_has(&[&expected]);
}

/// Runs `scripts/msrv` with only `bin` and the few tools it needs before
/// rustup in PATH (wherever rustup is installed on this machine).
fn msrv_script(s: &Scratch, bin: &std::path::Path) -> std::process::Output {
    let sys = s.mkdir("sys");
    for tool in ["env", "bash", "dirname", "sed"] {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| std::path::Path::new(d).join(tool))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{tool} not found in /usr/bin or /bin"));
        if !sys.join(tool).exists() {
            std::os::unix::fs::symlink(found, sys.join(tool)).unwrap();
        }
    }
    Command::new(repo().join("scripts/msrv"))
        .env("PATH", format!("{}:{}", bin.display(), sys.display()))
        .current_dir(s.path())
        .output()
        .expect("run scripts/msrv")
}

#[test]
fn msrv_build_fails_saying_why_when_rust_1_75_cannot_be_installed() {
    let s = Scratch::new();
    // No rustup at all.
    let empty = s.mkdir("empty");
    let out = msrv_script(&s, &empty);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rustup is not installed, so Rust 1.75.0"), "{stderr}");

    // A rustup that has no 1.75.0 and cannot download it: it is asked to
    // install exactly that toolchain, and its failure stops the script.
    let bin = s.mkdir("bin");
    let log = s.join("rustup.log");
    s.write(
        "bin/rustup",
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\n[ \"$1\" = toolchain ] && echo 'error: could not download' >&2\nexit 1\n",
            log.display()
        ),
    );
    std::fs::set_permissions(bin.join("rustup"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = msrv_script(&s, &bin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("'rustup toolchain install 1.75.0 --profile minimal' failed"),
        "{stderr}"
    );
    let calls = s.read_text("rustup.log");
    assert!(
        calls.lines().any(|l| l == "toolchain install 1.75.0 --profile minimal"),
        "{calls}"
    );
}
