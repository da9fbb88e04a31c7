//! Issue 2: every operation and option of the classic tool, on tar and
//! directory images. Images are inspected with GNU tar, as the host does.

use std::collections::BTreeMap;

use crate::support::{shell_vars, xl_settings, Scratch};

/// Every operation the classic tool has, plus ours.
pub(crate) const OPERATIONS: &[&str] = &[
    "create",
    "update",
    "partial",
    "pack",
    "check",
    "extract",
    "extract-config",
    "extract-disk-file",
    "dump-xenconfig",
    "dump-diskconfig",
    "dump-paramsconfig",
    "dump-init",
    "verify",
    "sign",
    "diff",
    "build",
    "export",
    "info",
];

/// Every image-modifying option of the classic tool.
pub(crate) const OPTIONS: &[&str] = &[
    "--guest-reset-config",
    "--guest-config-reset",
    "--set-param",
    "--xen-reset-config",
    "--xen-name",
    "--xen-kernel",
    "--xen-memory",
    "--xen-vcpus",
    "--xen-clean-extra",
    "--xen-extra",
    "--xen-root",
    "--xen-device-tree",
    "--xen-ramdisk",
    "--xen-disk",
    "--xen-append",
    "--xen-add-file",
    "--xen-rm-file",
    "--init-script",
    "--init-pre",
    "--init-post",
    "--disk-reset-config",
    "--disk-size",
    "--disk-device",
    "--disk-add-part",
    "--disk-rm-part",
    "--disk-add-file",
    "--disk-rm-file",
];

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn create_then_check() {
    let s = Scratch::new();
    s.write("Image", b"kernel");
    s.run(&["create", "g.xenguest", "--xen-kernel=Image"]).success();
    s.run(&["check", "g.xenguest"]).success().stdout_has(&["Image is OK"]);
}

#[test]
fn help_lists_every_operation() {
    let s = Scratch::new();
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let r = s.run(args);
        r.success().stdout_has(&["Usage:", "OPERATION"]);
        for op in OPERATIONS {
            assert!(
                r.stdout().lines().any(|l| l.trim_start().starts_with(op)),
                "`{args:?}` does not list `{op}`:\n{}",
                r.stdout()
            );
        }
    }
    // No operation at all: usage on stderr, usage exit code.
    let r = s.run::<&str>(&[]);
    assert_eq!(r.code(), 2, "{}", r.stderr());
    assert!(r.stderr().contains("Usage:"), "{}", r.stderr());
    s.run(&["frobnicate", "x"]).failure(2, &["frobnicate"]);
}

#[test]
fn every_operation_has_help() {
    let s = Scratch::new();
    for op in OPERATIONS {
        let usage = format!("xenguest-mkimage {op}");
        s.run(&[op, "--help"]).success().stdout_has(&["Usage:", &usage]);
        s.run(&[op, "-h"]).success().stdout_has(&[&usage]);
        s.run(&["help", op]).success().stdout_has(&[&usage]);
    }
    for op in ["create", "update", "partial"] {
        let r = s.run(&[op, "--help"]);
        r.stdout_has(OPTIONS).stdout_has(&["command-line order"]);
    }
    // Read-only operations do not offer image-modifying options.
    s.run(&["check", "--help"])
        .stdout_lacks(&["--xen-memory", "--disk-add-part"]);
    // The classic `OPERATION --help`-only form works without an image.
    assert!(!s.exists("--help"));
}

#[test]
fn create_writes_the_classic_defaults() {
    let s = Scratch::new();
    s.create("g.xenguest", &[]);
    let names = s.tar_names("g.xenguest");
    for n in ["./", "./guest.cfg", "./disk.cfg", "./params.cfg"] {
        assert!(names.iter().any(|m| m == n), "{n} missing from {names:?}");
    }
    assert_eq!(
        s.xl("g.xenguest"),
        map(&[
            ("memory", "1024"),
            ("vcpus", "1"),
            ("extra", "\"earlyprintk=xenboot console=hvc0 rw\""),
        ])
    );
    let guest_cfg = s.member_text("g.xenguest", "guest.cfg");
    for placeholder in ["# name = ", "# root = ", "# disk = "] {
        assert!(guest_cfg.contains(placeholder), "{placeholder} missing:\n{guest_cfg}");
    }
    assert_eq!(s.vars("g.xenguest", "params.cfg"), map(&[("GUEST_AUTOBOOT", "1")]));
    assert_eq!(
        s.vars("g.xenguest", "disk.cfg"),
        map(&[("DISK_SIZE", "0"), ("DISK_DEVICE", "")])
    );
}

