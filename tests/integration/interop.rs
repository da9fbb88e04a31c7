//! Issue 2: GNU tar and Python's tarfile read our images, and we read
//! images made the classic way (`tar -C DIR -cf IMG .`).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{data, external, sha256sum, xl_settings, Scratch};

/// 8 GiB + 1: one byte more than a ustar size field holds.
const OVER_8_GIB: u64 = 8 * 1024 * 1024 * 1024 + 1;

/// A classic image: the fixture directory, with the modes the classic tool
/// leaves (git keeps only the executable bit), tarred as its `pack` does.
fn classic_image(s: &Scratch) -> &'static str {
    let dir = s.copy_tree(&data("classic"), "classic");
    for exec in ["init.d/10-setup.sh", "init.pre/00-prepare.sh", "guest.d/net.cfg"] {
        fs::set_permissions(dir.join(exec), fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = s.ext("tar", &["-C", "classic", "-cf", "classic.xenguest", "."]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    "classic.xenguest"
}

#[test]
fn gnu_tar_reads_our_images_as_old_hosts_do() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("init.sh", "#!/bin/sh\n");
    s.create(
        "g.xenguest",
        &[
            "--xen-kernel=Image",
            "--init-script=init.sh",
            "--set-param=XENGUEST_NETWORK_TYPE=nat",
        ],
    );
    // The old host's validity check.
    let out = s.ext(
        "tar",
        &["-tvf", "g.xenguest", "./guest.cfg", "./disk.cfg", "./params.cfg"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    // The old host's params read.
    let out = s.ext("tar", &["-xOf", "g.xenguest", "./params.cfg"]);
    assert!(out.status.success());
    let params = String::from_utf8(out.stdout).unwrap();
    assert!(params.contains("XENGUEST_NETWORK_TYPE=\"nat\""), "{params}");
    let dumped = s.run(&["dump-paramsconfig", "g.xenguest"]).success().stdout();
    assert!(dumped.contains(&params), "dump-paramsconfig:\n{dumped}\ntar:\n{params}");
    // Every name carries the `./` prefix; directories come before content.
    let names = s.tar_names("g.xenguest");
    assert_eq!(names[0], "./");
    for n in &names {
        assert!(n.starts_with("./"), "{n}");
    }
    let dir_at = names.iter().position(|n| n == "./init.d/").unwrap();
    let file_at = names.iter().position(|n| n == "./init.d/init.sh").unwrap();
    assert!(dir_at < file_at, "{names:?}");
    // GNU tar extracts it as the classic `extract` did.
    s.mkdir("x");
    let out = s.ext("tar", &["-C", "x", "-xf", "g.xenguest"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.read("x/files/kernel"), b"KERNEL");
    assert_eq!(s.mode("x/init.d/init.sh") & 0o111, 0o111);
}

#[test]
fn classic_images_are_checked_dumped_and_updated() {
    let s = Scratch::new();
    let img = classic_image(&s);
    s.run(&["check", img]).success().stdout_has(&["Image is OK"]);
    s.run(&["check", "classic"]).success();
    s.run(&["dump-xenconfig", img]).success().stdout_has(&[
        "Xenguest-image main configuraiton",
        "memory = 512",
        "kernel = \"files/kernel\"",
        "vif = ['bridge=xenbr0']",
    ]);
    s.run(&["dump-diskconfig", img])
        .success()
        .stdout_has(&["DISK_PART1=\"2G:ext4:rootfs.tar.gz\""]);
    s.run(&["dump-paramsconfig", img])
        .success()
        .stdout_has(&["XENGUEST_NETWORK_TYPE=\"bridge\""]);
    s.run(&["dump-init", img])
        .success()
        .stdout_has(&["xenstore-write", "preparing ${guestname}"]);
    let rootfs = s
        .run(&["extract-disk-file", img, "rootfs.tar.gz"])
        .success()
        .out
        .stdout
        .clone();
    assert_eq!(rootfs, fs::read(data("classic/disk/rootfs.tar.gz")).unwrap());

    let before_cfg = s.member_text(img, "guest.cfg");
    s.update(img, &["--xen-memory=256", "--set-param=GUEST_AUTOBOOT=0"]);
    s.run(&["check", img]).success();
    // Members we do not know, and every member we did not touch, survive.
    for member in [
        "notes/README",
        "guest.d/net.cfg",
        "guest.d/kernel.cfg",
        "files/kernel",
        "disk/rootfs.tar.gz",
        "disk.cfg",
        "init.d/10-setup.sh",
        "init.pre/00-prepare.sh",
    ] {
        let original = fs::read(data("classic").join(member)).unwrap();
        assert_eq!(s.member(img, member), original, "{member} changed");
    }
    // guest.cfg: only the memory line changed, comments and typo kept.
    let after_cfg = s.member_text(img, "guest.cfg");
    assert_eq!(after_cfg, before_cfg.replace("memory = 512", "memory = 256"));
    let params = s.member_text(img, "params.cfg");
    assert!(params.contains("GUEST_AUTOBOOT=\"0\"") && params.contains("XENGUEST_NETWORK_TYPE=\"bridge\""));
    let listing = s.tar_verbose(img);
    for script in ["./init.d/10-setup.sh", "./init.pre/00-prepare.sh"] {
        let line = listing.lines().find(|l| l.ends_with(script)).unwrap();
        assert!(line.starts_with("-rwxr-xr-x"), "{line}");
    }
    // Still what an old host accepts.
    let out = s.ext("tar", &["-tvf", img, "./guest.cfg", "./disk.cfg", "./params.cfg"]);
    assert!(out.status.success());
}

#[test]
fn classic_directory_images_are_updated_in_place() {
    let s = Scratch::new();
    classic_image(&s);
    s.write("Image2", b"NEW KERNEL");
    s.run(&["update", "classic", "--xen-kernel=Image2", "--xen-vcpus=2"])
        .success();
    assert_eq!(s.read("classic/files/kernel"), b"NEW KERNEL");
    assert_eq!(
        s.read("classic/notes/README"),
        fs::read(data("classic/notes/README")).unwrap()
    );
    let merged = s.read_text("classic/guest.cfg") + &s.read_text("classic/guest.d/kernel.cfg");
    let xl = xl_settings(&merged);
    assert_eq!((xl["vcpus"].as_str(), xl["kernel"].as_str()), ("2", "\"files/kernel\""));
    s.run(&["pack", "classic", "repacked.xenguest"]).success();
    assert_eq!(
        s.member("repacked.xenguest", "notes/README"),
        s.read("classic/notes/README")
    );
}

#[test]
fn tars_from_other_machines_and_formats_are_normalised_on_update() {
    let s = Scratch::new();
    classic_image(&s);
    for (name, format) in [
        ("pax.xenguest", "--format=posix"),
        ("gnu.xenguest", "--format=gnu"),
        ("ustar.xenguest", "--format=ustar"),
    ] {
        let out = s.ext(
            "tar",
            &[
                "-C",
                "classic",
                format,
                "--owner=1234",
                "--group=5678",
                "--mtime=2024-02-29 12:00",
                "-cf",
                name,
                ".",
            ],
        );
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        s.run(&["check", name]).success();
        s.run(&["dump-paramsconfig", name])
            .success()
            .stdout_has(&["XENGUEST_NETWORK_TYPE=\"bridge\""]);
        s.update(name, &["--xen-name=guest1"]);
        let listing = s.tar_verbose(name);
        for line in listing.lines() {
            assert!(
                line.contains(" root/root ") && line.contains(" 2000-01-01 "),
                "{name}: {line}"
            );
        }
        assert!(s.member_text(name, "notes/README").contains("update must keep it"));
        assert_eq!(s.xl(name)["name"], "\"guest1\"");
    }
}

/// Python's tarfile, as a second independent reader: every member with
/// its type, size, mode, owner ids and names.
fn python_listing(s: &Scratch, image: &str) -> Vec<serde_json::Value> {
    let script = r#"
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    print(json.dumps([
        {"name": m.name, "dir": m.isdir(), "file": m.isfile(), "size": m.size, "mode": m.mode,
         "uid": m.uid, "gid": m.gid, "uname": m.uname, "gname": m.gname,
         "data": t.extractfile(m).read().decode("latin-1") if m.isfile() and m.size < 4096 else None}
        for m in t.getmembers()]))
"#;
    let out = s.ext("python3", &["-c", script, image]);
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

#[test]
fn python_tarfile_reads_our_images() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL BYTES");
    s.write("init.sh", "#!/bin/sh\necho hi\n");
    s.write("rootfs.tar", vec![7u8; 3000]);
    s.create(
        "g.xenguest",
        &[
            "--xen-kernel=Image",
            "--init-post=init.sh",
            "--disk-size=1",
            "--disk-add-file=rootfs.tar",
        ],
    );
    let members = python_listing(&s, "g.xenguest");
    let find = |name: &str| {
        members
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {members:?}"))
    };
    for m in &members {
        assert_eq!((m["uid"].as_u64(), m["gid"].as_u64()), (Some(0), Some(0)), "{m}");
        let name = m["name"].as_str().unwrap();
        assert!(name == "." || name.starts_with("./"), "{name}");
        let mode = m["mode"].as_u64().unwrap();
        if m["dir"] == true {
            assert_eq!(mode, 0o755, "{m}");
        } else {
            assert_eq!(m["file"], true, "{m}");
            let want = if name.starts_with("./init.") { 0o755 } else { 0o644 };
            assert_eq!(mode, want, "{m}");
        }
    }
    assert_eq!(find("./files/kernel")["size"], 12);
    assert_eq!(find("./files/kernel")["data"], "KERNEL BYTES");
    assert_eq!(find("./init.post/init.sh")["data"], "#!/bin/sh\necho hi\n");
    assert_eq!(find("./disk/rootfs.tar")["size"], 3000);
    // Python agrees with GNU tar on the member list.
    let gnu: Vec<String> = s
        .tar_names("g.xenguest")
        .iter()
        .map(|n| n.trim_end_matches('/').to_owned())
        .collect();
    let py: Vec<String> = members.iter().map(|m| m["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(py[1..], gnu[1..]);
}

#[test]
fn long_member_names_round_trip() {
    let s = Scratch::new();
    let dir = "a-directory-name-that-is-long/and-another-long-directory-level";
    let file = format!("{}.json", "n".repeat(120));
    let dst = format!("{dir}/{file}");
    assert!(format!("./files/{dst}").len() > 100);
    s.write("input.json", b"{\"long\": true}");
    s.create("g.xenguest", &[&format!("--xen-add-file=input.json:{dst}")]);
    let member = format!("./files/{dst}");
    assert!(
        s.tar_names("g.xenguest").contains(&member),
        "{:?}",
        s.tar_names("g.xenguest")
    );
    assert_eq!(s.member("g.xenguest", &format!("files/{dst}")), b"{\"long\": true}");
    assert!(python_listing(&s, "g.xenguest")
        .iter()
        .any(|m| m["name"] == member.as_str()));
    // We read it back: check, update keeps it, extract writes it.
    s.run(&["check", "g.xenguest"]).success();
    s.run(&["verify", "g.xenguest"]).success();
    s.update("g.xenguest", &["--xen-memory=128"]);
    assert!(s.tar_names("g.xenguest").contains(&member));
    s.mkdir("x");
    s.run(&["extract", "g.xenguest", "x"]).success();
    assert_eq!(s.read(&format!("x/files/{dst}")), b"{\"long\": true}");
    // A long name GNU tar wrote (its own long-name format) reads too.
    let out = s.ext("tar", &["-C", "x", "--format=gnu", "-cf", "gnu.xenguest", "."]);
    assert!(out.status.success());
    s.run(&["check", "gnu.xenguest"]).success();
    s.run(&["dump-xenconfig", "gnu.xenguest"])
        .success()
        .stdout_has(&["memory = 128"]);
    s.update("gnu.xenguest", &["--xen-vcpus=2"]);
    assert_eq!(s.member("gnu.xenguest", &format!("files/{dst}")), b"{\"long\": true}");
}

#[test]
fn megabyte_members_round_trip_byte_for_byte() {
    let s = Scratch::new();
    // Not block-aligned, not compressible, more than one copy buffer.
    let mut state = 0x2545_f491_u32;
    let bytes: Vec<u8> = (0..(3 << 20) + 333)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect();
    let input = s.write("rootfs.img", &bytes);
    s.create(
        "g.xenguest",
        &[
            "--disk-size=2",
            "--disk-add-file=rootfs.img",
            "--disk-add-part=1:1::rootfs.img",
        ],
    );
    s.mkdir("x");
    let out = s.ext("tar", &["-C", "x", "-xf", "g.xenguest", "./disk/rootfs.img"]);
    assert!(out.status.success());
    assert_eq!(sha256sum(&s.join("x/disk/rootfs.img")), sha256sum(&input));
    let streamed = s
        .run(&["extract-disk-file", "g.xenguest", "rootfs.img"])
        .success()
        .out
        .stdout
        .clone();
    assert!(streamed == bytes, "extract-disk-file differs");
    // Members after a large one are still found by GNU tar.
    assert!(s.member_text("g.xenguest", "params.cfg").contains("GUEST_AUTOBOOT"));
}

/// A sparse file of `len` bytes, or `None` where the file system stores
/// the zeros (then the test would write gigabytes to read them).
fn sparse_file(path: &Path, len: u64) -> Option<()> {
    let f = fs::File::create(path).unwrap();
    f.set_len(len).ok()?;
    let allocated = f.metadata().unwrap().blocks() * 512;
    (allocated < 1 << 20).then_some(())
}

/// The pax `size` record for a member over 8 GiB, without writing 8 GiB:
/// the build streams its output into a temporary file, so the headers at
/// its start can be read (by GNU tar and Python) before the data is done.
#[test]
fn members_over_8_gib_get_a_pax_size_record() {
    let s = Scratch::new();
    if sparse_file(&s.join("huge.img"), OVER_8_GIB).is_none() {
        eprintln!("skipped: no sparse files here");
        return;
    }
    s.write(
        "guest.toml",
        "[disk]\nsize = \"20G\"\n[disk.files]\n\"huge.img\" = \"huge.img\"\n\
         [[disk.partitions]]\nnumber = 1\nsize = \"10G\"\ncontent = \"huge.img\"\n",
    );
    s.mkdir("out");
    let mut child = Command::new(crate::support::bin())
        .args(["build", "guest.toml", "-o", "out/huge.xenguest"])
        .current_dir(s.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut prefix = Vec::new();
    while Instant::now() < deadline {
        let tmp = s
            .ls("out")
            .into_iter()
            .find(|n| Path::new(n).extension().is_some_and(|e| e == "tmp"));
        if let Some(tmp) = tmp {
            let mut f = fs::File::open(s.join("out").join(&tmp)).unwrap();
            prefix.clear();
            f.by_ref().take(64 * 1024).read_to_end(&mut prefix).unwrap();
            if prefix.len() == 64 * 1024 {
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "the build ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(prefix.len(), 64 * 1024, "no output within 60 s");
    s.write("prefix.tar", &prefix);
    // GNU tar lists the member with its full size, then finds the data
    // cut short (exit 2), as expected for a prefix.
    let out = s.ext("tar", &["-tvf", "prefix.tar"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.ends_with("./disk/huge.img"))
        .unwrap_or_else(|| panic!("no huge member: {listing}"));
    assert!(line.contains(&format!(" {OVER_8_GIB} ")), "{line}");
    // Python sees the pax record itself.
    let script = "import sys, tarfile\n\
        t = tarfile.open(sys.argv[1], mode='r|')\n\
        for m in t:\n\
        \x20   if m.name == './disk/huge.img':\n\
        \x20       print(m.size, m.pax_headers.get('size')); break\n";
    let out = external("python3", &["-c", script, "prefix.tar"], s.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{OVER_8_GIB} {OVER_8_GIB}"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The whole round trip of a member over 8 GiB: writes and reads 8 GiB
/// (about a minute), so it only runs with `XENGUEST_TEST_HUGE=1`.
#[test]
fn members_over_8_gib_round_trip() {
    if std::env::var_os("XENGUEST_TEST_HUGE").is_none() {
        eprintln!("skipped: set XENGUEST_TEST_HUGE=1 to write an 8 GiB image");
        return;
    }
    let s = Scratch::new();
    sparse_file(&s.join("huge.img"), OVER_8_GIB).expect("sparse files");
    s.run(&["create", "g.xenguest", "--disk-add-file=huge.img"]).success();
    let listing = s.tar_verbose("g.xenguest");
    let line = listing.lines().find(|l| l.ends_with("./disk/huge.img")).unwrap();
    assert!(line.contains(&format!(" {OVER_8_GIB} ")), "{line}");
    s.run(&["check", "g.xenguest"]).success();
    s.run(&["verify", "g.xenguest"]).success();
    s.run(&["update", "g.xenguest", "--xen-memory=64"]).success();
    assert!(s.tar_verbose("g.xenguest").contains(&format!(" {OVER_8_GIB} ")));
    assert_eq!(s.stray_files(), Vec::<String>::new());
}

/// libarchive (bsdtar) and busybox tar, the readers of other hosts and of
/// small Dom0 root file systems, read our images like GNU tar does,
/// including a pax long name.
#[test]
fn bsdtar_and_busybox_read_our_images() {
    let s = Scratch::new();
    let long = format!("{}/{}.json", "d".repeat(120), "n".repeat(120));
    s.write("Image", b"kernel bytes");
    s.write("net.json", b"{\"bridge\": \"xenbr0\"}\n");
    s.write("setup.sh", "#!/bin/sh\ntrue\n");
    s.run(&[
        "create",
        "g.xenguest",
        "--xen-kernel=Image",
        &format!("--xen-add-file=net.json:{long}"),
        "--init-script=setup.sh",
    ])
    .success();
    let gnu = s.tar_names("g.xenguest");
    for (reader, list, extract) in [
        ("bsdtar", vec!["-tf", "g.xenguest"], vec!["-xf", "../g.xenguest"]),
        (
            "busybox",
            vec!["tar", "-tf", "g.xenguest"],
            vec!["tar", "-xf", "../g.xenguest"],
        ),
    ] {
        let names = s.ext_lines(reader, &list);
        assert_eq!(names, gnu, "{reader} lists other members than GNU tar");
        let dir = s.mkdir(reader);
        let out = crate::support::external(reader, &extract, &dir);
        assert!(
            out.status.success(),
            "{reader} cannot extract: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(s.read(&format!("{reader}/files/kernel")), b"kernel bytes");
        assert_eq!(s.read(&format!("{reader}/files/{long}")), b"{\"bridge\": \"xenbr0\"}\n");
        assert_eq!(s.mode(&format!("{reader}/init.d/setup.sh")) & 0o777, 0o755, "{reader}");
    }
}

/// The longest names a tar writer's format can hold.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Names {
    /// 99 bytes (v7).
    V7,
    /// 255 bytes, split at a `/` between prefix and name (ustar).
    Ustar,
    /// Any length (GNU long names or pax records).
    Long,
}

/// A file path over 100 bytes that ustar can split, and one over 255.
const OVER_100: &str = "files/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/\
                        bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.json";
fn over_255() -> String {
    format!("files/{}/{}/e.json", "c".repeat(120), "d".repeat(120))
}

/// Every independent tar writer of issue 10, the longest names its format
/// holds, and a shell command writing the current directory to `$1`.
const WRITERS: &[(&str, Names, &str)] = &[
    ("GNU tar --format=gnu", Names::Long, "tar --format=gnu -cf \"$1\" ."),
    ("GNU tar --format=oldgnu", Names::Long, "tar --format=oldgnu -cf \"$1\" ."),
    ("GNU tar --format=pax", Names::Long, "tar --format=pax -cf \"$1\" ."),
    ("GNU tar --format=ustar", Names::Ustar, "tar --format=ustar -cf \"$1\" ."),
    ("GNU tar --format=v7", Names::V7, "tar --format=v7 -cf \"$1\" ."),
    ("bsdtar --format=pax", Names::Long, "bsdtar --format=pax -cf \"$1\" ."),
    ("bsdtar --format=gnutar", Names::Long, "bsdtar --format=gnutar -cf \"$1\" ."),
    ("bsdtar --format=ustar", Names::Ustar, "bsdtar --format=ustar -cf \"$1\" ."),
    ("bsdtar --format=v7", Names::V7, "bsdtar --format=v7 -cf \"$1\" ."),
    ("busybox tar", Names::Long, "busybox tar -cf \"$1\" ."),
    (
        "Python tarfile GNU_FORMAT",
        Names::Long,
        "python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], \"w\", format=tarfile.GNU_FORMAT); t.add(\".\"); t.close()' \"$1\"",
    ),
    (
        "Python tarfile PAX_FORMAT",
        Names::Long,
        "python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], \"w\", format=tarfile.PAX_FORMAT); t.add(\".\"); t.close()' \"$1\"",
    ),
    (
        "Python tarfile USTAR_FORMAT",
        Names::Ustar,
        "python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], \"w\", format=tarfile.USTAR_FORMAT); t.add(\".\"); t.close()' \"$1\"",
    ),
    ("pax -x ustar", Names::Ustar, "pax -w -x ustar -f \"$1\" ."),
    ("pax -x tar", Names::V7, "pax -w -x tar -f \"$1\" ."),
    ("cpio -H ustar", Names::Ustar, "find . | cpio --quiet -o -H ustar > \"$1\""),
    ("ptar (Perl Archive::Tar)", Names::Long, "ptar -c -f \"$1\" ."),
];

/// The classic fixture plus, as `names` allows, the long file names.
fn writer_tree(s: &Scratch, rel: &str, names: Names) -> Vec<String> {
    let dir = s.copy_tree(&data("classic"), rel);
    let mut extra = Vec::new();
    if names >= Names::Ustar {
        extra.push(OVER_100.to_owned());
    }
    if names >= Names::Long {
        extra.push(over_255());
    }
    for (i, name) in extra.iter().enumerate() {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, format!("long name {i}\n")).unwrap();
    }
    extra
}

/// Runs a writer's command in `dir`, writing `out`.
fn write_with(command: &str, dir: &Path, out: &Path) -> std::process::Output {
    Command::new("sh")
        .args(["-c", command, "sh"])
        .arg(out)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

/// Every file under `dir`, relative, with its bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Issue 10: images written by every independent tar writer, plain and
/// gzip, with names over 100 and over 255 bytes where the format holds
/// them, pass `check` and round-trip through `update`. Where a format
/// cannot hold a name, the writer is shown to fail on it.
#[test]
fn images_from_every_tar_writer_are_read_and_updated() {
    let s = Scratch::new();
    for (n, &(writer, names, command)) in WRITERS.iter().enumerate() {
        let tree = format!("tree{n}");
        let long = writer_tree(&s, &tree, names);
        let img = format!("w{n}.xenguest");
        let out = write_with(command, &s.join(&tree), &s.join(&img));
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{writer} cannot write the image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed = s.tar_names(&img);
        for name in &long {
            assert!(
                listed.iter().any(|l| l.trim_start_matches("./") == name),
                "{writer} left out {name}: {listed:?}"
            );
        }
        let gz = format!("{img}.gz");
        let out = s.ext("sh", &["-c", &format!("gzip -c {img} > {gz}")]);
        assert!(out.status.success());
        for image in [&img, &gz] {
            let what = format!("{writer} ({image})");
            s.run(&["check", image]).success().stdout_has(&["Image is OK"]);
            s.run(&["dump-paramsconfig", image])
                .success()
                .stdout_has(&["XENGUEST_NETWORK_TYPE=\"bridge\""]);
            s.run(&["update", image, "--xen-name=guest1"]).success();
            s.run(&["check", image]).success();
            let x = s.mkdir(&format!("x-{image}"));
            s.run(&["extract", image, x.to_str().unwrap()]).success();
            let want: Vec<_> = files_under(&s.join(&tree))
                .into_iter()
                .filter(|(name, _)| name != "guest.cfg")
                .collect();
            let got: Vec<_> = files_under(&x)
                .into_iter()
                .filter(|(name, _)| name != "guest.cfg" && name != "manifest.sha256")
                .collect();
            assert!(
                want == got,
                "{what}: update changed members: {:?} vs {:?}",
                names_of(&want),
                names_of(&got)
            );
            assert_eq!(s.xl(image)["name"], "\"guest1\"", "{what}");
        }
        // One step beyond what the format holds: the writer says so (an
        // error status or message) and the member is not in the archive.
        let beyond = match names {
            Names::V7 => Names::Ustar,
            Names::Ustar => Names::Long,
            Names::Long => continue,
        };
        let tree = format!("beyond{n}");
        let long = writer_tree(&s, &tree, beyond);
        let too_long = long.last().unwrap();
        let img = format!("beyond{n}.tar");
        let out = write_with(command, &s.join(&tree), &s.join(&img));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() || !stderr.is_empty(),
            "{writer} wrote a {}-byte name its format cannot hold without a word",
            too_long.len()
        );
        let listing = s.ext("tar", &["-tf", &img]);
        let listed = String::from_utf8_lossy(&listing.stdout);
        assert!(
            !listed.lines().any(|l| l.trim_start_matches("./") == too_long.as_str()),
            "{writer} did write {too_long}"
        );
    }
}

fn names_of(files: &[(String, Vec<u8>)]) -> Vec<&str> {
    files.iter().map(|(n, _)| n.as_str()).collect()
}
