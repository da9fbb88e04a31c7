//! Issue 11: every writer (`create`, `update`, `build`, `pack`) refuses
//! what `check` refuses, with the same words, and writes nothing; a
//! directory image is checked and verified against its manifest.

use std::fs;

use crate::support::Scratch;

/// The problem `check` names for a partition whose content is not in disk/.
const MISSING: &str = "partition 1 content `missing.tar.gz` is not in the image";

/// A directory image whose disk.cfg names a partition content it lacks
/// (made by hand: no writer makes one).
fn dir_missing_content(s: &Scratch, dir: &str) {
    s.mkdir(dir);
    s.run(&["create", dir, "--disk-size=2"]).success();
    let cfg = s.read_text(&format!("{dir}/disk.cfg"));
    s.write(
        &format!("{dir}/disk.cfg"),
        format!("{cfg}DISK_PART1=\"1000M:ext4:missing.tar.gz\"\n"),
    );
}

#[test]
fn partition_content_missing_is_refused_by_writers_and_check_alike() {
    let s = Scratch::new();
    // The writer refuses, with check's words, and writes nothing.
    s.run(&[
        "create",
        "g",
        "--disk-size=2",
        "--disk-add-part=1:1:ext4:missing.tar.gz",
    ])
    .failure(1, &["not writing `g`", MISSING, "--disk-add-file"]);
    s.run(&[
        "-q",
        "create",
        "g",
        "--disk-size=2",
        "--disk-add-part=1:1:ext4:missing.tar.gz",
    ])
    .failure(1, &[MISSING]);
    assert!(!s.exists("g") && !s.exists("g.sha256"), "{:?}", s.ls(""));
    assert!(s.stray_files().is_empty(), "{:?}", s.stray_files());
    // Adding the file in the same command makes it whole.
    s.write("missing.tar.gz", b"ROOT");
    s.create(
        "g",
        &[
            "--disk-size=2",
            "--disk-add-part=1:1:ext4:missing.tar.gz",
            "--disk-add-file=missing.tar.gz",
        ],
    );
    s.run(&["check", "g"]).success();
    // Removing it again is refused, and the image is left as it was.
    let before = s.read("g");
    s.run(&["update", "g", "--disk-rm-file=missing.tar.gz"])
        .failure(1, &["not writing `g`", MISSING]);
    assert_eq!(s.read("g"), before);

    // An image made by hand: check refuses it with the same words, and so
    // do pack and an update of its tar.
    dir_missing_content(&s, "d");
    s.run(&["check", "d"])
        .failure(1, &["`d` is not a valid xenguest image", MISSING]);
    s.run(&["pack", "d", "p.xenguest"])
        .failure(1, &["not writing `p.xenguest`", MISSING]);
    assert!(!s.exists("p.xenguest"));
    assert!(s.ext("tar", &["-C", "d", "-cf", "t.xenguest", "."]).status.success());
    s.run(&["check", "t.xenguest"]).failure(1, &[MISSING]);
    let before = s.read("t.xenguest");
    s.run(&["update", "t.xenguest", "--xen-memory=300"])
        .failure(1, &[MISSING]);
    assert_eq!(s.read("t.xenguest"), before);
    // A directory is often a partial view (extract-config leaves disk/
    // out): an update of one refuses only what it would add.
    s.run(&["update", "d", "--xen-memory=300"]).success();
    s.write("extra.cfg", b"vcpus = 2\n");
    s.run(&["update", "d", "--xen-append=extra.cfg"]).success();
}