#[test]
fn set_param_sets_replaces_and_deletes() {
    let s = Scratch::new();
    s.create(
        "g",
        &[
            "--set-param=XENGUEST_NETWORK_TYPE=nat",
            "--set-param=FOO=1",
            "--set-param=XENGUEST_NETWORK_TYPE=bridge",
            "--set-param=GUEST_AUTOBOOT=0",
        ],
    );
    assert_eq!(
        s.vars("g", "params.cfg"),
        map(&[
            ("GUEST_AUTOBOOT", "0"),
            ("XENGUEST_NETWORK_TYPE", "bridge"),
            ("FOO", "1")
        ])
    );
    let text = s.member_text("g", "params.cfg");
    assert_eq!(text.matches("XENGUEST_NETWORK_TYPE=").count(), 1, "{text}");
    s.update("g", &["--set-param=FOO"]);
    assert!(!s.vars("g", "params.cfg").contains_key("FOO"));
    s.update("g", &["--set-param=XENGUEST_NETWORK_TYPE="]);
    assert_eq!(s.vars("g", "params.cfg"), map(&[("GUEST_AUTOBOOT", "0")]));
}

#[test]
fn guest_reset_config_has_both_spellings() {
    let s = Scratch::new();
    s.create("fresh", &[]);
    let default = s.member("fresh", "params.cfg");
    for spelling in ["--guest-reset-config", "--guest-config-reset"] {
        let img = format!("g{spelling}");
        s.create(&img, &["--set-param=GUEST_AUTOBOOT=0", "--set-param=A=b"]);
        assert_ne!(s.member(&img, "params.cfg"), default);
        s.update(&img, &[spelling]);
        assert_eq!(s.member(&img, "params.cfg"), default, "{spelling}");
    }
}

#[test]
fn xen_reset_config_restores_the_default_guest_cfg() {
    let s = Scratch::new();
    s.create("fresh", &[]);
    s.create(
        "g",
        &[
            "--xen-memory=64",
            "--xen-name=web",
            "--xen-clean-extra",
            "--xen-root=/dev/xvda9",
        ],
    );
    assert_ne!(s.member("g", "guest.cfg"), s.member("fresh", "guest.cfg"));
    s.update("g", &["--xen-reset-config"]);
    assert_eq!(s.member("g", "guest.cfg"), s.member("fresh", "guest.cfg"));
    // Options after the reset apply to the fresh configuration.
    s.update("g", &["--xen-memory=99", "--xen-reset-config", "--xen-vcpus=3"]);
    assert_eq!(s.xl("g")["memory"], "1024");
    assert_eq!(s.xl("g")["vcpus"], "3");
}

#[test]
fn xen_name_root_and_disk_set_and_disable() {
    let s = Scratch::new();
    s.create(
        "g",
        &["--xen-name=web", "--xen-root=/dev/xvda2", "--xen-disk=/dev/vg-xen/web"],
    );
    let xl = s.xl("g");
    assert_eq!(xl["name"], "\"web\"");
    assert_eq!(xl["root"], "\"/dev/xvda2\"");
    assert_eq!(xl["disk"], "['phy:/dev/vg-xen/web,xvda,w']");
    s.update("g", &["--xen-name=", "--xen-root=", "--xen-disk="]);
    let xl = s.xl("g");
    for key in ["name", "root", "disk"] {
        assert!(!xl.contains_key(key), "{key} still set: {xl:?}");
    }
    // Disabled, not deleted: the commented line is still there to re-enable.
    let cfg = s.member_text("g", "guest.cfg");
    assert!(cfg.contains("# name = \"web\""), "{cfg}");
    s.update("g", &["--xen-name=db"]);
    assert_eq!(s.xl("g")["name"], "\"db\"");
}

