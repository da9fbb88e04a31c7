//! Faults: broken input gets a clear error naming it (never a panic, never
//! exit code 101), a failed update changes nothing, concurrent updates are
//! serialised, and a SIGKILL never leaves a partial image.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::hostile::{assert_refused, listing, pax_record, raw_header, Tar, DISK, GUEST, PARAMS};
use crate::support::{bin, Scratch};

/// A tool-made image with a 3000-byte kernel (so its data spans blocks), a
/// disk file and an init script.
fn made_image(s: &Scratch) -> Vec<u8> {
    s.write("Image", vec![b'k'; 3000]);
    s.write("root.tar", b"rootfs");
    s.write("start.sh", b"#!/bin/sh\n");
    s.run(&[
        "create",
        "g.xenguest",
        "--xen-kernel=Image",
        "--disk-size=1G",
        "--disk-add-file=root.tar",
        "--disk-add-part=1:500M:ext4:root.tar",
        "--init-script=start.sh",
    ])
    .success();
    fs::read(s.join("g.xenguest")).unwrap()
}

/// Offset of the data of `name` in a tar image, and its size.
fn member_data(bytes: &[u8], name: &str) -> (usize, usize) {
    let mut archive = tar::Archive::new(bytes);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        if e.path_bytes().as_ref() == name.as_bytes() {
            return (
                usize::try_from(e.raw_file_position()).unwrap(),
                usize::try_from(e.size()).unwrap(),
            );
        }
    }
    panic!("no member {name}");
}

// ---------------------------------------------------------------------------
// Broken archives.

#[test]
fn truncated_images_are_refused() {
    let s = Scratch::new();
    let bytes = made_image(&s);
    let (kernel, len) = member_data(&bytes, "./files/kernel");
    assert!(len == 3000);
    for cut in [
        1,
        100,
        511,
        512 + 100,
        kernel - 200,       // inside the kernel's header
        kernel + 1,         // inside its data
        kernel + 512,       // at a block boundary inside its data
        kernel + len - 1,   // one byte short
        bytes.len() - 1500, // inside the manifest or params.cfg
    ] {
        let cut_bytes = &bytes[..cut];
        assert_refused(cut_bytes, "truncated");
    }
}

#[test]
fn corrupted_headers_are_refused() {
    let s = Scratch::new();
    let bytes = made_image(&s);
    // A flipped bit in the second header's name.
    let mut flipped = bytes.clone();
    flipped[512 + 3] ^= 0x20;
    assert_refused(&flipped, "header checksum mismatch at byte 512");
    // A checksum field that is not octal.
    let mut garbled = bytes.clone();
    garbled[148..156].copy_from_slice(b"zzzzzzz\0");
    assert_refused(&garbled, "not a tar archive");
    // Text, and random bytes.
    assert_refused(&b"GUEST_AUTOBOOT=\"1\"\n".repeat(100), "not a tar archive");
    let mut x: u32 = 0x1234_5678;
    let noise: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    assert_refused(&noise, "not a tar archive");
}

#[test]
fn absurd_sizes_in_headers_are_refused() {
    // Octal 8 GiB, base-256 2^62 and 2^64-1, with no data behind them.
    for size in [0o777_7777_7777, 1 << 62, u64::MAX - 100, u64::MAX] {
        let h = raw_header(b"./files/big", b'0', size, b"");
        let mut t = Tar::base();
        t.0.extend_from_slice(h.as_bytes());
        let needle = if size > u64::MAX - 1024 {
            "absurd member size"
        } else {
            "truncated: member `./files/big` needs"
        };
        assert_refused(&t.finish(), needle);
    }
    // A size field that is not a number.
    let mut h = raw_header(b"./files/big", b'0', 0, b"");
    h.as_old_mut().size = *b"9999zzzz\0\0\0\0";
    h.set_cksum();
    let mut t = Tar::base();
    t.0.extend_from_slice(h.as_bytes());
    assert_refused(&t.finish(), "corrupted size field");
}

