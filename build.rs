//! Sets `XENGUEST_MKIMAGE_VERSION`, the version `--version` prints: the
//! package version, followed by the git revision when the crate is built
//! from a git checkout of its own (e.g. `0.1.0 (git 1a2b3c4d5e6f)`).
//!
//! The revision is read only when `.git` lies in the crate's own directory,
//! so a build from a tarball or from a recipe's copy of the sources (which
//! may sit inside some other git checkout, e.g. a build directory under
//! poky) prints the plain package version instead of a stranger's commit.
//! Without git, or on any git error, the plain version is used: the build
//! never fails for it. The revision depends only on the commit (no dirty
//! flag, no time), so two builds of one commit stay identical; a build of a
//! modified tree shows the commit it started from.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let full = match revision(&dir) {
        Some(rev) => format!("{version} (git {rev})"),
        None => version.to_owned(),
    };
    println!("cargo:rustc-env=XENGUEST_MKIMAGE_VERSION={full}");
    println!("cargo:rerun-if-changed=build.rs");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The short commit id of HEAD, when `dir` is the top of a git work tree.
fn revision(dir: &Path) -> Option<String> {
    // `.git` is a directory in a clone, a file in a worktree or submodule.
    if !dir.join(".git").exists() {
        return None;
    }
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // Rebuild when HEAD moves: HEAD itself (another branch), the branch's
    // ref (a new commit) and packed-refs (a ref that was packed).
    // (Only files that exist: cargo reruns the script on every build for
    // a missing one.)
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in &watched {
        if let Some(path) = git(dir, &["rev-parse", "--git-path", name]) {
            let path = dir.join(path);
            if path.is_file() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    git(dir, &["rev-parse", "--short=12", "HEAD"])
}