#[test]
fn memory_vcpus_are_bare_numbers() {
    let s = Scratch::new();
    s.create("g", &["--xen-memory=2048", "--xen-vcpus=4"]);
    let xl = s.xl("g");
    assert_eq!((xl["memory"].as_str(), xl["vcpus"].as_str()), ("2048", "4"));
    for bad in [
        "--xen-memory=lots",
        "--xen-memory=-1",
        "--xen-vcpus=0",
        "--xen-vcpus=1.5",
    ] {
        let name = bad.split('=').next().unwrap();
        let value = bad.split('=').nth(1).unwrap();
        s.run(&["update", "g", bad]).error(&[name, value]);
    }
}

#[test]
fn extra_appends_without_a_leading_space_after_clean() {
    let s = Scratch::new();
    s.create("g", &["--xen-clean-extra"]);
    assert_eq!(s.xl("g")["extra"], "\"\"");
    s.update("g", &["--xen-extra=console=hvc0", "--xen-extra=rw"]);
    assert_eq!(s.xl("g")["extra"], "\"console=hvc0 rw\"");
    s.create("h", &["--xen-extra=quiet"]);
    assert_eq!(s.xl("h")["extra"], "\"earlyprintk=xenboot console=hvc0 rw quiet\"");
}

#[test]
fn kernel_device_tree_ramdisk_add_and_remove_files() {
    let s = Scratch::new();
    s.write("in/Image", b"KERNEL");
    s.write("in/board.dtb", b"\xd0\x0d\xfe\xed DTB");
    s.write("in/initrd.cpio", b"RAMDISK");
    s.create(
        "g",
        &[
            "--xen-kernel=in/Image",
            "--xen-device-tree=in/board.dtb",
            "--xen-ramdisk=in/initrd.cpio",
        ],
    );
    assert_eq!(s.member("g", "files/kernel"), b"KERNEL");
    assert_eq!(s.member("g", "files/guest.dtb"), b"\xd0\x0d\xfe\xed DTB");
    assert_eq!(s.member("g", "files/ramdisk.img"), b"RAMDISK");
    let xl = s.xl("g");
    assert_eq!(xl["kernel"], "\"files/kernel\"");
    assert_eq!(xl["device_tree"], "\"files/guest.dtb\"");
    assert_eq!(xl["ramdisk"], "\"files/ramdisk.img\"");

    // An absolute path works as well as a relative one; the file is copied.
    let abs = s.write("abs/Image2", b"KERNEL2");
    s.update("g", &[&format!("--xen-kernel={}", abs.display())]);
    assert_eq!(s.member("g", "files/kernel"), b"KERNEL2");

    s.update("g", &["--xen-kernel="]);
    assert!(!s.has_member("g", "files/kernel"));
    assert!(!s.xl("g").contains_key("kernel"));
    s.update("g", &["--xen-device-tree=", "--xen-ramdisk="]);
    assert!(!s.has_member("g", "files/guest.dtb"));
    assert!(!s.has_member("g", "files/ramdisk.img"));
    let xl = s.xl("g");
    assert!(!xl.contains_key("device_tree") && !xl.contains_key("ramdisk"), "{xl:?}");
}

#[test]
fn xen_append_copies_into_guest_d() {
    let s = Scratch::new();
    s.write("conf/net.cfg", "vif = ['bridge=xenbr0']\n");
    s.create("g", &["--xen-append=conf/net.cfg"]);
    assert_eq!(s.member_text("g", "guest.d/net.cfg"), "vif = ['bridge=xenbr0']\n");
    assert_eq!(s.xl("g")["vif"], "['bridge=xenbr0']");
    // dump-xenconfig prints guest.cfg, then the guest.d files.
    let out = s.run(&["dump-xenconfig", "g"]).success().stdout();
    let cfg_at = out.find("memory = 1024").expect("guest.cfg in dump");
    let net_at = out.find("vif = ['bridge=xenbr0']").expect("guest.d/net.cfg in dump");
    assert!(cfg_at < net_at, "{out}");
}