#[test]
fn malformed_extension_headers_are_refused() {
    for (records, needle) in [
        (b"999 path=x\n".to_vec(), "malformed pax header"),
        (b"5 a=b\n".to_vec(), "malformed pax header"),
        (b"x path=a\n".to_vec(), "malformed pax header"),
        (b"12 pathxyz\n\n".to_vec(), "malformed pax header"),
        (pax_record("size", b"abc"), "malformed pax size"),
        (pax_record("size", b"-1"), "malformed pax size"),
        (pax_record("size", b"18446744073709551616"), "malformed pax size"),
        (pax_record("size", b"18446744073709551615"), "absurd member size"),
        // busybox reads the header's size field, not the pax record.
        (
            pax_record("size", b"99999999999"),
            "differs from its header's size field",
        ),
        // GNU tar stops a value at a NUL, Python keeps it.
        (pax_record("path", b"./a\0b"), "contains a NUL byte"),
    ] {
        let bytes = Tar::base().pax(&records).file("./files/x", "data").finish();
        assert_refused(&bytes, needle);
    }
    // An extension header as the last member.
    let bytes = Tar::base().pax(&pax_record("path", b"./files/x")).finish();
    assert_refused(&bytes, "an extension header is not followed by a member");
    let bytes = Tar::base().raw(b"././@LongLink", b'L', b"", b"./files/x\0").finish();
    assert_refused(&bytes, "an extension header is not followed by a member");
    // An extension header too large to be honest (the data is there).
    let big = vec![b'a'; 2 << 20];
    let bytes = Tar::base().pax(&big).file("./files/x", "data").finish();
    assert_refused(&bytes, "is too large");
}

#[test]
fn broken_gzip_is_refused() {
    let s = Scratch::new();
    let bytes = made_image(&s);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    assert_refused(&gz[..gz.len() / 2], "cannot decompress");
    let mut garbage = vec![0x1f, 0x8b];
    garbage.extend_from_slice(b"not deflate at all");
    assert_refused(&garbage, "cannot decompress");
}

#[test]
fn empty_and_non_image_files_are_refused() {
    let s = Scratch::new();
    s.write("empty", b"");
    s.run(&["check", "empty"])
        .failure(1, &["`empty` is not a valid xenguest image", "missing"]);
    s.write(
        "g.xenguest",
        Tar::default().dir("./").file("./params.cfg", PARAMS).finish(),
    );
    s.run(&["check", "g.xenguest"])
        .failure(1, &["`guest.cfg`, `disk.cfg`", "missing"]);
    let big_cfg = Tar::default()
        .dir("./")
        .file("./disk.cfg", DISK)
        .file("./guest.cfg", GUEST)
        .file("./params.cfg", vec![b'#'; 5 << 20])
        .finish();
    s.write("big.xenguest", &big_cfg);
    s.run(&["check", "big.xenguest"])
        .failure(1, &["params.cfg", "allowed for a configuration file"]);
    let binary = Tar::default()
        .dir("./")
        .file("./disk.cfg", DISK)
        .file("./guest.cfg", b"\xff\xfe")
        .file("./params.cfg", PARAMS)
        .finish();
    s.write("bin.xenguest", &binary);
    s.run(&["check", "bin.xenguest"])
        .failure(1, &["guest.cfg", "not UTF-8"]);
    // A FIFO: opening it to take the lock would wait for a writer forever.
    std::process::Command::new("mkfifo")
        .arg(s.join("fifo"))
        .status()
        .unwrap();
    for cmd in [
        &["update", "fifo", "--set-param=A=1"][..],
        &["check", "fifo"],
        &["extract", "fifo", "."],
    ] {
        let mut child = spawn(&s, cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{cmd:?} hangs on a FIFO");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {err}");
        assert!(
            err.contains("fifo") && err.contains("neither a regular file nor a directory"),
            "{cmd:?}: {err}"
        );
    }
    for special in ["/dev/null", "/dev/zero"] {
        s.run(&["check", special])
            .failure(1, &[special, "neither a regular file nor a directory"]);
        s.run(&["update", special, "--set-param=A=1"]).failure(1, &[special]);
    }
}