#[test]
fn text_members_must_be_utf8_without_carriage_returns() {
    let s = Scratch::new();
    s.write("bad.cfg", b"on_crash = \"destroy\"\nextra = \"\xff\"\n");
    s.write("crlf.sh", b"#!/bin/sh\r\necho hi\r\n");
    s.write("good.cfg", b"on_crash = \"destroy\"\n");
    let utf8 = ["`guest.d/bad.cfg` is not UTF-8 text", "byte 30", "line 2"];
    let cr = ["`init.d/crlf.sh` contains a carriage return", "byte 9", "line 1"];
    s.run(&["create", "g", "--xen-append=bad.cfg"]).failure(1, &utf8);
    s.run(&["create", "g", "--init-script=crlf.sh"]).failure(1, &cr);
    s.run(&["create", "g", "--init-pre=crlf.sh"])
        .failure(1, &["`init.pre/crlf.sh` contains a carriage return"]);
    assert!(!s.exists("g") && !s.exists("g.sha256"));
    s.create("g", &["--xen-append=good.cfg"]);
    let before = s.read("g");
    s.run(&["update", "g", "--xen-append=bad.cfg"]).failure(1, &utf8);
    s.run(&["update", "g", "--init-post=crlf.sh"])
        .failure(1, &["`init.post/crlf.sh` contains a carriage return"]);
    assert_eq!(s.read("g"), before);

    // build refuses the same files named in a TOML.
    s.write(
        "spec.toml",
        "[xen]\nconfig = [\"bad.cfg\"]\n[init]\nscripts = [\"crlf.sh\"]\n",
    );
    s.run(&["build", "spec.toml", "-o", "b.xenguest"])
        .failure(1, &utf8)
        .failure(1, &cr);
    assert!(!s.exists("b.xenguest"));

    // check finds them in an image made by hand, in the same words, and
    // pack refuses such a directory.
    s.mkdir("d");
    s.run(&["create", "d"]).success();
    s.write("d/guest.d/bad.cfg", s.read("bad.cfg"));
    s.write("d/init.d/crlf.sh", s.read("crlf.sh"));
    s.run(&["check", "d"]).failure(1, &utf8).failure(1, &cr);
    s.run(&["pack", "d", "p.xenguest"]).failure(1, &utf8);
    assert!(!s.exists("p.xenguest"));
    // Also the configuration files the host sources, as stored: a CRLF
    // params.cfg would give bash values ending in a carriage return.
    s.mkdir("e");
    s.run(&["create", "e"]).success();
    let params = s.read_text("e/params.cfg").replace('\n', "\r\n");
    s.write("e/params.cfg", params);
    s.run(&["check", "e"])
        .failure(1, &["`params.cfg` contains a carriage return"]);
    s.write("e/params.cfg", b"GUEST_AUTOBOOT=\"\xfe\"\n");
    s.run(&["check", "e"])
        .failure(1, &["`params.cfg` is not UTF-8 text", "byte 16", "line 1"]);
}

#[test]
fn a_directory_is_checked_and_verified_against_its_manifest() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("rootfs.tar.gz", b"ROOTFS");
    s.create(
        "g",
        &[
            "--xen-kernel=Image",
            "--disk-size=3",
            "--disk-add-file=rootfs.tar.gz",
            "--disk-add-part=1:1:ext4:rootfs.tar.gz",
        ],
    );
    s.mkdir("x");
    s.run(&["extract", "g", "x"]).success();
    assert_eq!(s.read("x/manifest.sha256"), s.member("g", "manifest.sha256"));
    s.run(&["check", "x"]).success().stdout_has(&["Image is OK"]);
    s.run(&["verify", "x"]).success().stdout_has(&["x: OK (manifest"]);
    // A member changed behind the tool's back: both name it.
    s.write("x/files/kernel", b"EVIL");
    s.run(&["check", "x"])
        .failure(1, &["member `./files/kernel` does not match the manifest"]);
    s.run(&["verify", "x"])
        .failure(1, &["member `./files/kernel` does not match the manifest"]);
    // A writer of the directory keeps the manifest of what it writes and
    // never blesses what it did not write.
    s.run(&["update", "x", "--xen-memory=300"]).success();
    s.run(&["check", "x"]).failure(1, &["./files/kernel"]);
    s.run(&["update", "x", "--xen-kernel=Image"]).success();
    s.run(&["check", "x"]).success();
    s.run(&["verify", "x"]).success();
    // A removed member loses its line; an added one gets one.
    s.write("extra.cfg", b"vcpus = 2\n");
    s.run(&["update", "x", "--xen-append=extra.cfg"]).success();
    assert!(s.read_text("x/manifest.sha256").contains("  ./guest.d/extra.cfg\n"));
    s.run(&["verify", "x"]).success();
    // extract-config leaves disk/ out, and its manifest too.
    s.mkdir("c");
    s.run(&["extract-config", "g", "c"]).success();
    assert!(!s.read_text("c/manifest.sha256").contains("./disk/"));
    s.run(&["verify", "c"]).success();
    s.run(&["update", "c", "--xen-name=guest1"]).success();
    s.run(&["verify", "c"]).success();
    // A member the manifest lists but the directory lacks.
    fs::remove_file(s.join("x/guest.d/extra.cfg")).unwrap();
    s.run(&["verify", "x"]).failure(
        1,
        &["manifest lists `./guest.d/extra.cfg` but the image has no such member"],
    );
}