#[test]
fn xen_add_file_and_rm_file() {
    let s = Scratch::new();
    s.write("src/kea.json", b"{}");
    s.write("src/other.bin", b"\x00\x01\x02");
    s.create(
        "g",
        &[
            "--xen-add-file=src/kea.json",
            "--xen-add-file=src/other.bin:sub/dir/renamed.bin",
        ],
    );
    assert_eq!(s.member("g", "files/kea.json"), b"{}");
    assert_eq!(s.member("g", "files/sub/dir/renamed.bin"), b"\x00\x01\x02");
    let names = s.tar_names("g");
    for dir in ["./files/", "./files/sub/", "./files/sub/dir/"] {
        assert!(names.iter().any(|n| n == dir), "{dir} missing: {names:?}");
    }
    s.update("g", &["--xen-rm-file=sub/dir/renamed.bin"]);
    assert!(!s.has_member("g", "files/sub/dir/renamed.bin"));
    assert!(s.has_member("g", "files/kea.json"));
    // Removing a file that is not there is not an error (classic `rm -f`).
    s.update("g", &["--xen-rm-file=nope"]);
}

#[test]
fn init_scripts_are_executable_and_replaced_by_basename() {
    let s = Scratch::new();
    s.write("a/10-net.sh", "#!/bin/sh\necho first\n");
    s.write("b/10-net.sh", "#!/bin/sh\necho second\n");
    s.write("pre.sh", "#!/bin/sh\necho pre\n");
    s.write("post.sh", "#!/bin/sh\necho post\n");
    s.create(
        "g",
        &["--init-script=a/10-net.sh", "--init-pre=pre.sh", "--init-post=post.sh"],
    );
    let listing = s.tar_verbose("g");
    for member in ["./init.d/10-net.sh", "./init.pre/pre.sh", "./init.post/post.sh"] {
        let line = listing
            .lines()
            .find(|l| l.ends_with(member))
            .unwrap_or_else(|| panic!("{member} missing:\n{listing}"));
        assert!(line.starts_with("-rwxr-xr-x"), "{line}");
    }
    s.update("g", &["--init-script=b/10-net.sh"]);
    assert_eq!(s.member_text("g", "init.d/10-net.sh"), "#!/bin/sh\necho second\n");
    assert_eq!(
        s.tar_names("g")
            .iter()
            .filter(|n| n.starts_with("./init.d/") && n.len() > 9)
            .count(),
        1
    );
    // dump-init shows all three directories (the classic tool missed two).
    s.run(&["dump-init", "g"]).success().stdout_has(&[
        "=== init.d ===",
        "echo second",
        "=== init.pre ===",
        "echo pre",
        "=== init.post ===",
        "echo post",
    ]);
    // Extracted, they are executable too.
    s.mkdir("x");
    s.run(&["extract", "g", "x"]).success();
    assert_eq!(s.mode("x/init.pre/pre.sh"), 0o755);
    assert_eq!(s.mode("x/params.cfg"), 0o644);
}

#[test]
fn disk_options() {
    let s = Scratch::new();
    s.write("rootfs.tar.gz", b"not really gzip");
    s.write("data.img", b"IMG");
    s.create(
        "g",
        &[
            "--disk-size=4",
            "--disk-device=/dev/sdb",
            "--disk-add-file=rootfs.tar.gz",
            "--disk-add-file=data.img:extra.img",
            "--disk-add-part=1:2G:ext4:rootfs.tar.gz",
            "--disk-add-part=2:1000M::extra.img",
            "--disk-add-part=3:500M:swap:",
        ],
    );
    assert_eq!(
        s.vars("g", "disk.cfg"),
        map(&[
            ("DISK_SIZE", "4000M"),
            ("DISK_DEVICE", "/dev/sdb"),
            ("DISK_PART1", "2G:ext4:rootfs.tar.gz"),
            ("DISK_PART2", "1000M::extra.img"),
            ("DISK_PART3", "500M:swap:"),
        ])
    );
    assert_eq!(s.member("g", "disk/rootfs.tar.gz"), b"not really gzip");
    assert_eq!(s.member("g", "disk/extra.img"), b"IMG");
    // Re-adding an ID replaces it; removing works; sizes convert to MB.
    s.update(
        "g",
        &[
            "--disk-rm-part=3",
            "--disk-rm-file=extra.img",
            "--disk-rm-part=2",
            "--disk-add-part=1:3G:ext3:rootfs.tar.gz",
        ],
    );
    let vars = s.vars("g", "disk.cfg");
    assert_eq!(vars["DISK_PART1"], "3G:ext3:rootfs.tar.gz");
    assert!(
        !vars.contains_key("DISK_PART2") && !vars.contains_key("DISK_PART3"),
        "{vars:?}"
    );
    assert!(!s.has_member("g", "disk/extra.img"));
    // Re-adding ID 1 frees its old size first: 3G + 1G fits in 4G.
    s.update(
        "g",
        &["--disk-add-part=1:3G:ext3:rootfs.tar.gz", "--disk-add-part=2:1G::"],
    );
    s.run(&["update", "g", "--disk-add-part=3:1M::"])
        .error(&["--disk-add-part"]);
    for (size, stored) in [("2G", "2000M"), ("750M", "750M"), ("0", "0M")] {
        s.update("g", &["--disk-reset-config", &format!("--disk-size={size}")]);
        assert_eq!(s.vars("g", "disk.cfg")["DISK_SIZE"], stored, "--disk-size={size}");
    }
    s.update("g", &["--disk-reset-config"]);
    assert_eq!(s.vars("g", "disk.cfg"), map(&[("DISK_SIZE", "0"), ("DISK_DEVICE", "")]));
    s.run(&["dump-diskconfig", "g"])
        .success()
        .stdout_has(&["Disk configuration:", "DISK_SIZE=\"0\""]);
}