// ---------------------------------------------------------------------------
// Absurd values, missing files, wrong kinds of file, bad TOML.

#[test]
fn absurd_numbers_are_refused() {
    let s = Scratch::new();
    for (arg, option) in [
        ("--xen-memory=-1", "--xen-memory"),
        ("--xen-memory=0", "--xen-memory"),
        ("--xen-memory=1.5", "--xen-memory"),
        ("--xen-memory=99999999999999999999999", "--xen-memory"),
        ("--xen-memory=17179869185", "--xen-memory"),
        ("--xen-vcpus=two", "--xen-vcpus"),
        ("--xen-vcpus=0", "--xen-vcpus"),
        ("--xen-vcpus=4097", "--xen-vcpus"),
        ("--xen-vcpus=+1", "--xen-vcpus"),
        ("--disk-size=-1", "--disk-size"),
        ("--disk-size=1T", "--disk-size"),
        ("--disk-size=18446744073709551615G", "--disk-size"),
        ("--disk-size=18446744073709551615", "--disk-size"),
        ("--disk-size=99999999999999999999M", "--disk-size"),
        ("--disk-size=", "--disk-size"),
        ("--disk-add-part=9:1G::", "--disk-add-part"),
        ("--disk-add-part=0:1G::", "--disk-add-part"),
        ("--disk-add-part=-1:1G::", "--disk-add-part"),
        ("--disk-add-part=1:-1G::", "--disk-add-part"),
        ("--disk-add-part=1:18446744073709551615M::", "--disk-add-part"),
        ("--disk-add-part=1:0::", "--disk-add-part"),
        ("--disk-add-part=1:1G:ntfs:", "--disk-add-part"),
        ("--disk-add-part=1:1G:ext4:a.zip", "--disk-add-part"),
        ("--disk-add-part=::::", "--disk-add-part"),
        ("--disk-rm-part=5", "--disk-rm-part"),
        ("--disk-rm-part=99999999999999999999", "--disk-rm-part"),
    ] {
        s.run(&["create", "g.xenguest", arg]).failure(1, &[option]);
    }
    // Partitions must fit the disk, whatever the order of magnitude.
    s.run(&["create", "g.xenguest", "--disk-size=1G", "--disk-add-part=1:2G::"])
        .failure(1, &["--disk-add-part", "free"]);
    s.run(&[
        "create",
        "g.xenguest",
        "--disk-size=17592186044G",
        "--disk-add-part=1:17592186044G::",
        "--disk-add-part=2:17592186044G::",
    ])
    .failure(1, &["--disk-add-part", "free"]);
    // Epochs: clap refuses a negative one (usage, 2); the variable is ours.
    s.run(&["create", "g.xenguest", "--source-date-epoch=-1"])
        .failure(2, &["-1"]);
    s.cmd(&["create", "g.xenguest"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .run()
        .failure(1, &["SOURCE_DATE_EPOCH", "yesterday"]);
    // Times past the octal header field (year 2242) would need base-256
    // fields, which GNU tar on the host refuses to list.
    s.run(&["create", "g.xenguest", "--source-date-epoch=18446744073709551615"])
        .failure(1, &["--source-date-epoch", "18446744073709551615"]);
    s.cmd(&["create", "g.xenguest"])
        .env("SOURCE_DATE_EPOCH", "8589934592")
        .run()
        .failure(1, &["SOURCE_DATE_EPOCH", "8589934592"]);
    assert!(!s.join("g.xenguest").exists());
    s.run(&["create", "g.xenguest", "--source-date-epoch=8589934591"])
        .success();
    let out = s.ext("tar", &["-tvf", "g.xenguest"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = fs::read(s.join("g.xenguest")).unwrap();
    s.run(&[
        "update",
        "g.xenguest",
        "--set-param=A=1",
        "--source-date-epoch=8589934592",
    ])
    .failure(1, &["--source-date-epoch"]);
    assert_eq!(fs::read(s.join("g.xenguest")).unwrap(), before);
}

#[test]
fn absurd_numbers_in_toml_are_refused() {
    let s = Scratch::new();
    for (toml, needles) in [
        ("[guest]\nmemory = -5\n", &["guest.memory", "-5"][..]),
        ("[guest]\nmemory = 9223372036854775807\n", &["guest.memory"]),
        ("[guest]\nmemory = 99999999999999999999999\n", &["line 2"]),
        ("[guest]\nvcpus = \"two\"\n", &["line 2", "column 9"]),
        ("[guest]\nvcpus = 0\n", &["guest.vcpus"]),
        ("[guest]\nvcpus = 1.5\n", &["line 2"]),
        ("[disk]\nsize = \"99999999999999999999G\"\n", &["disk.size"]),
        ("[disk]\nsize = 4\n", &["line 2"]),
        (
            "[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 9\nsize = \"1M\"\n",
            &["disk.partitions #1", "line 3", "`9`"],
        ),
        (
            "[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = -1\nsize = \"1M\"\n",
            &["disk.partitions #1"],
        ),
        (
            "[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"2G\"\n",
            &["disk.partitions #1", "free", "disk.size"],
        ),
        ("[xen.settings]\nmaxmem = -1\n", &["xen.settings.maxmem", "negative"]),
        ("[xen.settings]\nmaxmem = 1.5\n", &["xen.settings.maxmem"]),
    ] {
        s.write("g.toml", toml);
        let mut all = vec!["g.toml"];
        all.extend_from_slice(needles);
        s.run(&["build", "g.toml", "-o", "g.xenguest"]).failure(1, &all);
        assert!(!s.join("g.xenguest").exists(), "{toml}");
    }
}

#[test]
fn bad_toml_names_line_and_column() {
    let s = Scratch::new();
    for (toml, needles) in [
        ("[guest]\nmemory = \n", &["line 2, column"][..]),
        ("[guest]\nmemory = 512\nmemroy = 1\n", &["line 3, column 1", "memroy"]),
        ("[gust]\nmemory = 1\n", &["line 1", "gust"]),
        (
            "[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"1M\"\nbogus = 1\n",
            &["line 6", "bogus"],
        ),
        ("[guest]\nname = \"unterminated\n", &["line 2"]),
        ("[guest]\nname = \"a\"\n[guest]\nname = \"b\"\n", &["line 3"]),
        ("\u{feff}[guest]\nname = 1\n", &["line 2"]),
        ("[guest]\nname = \"日本\"\nbad key = 1\n", &["line 3, column"]),
    ] {
        s.write("g.toml", toml);
        let mut all = vec!["g.toml"];
        all.extend_from_slice(needles);
        s.run(&["build", "g.toml", "-o", "g.xenguest"]).failure(1, &all);
    }
    s.write("g.toml", b"[guest]\nname = \"\xff\"\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["g.toml", "UTF-8"]);
    s.run(&["build", "missing.toml"]).failure(1, &["missing.toml"]);
    // The output is renamed into place: never over a device or a FIFO.
    s.write("ok.toml", "[guest]\nmemory = 512\n");
    std::process::Command::new("mkfifo")
        .arg(s.join("out.fifo"))
        .status()
        .unwrap();
    s.run(&["build", "ok.toml", "-o", "out.fifo"])
        .failure(1, &["out.fifo", "not a regular file"]);
    assert!(fs::symlink_metadata(s.join("out.fifo")).unwrap().file_type().is_fifo());
    s.mkdir("dir.toml");
    s.run(&["build", "dir.toml"]).failure(1, &["dir.toml"]);
    assert!(!s.join("g.xenguest").exists());
}

#[test]
fn missing_files_and_directories_are_named() {
    let s = Scratch::new();
    s.mkdir("somedir");
    for option in [
        "--xen-kernel",
        "--xen-device-tree",
        "--xen-ramdisk",
        "--xen-append",
        "--xen-add-file",
        "--init-pre",
        "--init-script",
        "--init-post",
        "--disk-add-file",
    ] {
        s.run(&["create", "g.xenguest", &format!("{option}=nope")])
            .failure(1, &[option, "nope", "no such file"]);
        s.run(&["create", "g.xenguest", &format!("{option}=somedir")])
            .failure(1, &[option, "somedir", "not a regular file"]);
    }
    s.write("g.toml", "[guest]\nkernel = \"nope\"\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["g.toml", "guest.kernel", "nope"]);
    s.write("g.toml", "[disk]\nfiles = { \"a.img\" = \"somedir\" }\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["g.toml", "somedir", "not a regular file"]);
    assert!(!s.join("g.xenguest").exists());

    // Images that are not there or not the right kind of thing.
    for cmd in ["check", "verify", "dump-xenconfig", "dump-init"] {
        s.run(&[cmd, "nope.xenguest"]).failure(1, &["nope.xenguest"]);
    }
    s.run(&["update", "nope.xenguest", "--set-param=A=1"])
        .failure(1, &["nope.xenguest"]);
    s.run(&["extract", "nope.xenguest", "somedir"])
        .failure(1, &["nope.xenguest"]);
    s.run(&["extract-disk-file", "nope.xenguest", "a.img"])
        .failure(1, &["nope.xenguest"]);
    s.run(&["pack", "nope", "out.xenguest"]).failure(1, &["nope"]);
    made_image(&s);
    s.run(&["extract", "g.xenguest", "nope-dir"])
        .failure(1, &["nope-dir", "not an existing directory"]);
    s.run(&["extract", "g.xenguest", "Image"])
        .failure(1, &["Image", "not an existing directory"]);
    s.run(&["extract", "somedir", "somedir"])
        .failure(1, &["somedir", "is a directory"]);
    s.run(&["extract-disk-file", "g.xenguest", "nope.img"])
        .failure(1, &["nope.img"]);
    s.run(&["extract-disk-file", "g.xenguest", "../g.xenguest"])
        .failure(1, &["DISKFILE"]);
    s.run(&["pack", "g.xenguest", "out.xenguest"])
        .failure(1, &["g.xenguest", "not a directory"]);
    s.run(&["create", "g.xenguest"])
        .failure(1, &["g.xenguest", "already exists"]);
    // A directory image whose params.cfg is a directory, or a link.
    s.mkdir("dimg");
    s.run(&["create", "dimg"]).success();
    fs::remove_file(s.join("dimg/params.cfg")).unwrap();
    s.mkdir("dimg/params.cfg");
    s.run(&["check", "dimg"]).failure(1, &["dimg", "params.cfg", "missing"]);
    s.run(&["update", "dimg", "--set-param=A=1"])
        .failure(1, &["dimg", "params.cfg"]);
    fs::remove_dir(s.join("dimg/params.cfg")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.join("dimg/params.cfg")).unwrap();
    s.run(&["check", "dimg"])
        .failure(1, &["dimg", "params.cfg", "link or special file"]);
    s.run(&["pack", "dimg", "out.xenguest"])
        .failure(1, &["params.cfg", "link or special file"]);
    assert!(!s.join("out.xenguest").exists());
}

// ---------------------------------------------------------------------------
// Nothing lost: failed updates, concurrent updates, SIGKILL.

#[test]
fn failed_updates_leave_the_image_byte_identical() {
    let s = Scratch::new();
    let before = made_image(&s);
    let sidecar = fs::read(s.join("g.xenguest.sha256")).unwrap();
    s.mkdir("somedir");
    let names = listing(s.path());
    for args in [
        &["--set-param=A=1", "--xen-kernel=missing"][..],
        &["--set-param=A=1", "--disk-add-part=2:2G::"],
        &["--xen-memory=64", "--xen-add-file=somedir"],
        &["--disk-rm-file=root.tar", "--set-param=B=$(id)"],
        &["--xen-name=ok", "--init-script=somedir"],
    ] {
        let mut all = vec!["update", "g.xenguest"];
        all.extend_from_slice(args);
        s.run(&all).failure(1, &[]);
        assert_eq!(fs::read(s.join("g.xenguest")).unwrap(), before, "{args:?}");
        assert_eq!(fs::read(s.join("g.xenguest.sha256")).unwrap(), sidecar, "{args:?}");
        assert_eq!(listing(s.path()), names, "{args:?}: files left behind");
    }
    s.run(&["verify", "g.xenguest"]).success();
}

/// A large sparse input file: reading it costs time but no disk space.
fn sparse(s: &Scratch, name: &str, len: u64) {
    let f = fs::File::create(s.join(name)).unwrap();
    f.set_len(len).unwrap();
}

/// Starts the tool in the background.
fn spawn(s: &Scratch, args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .current_dir(s.path())
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Hidden temporary files of `name` in `dir` (`.NAME.XXXXXX.tmp`).
fn temp_files(dir: &Path, name: &str) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(&format!(".{name}.")) && Path::new(n).extension().is_some_and(|e| e == "tmp"))
        .collect()
}

/// Waits until a temporary file of `name` holds at least `bytes` bytes,
/// i.e. the tool is in the middle of writing it.
fn wait_for_temp(s: &Scratch, child: &mut Child, name: &str, bytes: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let grown = temp_files(s.path(), name)
            .iter()
            .any(|t| fs::metadata(s.join(t)).is_ok_and(|m| m.len() >= bytes));
        if grown {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn sigkill_during_create_leaves_no_image() {
    let s = Scratch::new();
    sparse(&s, "rootfs.img", 2 << 30);
    let mut child = spawn(&s, &["create", "big.xenguest", "--disk-add-file=rootfs.img"]);
    assert!(
        wait_for_temp(&s, &mut child, "big.xenguest", 16 << 20),
        "the write finished or never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!s.join("big.xenguest").exists(), "a partial image at the destination");
    assert!(!s.join("big.xenguest.sha256").exists());
    // The temporary file leaks: nothing can remove it after SIGKILL. It is
    // hidden and named after the image, so it is easy to clean up.
    let leaked = temp_files(s.path(), "big.xenguest");
    assert!(leaked.len() <= 1, "{leaked:?}");
    let mut others = listing(s.path());
    others.retain(|n| !leaked.contains(n));
    assert_eq!(others, ["rootfs.img"]);
}

#[test]
fn sigkill_during_update_keeps_the_previous_image() {
    let s = Scratch::new();
    let before = made_image(&s);
    let sidecar = fs::read(s.join("g.xenguest.sha256")).unwrap();
    sparse(&s, "rootfs.img", 2 << 30);
    let mut child = spawn(&s, &["update", "g.xenguest", "--disk-add-file=rootfs.img"]);
    assert!(
        wait_for_temp(&s, &mut child, "g.xenguest", 16 << 20),
        "the write finished or never started"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fs::read(s.join("g.xenguest")).unwrap(), before, "the image changed");
    assert_eq!(fs::read(s.join("g.xenguest.sha256")).unwrap(), sidecar);
    s.run(&["verify", "g.xenguest"]).success();
    assert!(temp_files(s.path(), "g.xenguest").len() <= 1);
    // The kernel dropped the killed process's lock: the next update runs.
    s.run(&["update", "g.xenguest", "--set-param=AFTER=1"]).success();
    s.run(&["verify", "g.xenguest"]).success();
}

/// SIGKILL at many points of an update: the image is always the old one or
/// the new one, complete, never anything in between.
#[test]
fn sigkill_at_any_moment_leaves_old_or_new() {
    let s = Scratch::new();
    made_image(&s);
    sparse(&s, "part.img", 8 << 20);
    let old = fs::read(s.join("g.xenguest")).unwrap();
    let old_sidecar = fs::read(s.join("g.xenguest.sha256")).unwrap();
    // The image the update makes, built on a copy to know its bytes.
    fs::copy(s.join("g.xenguest"), s.join("ref.xenguest")).unwrap();
    let started = Instant::now();
    s.run(&["update", "ref.xenguest", "--disk-add-file=part.img"]).success();
    let full = started.elapsed();
    let new_len = fs::metadata(s.join("ref.xenguest")).unwrap().len();
    let new_sum = fs::read_to_string(s.join("ref.xenguest.sha256")).unwrap();
    let new_sum = new_sum.split_whitespace().next().unwrap().to_owned();
    let mut seen = [0u32; 2];
    // Kill points spread over the time a whole update takes, and beyond.
    for percent in [0u32, 2, 5, 10, 25, 50, 75, 90, 100, 110, 150, 300] {
        let delay = full * percent / 100;
        fs::write(s.join("g.xenguest"), &old).unwrap();
        fs::write(s.join("g.xenguest.sha256"), &old_sidecar).unwrap();
        let mut child = spawn(&s, &["update", "g.xenguest", "--disk-add-file=part.img"]);
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        let len = fs::metadata(s.join("g.xenguest")).unwrap().len();
        if len == new_len {
            let sum = crate::support::sha256sum(&s.join("g.xenguest"));
            assert_eq!(sum, new_sum, "after {delay:?}: a new image with other bytes");
            seen[1] += 1;
        } else {
            assert_eq!(
                fs::read(s.join("g.xenguest")).unwrap(),
                old,
                "after {delay:?}: neither old nor new"
            );
            seen[0] += 1;
        }
        // The image and its sidecar are two files: a kill after the image
        // was renamed into place and before its sidecar was leaves the old
        // sidecar, which `check` then names (it never blesses a pair that
        // does not match).
        if len == new_len && fs::read(s.join("g.xenguest.sha256")).unwrap() == old_sidecar {
            s.run(&["check", "g.xenguest"])
                .failure(1, &["does not match `g.xenguest.sha256`"]);
        } else {
            s.run(&["check", "g.xenguest"]).success();
        }
        for t in temp_files(s.path(), "g.xenguest") {
            fs::remove_file(s.join(&t)).unwrap();
        }
    }
    eprintln!(
        "update takes {full:?}; killed: old image kept {} times, new image complete {} times",
        seen[0], seen[1]
    );
}

#[test]
fn concurrent_updates_all_land() {
    const N: usize = 8;
    let s = Scratch::new();
    made_image(&s);
    s.mkdir("dimg");
    s.run(&["create", "dimg"]).success();
    for image in ["g.xenguest", "dimg"] {
        let children: Vec<(usize, Child)> = (0..N)
            .map(|i| (i, spawn(&s, &["update", image, &format!("--set-param=K{i}=V{i}")])))
            .collect();
        for (i, c) in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{image}: update {i} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let params = s.run(&["dump-paramsconfig", image]).success().stdout();
        for i in 0..N {
            assert!(
                params.contains(&format!("K{i}=\"V{i}\"\n")),
                "{image}: K{i} lost:\n{params}"
            );
        }
        s.run(&["check", image]).success();
    }
    s.run(&["verify", "g.xenguest"]).success();
    assert_eq!(temp_files(s.path(), "g.xenguest"), Vec::<String>::new());
}

/// Sends `signal` (a `kill -s` name) to a running child.
fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Ctrl-C or `kill` (SIGINT, SIGTERM) during a write: unlike SIGKILL, the
/// tool stops cleanly, removes its temporary file and exits with 130.
#[test]
fn sigint_and_sigterm_leave_nothing_behind() {
    for name in ["INT", "TERM"] {
        let s = Scratch::new();
        let before = made_image(&s);
        sparse(&s, "rootfs.img", 2 << 30);
        for args in [
            ["create", "big.xenguest", "--disk-add-file=rootfs.img"],
            ["update", "g.xenguest", "--disk-add-file=rootfs.img"],
        ] {
            let mut child = spawn(&s, &args);
            assert!(
                wait_for_temp(&s, &mut child, args[1], 16 << 20),
                "the write finished or never started"
            );
            signal(&child, name);
            let out = child.wait_with_output().unwrap();
            assert_eq!(out.status.code(), Some(130), "SIG{name} {args:?}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
            assert_eq!(
                temp_files(s.path(), args[1]),
                Vec::<String>::new(),
                "SIG{name} {args:?}"
            );
        }
        assert!(!s.join("big.xenguest").exists());
        assert_eq!(
            fs::read(s.join("g.xenguest")).unwrap(),
            before,
            "SIG{name} changed the image"
        );
        s.run(&["verify", "g.xenguest"]).success();
    }
}
