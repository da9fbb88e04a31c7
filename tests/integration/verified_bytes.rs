//! Reading an image once: `extract`, `extract-config`, `extract-disk-file`
//! and `export` hash each member as they copy it and refuse one that does
//! not match the image's manifest, leaving nothing behind (the manager's
//! side is in `manager.rs`: a rewrite after verification never reaches the
//! host).

use std::fs;
use std::path::Path;

use crate::support::Scratch;

const KERNEL: &[u8] = b"the signed kernel\n";
const DISK: &[u8] = b"the signed disk file\n";

/// An image with a kernel, a disk file and an init script, with its
/// manifest.
fn image(s: &Scratch) -> std::path::PathBuf {
    s.write("kernel", KERNEL);
    s.write("disk.img", DISK);
    s.write("run.sh", "#!/bin/sh\necho run\n");
    s.create(
        "g.xenguest",
        &[
            "--xen-kernel=kernel",
            "--disk-size=10M",
            "--disk-add-file=disk.img:data.img",
            "--disk-add-part=1:2M::data.img",
            "--init-script=run.sh",
        ],
    )
}

/// Replaces `from` by `to` (same length) inside the file: a member
/// changed in place after the image was made.
fn tamper(path: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut bytes = fs::read(path).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to change are in the image");
    bytes[at..at + to.len()].copy_from_slice(to);
    fs::write(path, bytes).unwrap();
}

/// Names under `dir`, recursively, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn extract_of_a_member_that_does_not_match_the_manifest_fails_and_writes_nothing() {
    for op in ["extract", "extract-config"] {
        let s = Scratch::new();
        let img = image(&s);
        tamper(&img, KERNEL, b"THE EVIL kernel!!\n");
        // DEST holds an earlier extraction: it stays as it was.
        let dest = s.mkdir("dest");
        s.write("dest/files/kernel", "earlier\n");
        s.write("dest/keep", "mine\n");
        let before = listing(&dest);
        s.run(&[op, "g.xenguest", "dest"]).failure(
            1,
            &["files/kernel", "does not match the manifest", "nothing was written"],
        );
        assert_eq!(listing(&dest), before, "{op}");
        assert_eq!(s.read("dest/files/kernel"), b"earlier\n", "{op}");
    }
    // A configuration file, which the reader parses when it opens the
    // image, is judged too.
    let s = Scratch::new();
    let img = image(&s);
    tamper(&img, b"GUEST_AUTOBOOT=\"1\"", b"GUEST_AUTOBOOT=\"0\"");
    s.mkdir("dest");
    s.run(&["extract", "g.xenguest", "dest"])
        .failure(1, &["params.cfg", "does not match the manifest"]);
    assert!(listing(&s.join("dest")).is_empty());
}

#[test]
fn extract_of_a_matching_image_writes_what_it_checked() {
    let s = Scratch::new();
    image(&s);
    s.mkdir("dest");
    s.run(&["extract", "g.xenguest", "dest"]).success();
    assert_eq!(s.read("dest/files/kernel"), KERNEL);
    assert_eq!(s.read("dest/disk/data.img"), DISK);
    // No staging directory is left, and the result is a valid image.
    assert!(!listing(&s.join("dest")).iter().any(|n| n.starts_with(".xenguest")));
    s.run(&["check", "dest"]).success();
    // An image without a manifest (as older tools made them) has nothing
    // to be checked against: extracted as it is.
    fs::remove_file(s.join("dest/manifest.sha256")).unwrap();
    let out = s.ext("tar", &["-C", "dest", "-cf", "old.xenguest", "."]);
    assert!(out.status.success(), "{out:?}");
    s.mkdir("old");
    s.run(&["extract", "old.xenguest", "old"]).success();
    assert_eq!(s.read("old/files/kernel"), KERNEL);
}

#[test]
fn extract_disk_file_reports_a_mismatch_after_streaming() {
    let s = Scratch::new();
    let img = image(&s);
    let r = s.run(&["extract-disk-file", "g.xenguest", "data.img"]);
    r.success();
    assert_eq!(r.out.stdout, DISK);
    tamper(&img, DISK, b"THE EVIL disk file!\n\n");
    s.run(&["extract-disk-file", "g.xenguest", "data.img"])
        .failure(1, &["disk/data.img", "does not match the manifest", "discard"]);
}

#[test]
fn export_of_a_member_that_does_not_match_the_manifest_fails_and_writes_nothing() {
    let s = Scratch::new();
    let img = image(&s);
    s.run(&["export", "g.xenguest", "good"]).success();
    assert_eq!(s.read("good/files/kernel"), KERNEL);
    assert!(!listing(&s.join("good")).iter().any(|n| n.starts_with(".xenguest")));
    tamper(&img, DISK, b"THE EVIL disk file!\n\n");
    s.run(&["export", "g.xenguest", "new"])
        .failure(1, &["disk/data.img", "does not match the manifest"]);
    assert!(!s.join("new").exists());
    s.mkdir("empty");
    s.run(&["export", "g.xenguest", "empty"])
        .failure(1, &["disk/data.img", "does not match the manifest"]);
    assert!(listing(&s.join("empty")).is_empty());
}