#[test]
fn options_apply_in_command_line_order() {
    let s = Scratch::new();
    s.create(
        "g",
        &[
            "--xen-extra=a",
            "--xen-clean-extra",
            "--xen-extra=b",
            "--xen-memory=1",
            "--xen-memory=2",
        ],
    );
    let xl = s.xl("g");
    assert_eq!((xl["extra"].as_str(), xl["memory"].as_str()), ("\"b\"", "2"));
    s.create("h", &["--xen-clean-extra", "--xen-extra=a", "--xen-extra=b"]);
    assert_eq!(s.xl("h")["extra"], "\"a b\"");
    // A reset wipes what came before it, not what comes after.
    s.create("i", &["--set-param=A=1", "--guest-reset-config", "--set-param=B=2"]);
    let vars = s.vars("i", "params.cfg");
    assert!(!vars.contains_key("A") && vars["B"] == "2", "{vars:?}");
    // A partition fits only once the disk is large enough.
    s.run(&["create", "j", "--disk-add-part=1:1G::", "--disk-size=2G"])
        .error(&["--disk-add-part"]);
    s.create("j", &["--disk-size=2G", "--disk-add-part=1:1G::"]);
    // The same file added then removed, or removed then added.
    s.write("k", b"K");
    s.create("l", &["--xen-add-file=k", "--xen-rm-file=k"]);
    assert!(!s.has_member("l", "files/k"));
    s.create("m", &["--xen-rm-file=k", "--xen-add-file=k"]);
    assert!(s.has_member("m", "files/k"));
}

#[test]
fn errors_name_the_argument_and_go_to_stderr() {
    let s = Scratch::new();
    s.write("rootfs.tar", b"T");
    s.write("not-an-image", "just some text that is not a tar archive\n".repeat(40));
    s.create("g", &["--disk-size=4G"]);
    let before = s.read("g");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["update", "g", "--disk-add-part=1:5G:ext4:"],
            &["--disk-add-part", "5000M"],
        ),
        (
            &["update", "g", "--disk-add-part=1:2G::", "--disk-add-part=2:3G::"],
            &["--disk-add-part", "2:3G"],
        ),
        (
            &["update", "g", "--disk-add-part=1:1G:ntfs:"],
            &["--disk-add-part", "ntfs"],
        ),
        (
            &["update", "g", "--disk-add-part=1:1G:ext4:root.zip"],
            &["--disk-add-part", "root.zip"],
        ),
        (
            &["update", "g", "--disk-add-part=1:1G:ext4:root.img.xz"],
            &["root.img.xz"],
        ),
        (&["update", "g", "--disk-add-part=5:1G::"], &["--disk-add-part", "5"]),
        (
            &[
                "update",
                "g",
                "--disk-add-part=1:1G::rootfs.tar",
                "--disk-add-part=2:1G::rootfs.tar",
            ],
            &["--disk-add-part", "rootfs.tar"],
        ),
        (&["update", "g", "--disk-size=1T"], &["--disk-size", "1T"]),
        (&["update", "g", "--disk-rm-part=7"], &["--disk-rm-part", "7"]),
        (
            &["update", "g", "--xen-kernel=missing-kernel"],
            &["--xen-kernel", "missing-kernel"],
        ),
        (&["update", "g", "--xen-device-tree=missing.dtb"], &["missing.dtb"]),
        (&["update", "g", "--xen-ramdisk=missing.img"], &["missing.img"]),
        (&["update", "g", "--xen-append=missing.cfg"], &["missing.cfg"]),
        (&["update", "g", "--xen-add-file=missing.json"], &["missing.json"]),
        (&["update", "g", "--disk-add-file=missing.tar"], &["missing.tar"]),
        (&["update", "g", "--init-script=missing.sh"], &["missing.sh"]),
        (&["update", "g", "--init-pre=missing-pre.sh"], &["missing-pre.sh"]),
        (&["update", "g", "--init-post=missing-post.sh"], &["missing-post.sh"]),
        (&["create", "g"], &["g", "exists"]),
        (&["update", "not-an-image", "--xen-memory=1"], &["not-an-image"]),
        (&["update", "rootfs.tar", "--xen-memory=1"], &["rootfs.tar"]),
        (&["update", "nothing-here", "--xen-memory=1"], &["nothing-here"]),
        (&["check", "not-an-image"], &["not-an-image"]),
        (&["dump-xenconfig", "nothing-here"], &["nothing-here"]),
        (&["extract", "g", "no-such-dir"], &["no-such-dir"]),
        (&["extract-disk-file", "g", "nope.tar"], &["nope.tar"]),
        (&["pack", "g", "out"], &["g"]),
    ];
    for (args, needles) in cases {
        let r = s.run(args);
        r.error(needles);
        assert!(
            r.stderr().starts_with("xenguest-mkimage: error: "),
            "{args:?}: {}",
            r.stderr()
        );
        assert_eq!(s.read("g"), before, "{args:?} changed the image");
    }
    // Usage errors exit 2 and name the option.
    s.run(&["update", "g", "--no-such-option"])
        .failure(2, &["--no-such-option"]);
    s.run(&["update", "g", "--xen-memory"]).failure(2, &["--xen-memory"]);
    s.run(&["update", "g", "--xen-clean-extra=1"])
        .failure(2, &["--xen-clean-extra"]);
    s.run(&["update"]).failure(2, &["XENGUEST"]);
    assert_eq!(s.read("g"), before);
    assert_eq!(s.stray_files(), Vec::<String>::new());
}

#[test]
fn failed_update_leaves_the_image_byte_identical() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.create("g.xenguest", &["--xen-kernel=Image", "--set-param=A=1"]);
    let image = s.read("g.xenguest");
    let sidecar = s.read("g.xenguest.sha256");
    let listing = s.ls("");
    // The failing option comes after valid ones that were already applied
    // in memory: none of them may reach the disk.
    s.run(&[
        "update",
        "g.xenguest",
        "--xen-memory=64",
        "--set-param=A",
        "--xen-kernel=missing",
    ])
    .error(&["--xen-kernel", "missing"]);
    assert_eq!(s.read("g.xenguest"), image);
    assert_eq!(s.read("g.xenguest.sha256"), sidecar);
    assert_eq!(s.ls(""), listing, "files left behind");
    // A successful update changes the image and leaves nothing else.
    s.update("g.xenguest", &["--xen-memory=64"]);
    assert_ne!(s.read("g.xenguest"), image);
    assert_eq!(s.ls(""), listing, "files left behind");
    assert_eq!(s.xl("g.xenguest")["memory"], "64");
    assert_eq!(s.vars("g.xenguest", "params.cfg")["A"], "1");
}

#[test]
fn failed_update_of_a_directory_changes_nothing() {
    let s = Scratch::new();
    s.mkdir("d");
    s.run(&["create", "d", "--xen-memory=128"]).success();
    let cfg = s.read("d/guest.cfg");
    s.run(&["update", "d", "--xen-memory=64", "--xen-kernel=missing"])
        .error(&["missing"]);
    assert_eq!(s.read("d/guest.cfg"), cfg);
    assert!(!s.exists("d/files/kernel"));
}

#[test]
fn directory_images() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("init.sh", "#!/bin/sh\n");
    s.write("rootfs.tar", b"TAR");
    s.mkdir("d");
    s.run(&[
        "create",
        "d",
        "--xen-kernel=Image",
        "--init-script=init.sh",
        "--disk-size=1G",
        "--disk-add-file=rootfs.tar",
        "--disk-add-part=1:500M:ext4:rootfs.tar",
    ])
    .success();
    for f in [
        "guest.cfg",
        "disk.cfg",
        "params.cfg",
        "files/kernel",
        "init.d/init.sh",
        "disk/rootfs.tar",
    ] {
        assert!(s.exists(&format!("d/{f}")), "d/{f} missing");
    }
    assert_eq!(s.read("d/files/kernel"), b"KERNEL");
    assert_eq!(s.mode("d/init.d/init.sh"), 0o755);
    s.run(&["check", "d"]).success().stdout_has(&["Image is OK"]);
    s.run(&["update", "d", "--xen-memory=256", "--xen-kernel="]).success();
    assert_eq!(xl_settings(&s.read_text("d/guest.cfg"))["memory"], "256");
    assert!(!s.exists("d/files/kernel"));
    s.run(&["dump-paramsconfig", "d"])
        .success()
        .stdout_has(&["GUEST_AUTOBOOT=\"1\""]);
    s.run(&["dump-xenconfig", "d"]).success().stdout_has(&["memory = 256"]);
    let out = s
        .run(&["extract-disk-file", "d", "rootfs.tar"])
        .success()
        .out
        .stdout
        .clone();
    assert_eq!(out, b"TAR");
    // Non-empty directory: refused.
    s.write("full/x", b"");
    s.run(&["create", "full"]).error(&["full", "not empty"]);
    assert_eq!(s.ls("full"), vec!["x"]);
    // A directory that is not an image cannot be updated.
    s.run(&["update", "full", "--xen-memory=1"]).error(&["full"]);
    // pack: directory to file, which must not exist.
    s.run(&["pack", "d", "packed.xenguest"]).success();
    s.run(&["check", "packed.xenguest"]).success();
    assert_eq!(s.member("packed.xenguest", "disk/rootfs.tar"), b"TAR");
    let packed = s.read("packed.xenguest");
    s.run(&["pack", "d", "packed.xenguest"]).error(&["packed.xenguest"]);
    assert_eq!(s.read("packed.xenguest"), packed);
}

#[test]
fn partial_builds_a_directory_piece_by_piece() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("net.cfg", "vif = ['bridge=xenbr0']\n");
    // The directory is created; no configuration file is needed yet.
    s.run(&["partial", "p", "--xen-add-file=Image:kernel"]).success();
    assert_eq!(s.read("p/files/kernel"), b"KERNEL");
    s.run(&["partial", "p", "--xen-append=net.cfg", "--set-param=A=1"])
        .success();
    assert!(s.exists("p/guest.d/net.cfg"));
    assert!(shell_vars(&s.read_text("p/params.cfg")).contains_key("A"));
    // Not valid until every config file exists: check, update, dump and
    // pack refuse it, naming what is missing.
    s.run(&["check", "p"]).error(&["p", "guest.cfg", "disk.cfg"]);
    s.run(&["update", "p", "--xen-memory=1"]).error(&["guest.cfg"]);
    s.run(&["dump-paramsconfig", "p"]).error(&["disk.cfg"]);
    let out = s.ext("tar", &["-C", "p", "-cf", "p.tar", "."]);
    assert!(out.status.success());
    s.run(&["check", "p.tar"]).error(&["p.tar", "guest.cfg"]);
    s.run(&["pack", "p", "p.xenguest"]).error(&["p"]);
    assert!(!s.exists("p.xenguest"));
    s.run(&["partial", "p", "--xen-reset-config", "--disk-reset-config"])
        .success();
    s.run(&["pack", "p", "p.xenguest"]).success();
    s.run(&["check", "p.xenguest"]).success();
    assert_eq!(s.member("p.xenguest", "files/kernel"), b"KERNEL");
    // partial refuses a path that is a file.
    s.run(&["partial", "Image", "--set-param=A=1"]).error(&["Image"]);
}

#[test]
fn extract_and_extract_config() {
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
    s.mkdir("all");
    s.run(&["extract", "g", "all"]).success();
    assert_eq!(s.read("all/files/kernel"), b"KERNEL");
    assert_eq!(s.read("all/disk/rootfs.tar.gz"), b"ROOTFS");
    assert_eq!(s.read("all/guest.cfg"), s.member("g", "guest.cfg"));
    s.run(&["check", "all"]).success();
    s.mkdir("cfg");
    s.run(&["extract-config", "g", "cfg"]).success();
    assert!(s.exists("cfg/guest.cfg") && s.exists("cfg/files/kernel"));
    assert!(
        !s.exists("cfg/disk/rootfs.tar.gz"),
        "extract-config wrote the disk files"
    );
    // The host's sequence: extract-config, then update the directory.
    s.run(&["update", "cfg", "--xen-name=guest1", "--xen-disk=/dev/vg/guest1"])
        .success();
    let xl = xl_settings(&s.read_text("cfg/guest.cfg"));
    assert_eq!(xl["disk"], "['phy:/dev/vg/guest1,xvda,w']");
    // extract-disk-file streams the member.
    let r = s.run(&["extract-disk-file", "g", "rootfs.tar.gz"]);
    assert_eq!(r.success().out.stdout, b"ROOTFS");
    // extract needs a file, not a directory image.
    s.mkdir("again");
    s.run(&["extract", "all", "again"]).error(&["all"]);
}

#[test]
fn dump_operations_print_their_files() {
    let s = Scratch::new();
    s.create("g", &["--set-param=XENGUEST_NETWORK_TYPE=nat", "--disk-size=3"]);
    s.run(&["dump-paramsconfig", "g"])
        .success()
        .stdout_has(&["Guest configuration:", "XENGUEST_NETWORK_TYPE=\"nat\""]);
    s.run(&["dump-diskconfig", "g"])
        .success()
        .stdout_has(&["DISK_SIZE=\"3000M\""]);
    s.run(&["dump-xenconfig", "g"])
        .success()
        .stdout_has(&["Xen configuration:", "vcpus = 1"]);
    s.run(&["dump-init", "g"]).success().stdout_has(&[
        "No init.d scripts.",
        "No init.pre scripts.",
        "No init.post scripts.",
    ]);
}

#[test]
fn operation_help_words_print_help_like_the_classic_tool() {
    let s = Scratch::new();
    for word in ["help", "-?", "--help", "-h"] {
        s.run(&["create", word])
            .success()
            .stdout_has(&["Usage", "--xen-kernel"]);
    }
    // Nothing was created under the name `help`.
    assert!(!s.exists("help") && !s.exists("help.sha256"));
}

#[test]
fn update_keeps_the_image_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new();
    let img = s.create("g.xenguest", &[]);
    std::fs::set_permissions(&img, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.update("g.xenguest", &["--xen-memory=300"]);
    assert_eq!(s.mode("g.xenguest") & 0o777, 0o600);
}

#[test]
fn diff_does_not_list_the_manifest() {
    let s = Scratch::new();
    s.create("a.xenguest", &[]);
    s.create("b.xenguest", &["--xen-memory=300"]);
    let run = s.run(&["diff", "a.xenguest", "b.xenguest", "--json"]);
    run.failure(1, &[]);
    let v = run.json();
    let changed: Vec<&str> = v["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["member"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["guest.cfg"]);
}

#[test]
fn image_names_up_to_the_file_system_limit_work() {
    let s = Scratch::new();
    // 255 bytes with the sidecar's `.sha256`: the temporary names must not
    // add to the user's name.
    let name = format!("{}.xg", "n".repeat(255 - ".xg.sha256".len()));
    s.run(&["create", &name]).success();
    s.run(&["update", &name, "--xen-memory=300"]).success();
    s.run(&["verify", &name]).success();
}

/// `update` copies unchanged members byte for byte and keeps their recorded
/// digests: damage to a member before the update must still be caught by
/// `verify` afterwards, not blessed by a fresh manifest.
#[test]
fn update_does_not_bless_a_damaged_member() {
    let s = Scratch::new();
    s.write("rootfs.img", vec![7u8; 64 * 1024]);
    s.create("g.xenguest", &["--disk-size=1G", "--disk-add-file=rootfs.img"]);
    let mut bytes = s.read("g.xenguest");
    let data = bytes
        .windows(64)
        .position(|w| w.iter().all(|b| *b == 7))
        .expect("member data in the archive");
    bytes[data + 1000] ^= 0xff;
    s.write("g.xenguest", &bytes);
    s.update("g.xenguest", &["--xen-memory=300"]);
    s.run(&["verify", "g.xenguest"]).failure(1, &["disk/rootfs.img"]);
}
