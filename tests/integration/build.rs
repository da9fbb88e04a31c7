//! Issue 3: `build` from a TOML description, `verify`, `diff`, `export`,
//! `--json` and gzip output, plus the examples the README points at.

use std::fs;

use crate::support::{external, repo, sha256sum, shell_vars, Scratch};

/// A guest description using every section, with inputs in `spec/`.
const GUEST_TOML: &str = r#"# A guest for the tests.
[guest]
name = "web"
memory = 512
vcpus = 2
autoboot = false
root = "/dev/xvda1"
cmdline = "console=hvc0 rw"
kernel = "in/Image"
device_tree = "in/board.dtb"
ramdisk = "in/initrd"

[params]
XENGUEST_NETWORK_TYPE = "bridge"

[xen]
config = ["in/net.cfg"]

[xen.settings]
on_crash = "preserve"

[xen.files]
"cfg/app.json" = "in/app.json"

[init]
pre = ["in/pre.sh"]
scripts = ["in/setup.sh"]
post = ["in/post.sh"]

[disk]
size = "2G"
device = "/dev/sdb"

[disk.files]
"rootfs.tar.gz" = "in/rootfs.tar.gz"

[[disk.partitions]]
number = 1
size = "1G"
fs = "ext4"
content = "rootfs.tar.gz"

[[disk.partitions]]
number = 2
size = "500M"
fs = "swap"
"#;

/// Writes the description and its inputs under `spec/`.
fn spec(s: &Scratch) {
    s.write("spec/guest.toml", GUEST_TOML);
    s.write("spec/in/Image", b"KERNEL");
    s.write("spec/in/board.dtb", b"\xd0\x0d\xfe\xed");
    s.write("spec/in/initrd", b"RAMDISK");
    s.write("spec/in/net.cfg", "vif = ['bridge=xenbr0']\n");
    s.write("spec/in/app.json", b"{}\n");
    s.write("spec/in/pre.sh", "#!/bin/sh\necho pre\n");
    s.write("spec/in/setup.sh", "#!/bin/sh\necho setup\n");
    s.write("spec/in/post.sh", "#!/bin/sh\necho post\n");
    s.write("spec/in/rootfs.tar.gz", b"\x1f\x8b not really");
}

#[test]
fn build_resolves_paths_against_the_toml_directory() {
    let s = Scratch::new();
    spec(&s);
    let elsewhere = s.mkdir("elsewhere");
    s.cmd(&["build", "../spec/guest.toml", "-o", "g.xenguest"])
        .dir(&elsewhere)
        .run()
        .success();
    let img = "elsewhere/g.xenguest";
    for (member, input) in [
        ("files/kernel", "Image"),
        ("files/guest.dtb", "board.dtb"),
        ("files/ramdisk.img", "initrd"),
        ("files/cfg/app.json", "app.json"),
        ("guest.d/net.cfg", "net.cfg"),
        ("init.pre/pre.sh", "pre.sh"),
        ("init.d/setup.sh", "setup.sh"),
        ("init.post/post.sh", "post.sh"),
        ("disk/rootfs.tar.gz", "rootfs.tar.gz"),
    ] {
        assert_eq!(s.member(img, member), s.read(&format!("spec/in/{input}")), "{member}");
    }
    let xl = s.xl(img);
    for (k, v) in [
        ("name", "\"web\""),
        ("memory", "512"),
        ("vcpus", "2"),
        ("root", "\"/dev/xvda1\""),
        ("extra", "\"console=hvc0 rw\""),
        ("kernel", "\"files/kernel\""),
        ("device_tree", "\"files/guest.dtb\""),
        ("ramdisk", "\"files/ramdisk.img\""),
        ("vif", "['bridge=xenbr0']"),
        ("on_crash", "\"preserve\""),
    ] {
        assert_eq!(xl.get(k).map(String::as_str), Some(v), "{k}: {xl:?}");
    }
    let params = s.vars(img, "params.cfg");
    assert_eq!(params["GUEST_AUTOBOOT"], "0");
    assert_eq!(params["XENGUEST_NETWORK_TYPE"], "bridge");
    let disk = s.vars(img, "disk.cfg");
    assert_eq!(disk["DISK_SIZE"], "2000M");
    assert_eq!(disk["DISK_DEVICE"], "/dev/sdb");
    assert_eq!(disk["DISK_PART1"], "1G:ext4:rootfs.tar.gz");
    assert_eq!(disk["DISK_PART2"], "500M:swap:");
    assert!(s
        .tar_verbose(img)
        .lines()
        .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("./init.d/setup.sh")));
    // Without -o the image is GUEST.xenguest in the working directory.
    s.cmd(&["build", "../spec/guest.toml"]).dir(&elsewhere).run().success();
    assert_eq!(s.read("elsewhere/guest.xenguest"), s.read(img));
    assert!(s.exists("elsewhere/guest.xenguest.sha256"));
}

#[test]
fn defines_replace_names_and_undefined_names_fail() {
    let s = Scratch::new();
    s.write("deploy-a/Image", b"KERNEL A");
    s.write("deploy-b/Image", b"KERNEL B");
    s.write(
        "guest.toml",
        "[guest]\nkernel = \"${DEPLOY}/Image\"\ncmdline = \"console=${CONSOLE} cost=$5\"\n",
    );
    s.run(&[
        "build",
        "guest.toml",
        "-o",
        "a.xenguest",
        "--define",
        "DEPLOY=deploy-a",
        "-D",
        "CONSOLE=hvc0",
    ])
    .success();
    assert_eq!(s.member("a.xenguest", "files/kernel"), b"KERNEL A");
    assert_eq!(s.xl("a.xenguest")["extra"], "\"console=hvc0 cost=$5\"");
    s.run(&[
        "build",
        "guest.toml",
        "-o",
        "b.xenguest",
        "-D",
        "DEPLOY=deploy-b",
        "-D",
        "CONSOLE=ttyS0",
    ])
    .success();
    assert_eq!(s.member("b.xenguest", "files/kernel"), b"KERNEL B");
    // The environment is never read.
    s.cmd(&["build", "guest.toml", "-o", "c.xenguest", "-D", "CONSOLE=hvc0"])
        .env("DEPLOY", "deploy-a")
        .run()
        .error(&["DEPLOY", "guest.kernel", "--define"]);
    assert!(!s.exists("c.xenguest") && !s.exists("c.xenguest.sha256"));
    s.run(&["build", "guest.toml", "-o", "c.xenguest", "--define", "DEPLOY"])
        .failure(2, &["DEPLOY"]);
    assert_eq!(s.stray_files(), Vec::<String>::new());
}

#[test]
fn unknown_keys_are_errors_naming_key_and_line() {
    let s = Scratch::new();
    s.write("Image", b"K");
    s.write("guest.toml", "[guest]\nkernel = \"Image\"\nmemroy = 512\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["guest.toml", "memroy", "line 3"]);
    assert!(!s.exists("g.xenguest"));
    s.write("guest.toml", "[guest]\nkernel = \"Image\"\n\n[disks]\nsize = \"1G\"\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["disks", "line 4"]);
    s.write("guest.toml", "[guest]\nmemory = \"lots\"\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["line 2", "lots"]);
    // Values are checked by the same rules as the options.
    s.write("guest.toml", "[params]\nA = \"$(reboot)\"\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"]).error(&["params.A"]);
    s.write("guest.toml", "[guest]\nkernel = \"missing/Image\"\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["guest.kernel", "missing/Image"]);
    s.write(
        "guest.toml",
        "[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"2G\"\n",
    );
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["disk.partitions"]);
    assert!(!s.exists("g.xenguest"));
    assert_eq!(s.stray_files(), Vec::<String>::new());
}

#[test]
fn bad_toml_names_the_line_and_writes_nothing() {
    let s = Scratch::new();
    s.write("Image", b"K");
    s.write("guest.toml", "[guest]\nkernel = \"Image\"\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"]).success();
    let image = s.read("g.xenguest");
    let sidecar = s.read("g.xenguest.sha256");
    s.write("guest.toml", "[guest]\nkernel = \"Image\"\n\nmemory = = 12\n");
    s.run(&["build", "guest.toml", "-o", "g.xenguest"])
        .error(&["guest.toml", "line 4"]);
    assert_eq!(s.read("g.xenguest"), image);
    assert_eq!(s.read("g.xenguest.sha256"), sidecar);
    s.run(&["build", "guest.toml", "-o", "new.xenguest"]).error(&["line 4"]);
    assert!(!s.exists("new.xenguest") && !s.exists("new.xenguest.sha256"));
    s.run(&["build", "missing.toml", "-o", "new.xenguest"])
        .error(&["missing.toml"]);
    assert!(!s.exists("new.xenguest"));
    assert_eq!(s.stray_files(), Vec::<String>::new());
}

#[test]
fn sidecar_is_accepted_by_sha256sum() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "g.xenguest"]).success();
    let out = s.ext("sha256sum", &["-c", "g.xenguest.sha256"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("g.xenguest: OK"));
    let sidecar = s.read_text("g.xenguest.sha256");
    assert_eq!(sidecar, format!("{}  g.xenguest\n", sha256sum(&s.join("g.xenguest"))));
    // The embedded manifest agrees with sha256sum on GNU tar's extraction.
    s.mkdir("x");
    assert!(s.ext("tar", &["-C", "x", "-xf", "g.xenguest"]).status.success());
    let out = external("sha256sum", &["-c", "manifest.sha256"], &s.join("x"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Offset of a member's data in a tar file, found by Python's tarfile.
fn data_offset(s: &Scratch, image: &str, member: &str) -> usize {
    let script = "import sys, tarfile\nprint(tarfile.open(sys.argv[1]).getmember(sys.argv[2]).offset_data)";
    let out = s.ext("python3", &["-c", script, image, member]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().parse().unwrap()
}

#[test]
fn verify_catches_a_flipped_byte_and_a_bad_sidecar() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "g.xenguest"]).success();
    s.run(&["verify", "g.xenguest"]).success().stdout_has(&["OK"]);
    let good = s.read("g.xenguest");

    // One byte inside files/kernel, headers untouched.
    let mut bad = good.clone();
    bad[data_offset(&s, "g.xenguest", "./files/kernel") + 2] ^= 0x20;
    s.write("g.xenguest", &bad);
    assert!(
        s.ext("tar", &["-tf", "g.xenguest"]).status.success(),
        "GNU tar should not notice"
    );
    s.run(&["verify", "g.xenguest"]).error(&["./files/kernel"]);
    s.run(&["check", "g.xenguest"]).error(&["./files/kernel"]);
    let r = s.run(&["verify", "--json", "g.xenguest"]);
    assert_ne!(r.code(), 0);
    let v = r.json();
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().any(|p| p.as_str().unwrap().contains("./files/kernel")),
        "{v}"
    );
    assert!(problems.iter().any(|p| p.as_str().unwrap().contains("sha256")), "{v}");
    // Without the sidecar the manifest alone still catches it.
    fs::remove_file(s.join("g.xenguest.sha256")).unwrap();
    s.run(&["verify", "g.xenguest"]).error(&["./files/kernel"]);

    // The image intact but the sidecar wrong.
    s.write("g.xenguest", &good);
    s.write("g.xenguest.sha256", format!("{}  g.xenguest\n", "0".repeat(64)));
    s.run(&["verify", "g.xenguest"]).error(&["g.xenguest.sha256"]);
    // A tar without our manifest (a classic image) cannot be verified.
    s.mkdir("plain");
    s.run(&["create", "plain"]).success();
    fs::remove_file(s.join("plain/manifest.sha256")).unwrap();
    assert!(s
        .ext("tar", &["-C", "plain", "-cf", "plain.xenguest", "."])
        .status
        .success());
    s.run(&["check", "plain.xenguest"]).success();
    s.run(&["verify", "plain.xenguest"]).error(&["manifest"]);
    // A directory is verified against its manifest (it has no sidecar).
    s.mkdir("d");
    s.run(&["create", "d"]).success();
    s.run(&["verify", "d"])
        .success()
        .stdout_has(&["OK (manifest; a directory has no sidecar)"]);
    s.write("d/guest.cfg", b"memory = 1\n");
    s.run(&["verify", "d"]).error(&["./guest.cfg", "manifest"]);
    s.run(&["check", "d"]).error(&["./guest.cfg", "manifest"]);
    // Without a manifest there is nothing to verify against.
    fs::remove_file(s.join("d/manifest.sha256")).unwrap();
    s.run(&["verify", "d"]).error(&["manifest"]);
    s.run(&["check", "d"]).success();
}

#[test]
fn diff_lists_added_removed_and_changed_members() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "a.xenguest"]).success();
    s.run(&["diff", "a.xenguest", "a.xenguest", "--exit-code"])
        .success()
        .stdout_has(&["identical"]);
    let edited = GUEST_TOML
        .replace("memory = 512", "memory = 1024")
        .replace("device_tree = \"in/board.dtb\"\n", "")
        .replace("post = [\"in/post.sh\"]", "post = [\"in/post.sh\", \"in/extra.sh\"]");
    s.write("spec/extra.sh", "#!/bin/sh\n");
    s.write("spec/in/extra.sh", "#!/bin/sh\necho extra\n");
    s.write("spec/b.toml", edited);
    s.run(&["build", "spec/b.toml", "-o", "b.xenguest"]).success();
    // Like diff(1) and cmp(1): 1 when the images differ.
    let r = s.run(&["diff", "a.xenguest", "b.xenguest"]);
    r.failure(1, &[]).stdout_has(&[
        "added:   ./init.post/extra.sh",
        "removed: ./files/guest.dtb",
        "changed: ./guest.cfg",
        "-memory = 512",
        "+memory = 1024",
    ]);
    r.stdout_lacks(&["changed: ./files/kernel", "identical"]);
    s.run(&["diff", "--exit-code", "a.xenguest", "b.xenguest"])
        .failure(1, &[]);
    let v = s
        .run(&["diff", "--json", "a.xenguest", "b.xenguest"])
        .failure(1, &[])
        .json();
    assert_eq!(v["identical"], false);
    assert_eq!(v["added"], serde_json::json!(["init.post/extra.sh"]));
    assert!(
        v["removed"].as_array().unwrap().iter().any(|m| m == "files/guest.dtb"),
        "{v}"
    );
    let changed = v["changed"].as_array().unwrap();
    let cfg = changed
        .iter()
        .find(|c| c["member"] == "guest.cfg")
        .expect("guest.cfg changed");
    assert!(cfg["diff"].as_str().unwrap().contains("+memory = 1024"), "{cfg}");
    // A directory image compares with a file image.
    s.mkdir("d");
    s.run(&["extract", "a.xenguest", "d"]).success();
    s.run(&["diff", "d", "b.xenguest"])
        .failure(1, &[])
        .stdout_has(&["+memory = 1024"]);
    // Trouble is 2, as in diff(1), so it is never taken for "different".
    s.run(&["diff", "a.xenguest", "missing.xenguest"])
        .failure(2, &["missing.xenguest"]);
}

#[test]
fn json_output_parses() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "g.xenguest"]).success();
    let v = s.run(&["check", "--json", "g.xenguest"]).success().json();
    assert_eq!(
        (v["ok"].clone(), v["problems"].clone()),
        (true.into(), serde_json::json!([]))
    );
    let v = s.run(&["verify", "--json", "g.xenguest"]).success().json();
    assert_eq!((v["ok"].clone(), v["sidecar"].clone()), (true.into(), true.into()));
    let v = s.run(&["diff", "--json", "g.xenguest", "g.xenguest"]).success().json();
    assert_eq!(v["identical"], true);
    let v = s.run(&["dump-xenconfig", "--json", "g.xenguest"]).success().json();
    assert_eq!(v["files"][0]["member"], "guest.cfg");
    assert!(v["files"][0]["text"].as_str().unwrap().contains("memory = 512"), "{v}");
    let net = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["member"] == "guest.d/net.cfg")
        .expect("guest.d/net.cfg listed");
    assert_eq!(net["text"], "vif = ['bridge=xenbr0']\n");
    assert_eq!(v["settings"]["memory"], 512);
    assert_eq!(v["settings"]["name"], "web");
    assert_eq!(v["settings"]["vif"], serde_json::json!(["bridge=xenbr0"]));
    assert_eq!(v["raw_settings"]["vif"], "['bridge=xenbr0']");
    let v = s.run(&["dump-diskconfig", "--json", "g.xenguest"]).success().json();
    assert_eq!(shell_vars(v["text"].as_str().unwrap())["DISK_SIZE"], "2000M");
    assert_eq!(v["disk"]["size_mb"], 2000);
    assert_eq!(v["disk"]["partitions"][0]["number"], 1);
    assert_eq!(v["disk"]["partitions"][0]["fs"], "ext4");
    let v = s.run(&["dump-paramsconfig", "--json", "g.xenguest"]).success().json();
    assert_eq!(v["params"]["GUEST_AUTOBOOT"], "0");
    let v = s.run(&["dump-init", "--json", "g.xenguest"]).success().json();
    let scripts: Vec<(&str, &str)> = v["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["member"].as_str().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        scripts,
        [
            ("init.pre/pre.sh", "#!/bin/sh\necho pre\n"),
            ("init.d/setup.sh", "#!/bin/sh\necho setup\n"),
            ("init.post/post.sh", "#!/bin/sh\necho post\n"),
        ]
    );
    assert_eq!(v["scripts"][0]["size"], 19);
    assert_eq!(v["scripts"][0]["sha256"].as_str().unwrap().len(), 64);
    // A failing check still prints one JSON document.
    s.write("broken.xenguest", "not an image\n".repeat(100));
    let r = s.run(&["check", "--json", "broken.xenguest"]);
    assert_ne!(r.code(), 0);
    assert_eq!(r.json()["ok"], false);
}

#[test]
fn gzip_images_are_deterministic_and_readable() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "--compress", "gzip", "-o", "a.xenguest"])
        .success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.run(&["build", "spec/guest.toml", "--compress", "gzip", "-o", "b.xenguest"])
        .success();
    let a = s.read("a.xenguest");
    assert_eq!(&a[..2], b"\x1f\x8b", "not gzip");
    assert!(a == s.read("b.xenguest"), "two gzip builds differ");
    let out = s.ext("tar", &["-tzf", "a.xenguest"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("./files/kernel"));
    let out = s.ext("gzip", &["-t", "a.xenguest"]);
    assert!(out.status.success());
    // Same members as the uncompressed build.
    s.run(&["build", "spec/guest.toml", "-o", "plain.xenguest"]).success();
    let out = s.ext("sh", &["-c", "gzip -dc a.xenguest | cmp - plain.xenguest"]);
    assert!(out.status.success(), "gunzip(gzip build) != plain build");
    s.run(&["check", "a.xenguest"]).success();
    s.run(&["verify", "a.xenguest"]).success();
    assert!(s.ext("sha256sum", &["-c", "a.xenguest.sha256"]).status.success());
    s.run(&["dump-xenconfig", "a.xenguest"])
        .success()
        .stdout_has(&["memory = 512"]);
    s.run(&["dump-init", "a.xenguest"])
        .success()
        .stdout_has(&["echo setup"]);
    let rootfs = s
        .run(&["extract-disk-file", "a.xenguest", "rootfs.tar.gz"])
        .success()
        .out
        .stdout
        .clone();
    assert_eq!(rootfs, s.read("spec/in/rootfs.tar.gz"));
    // An update keeps the compression.
    s.update("a.xenguest", &["--xen-memory=64"]);
    assert_eq!(&s.read("a.xenguest")[..2], b"\x1f\x8b");
    s.run(&["verify", "a.xenguest"]).success();
    s.run(&["dump-xenconfig", "a.xenguest"])
        .success()
        .stdout_has(&["memory = 64"]);
}

/// `export` then `build` gives an image `diff` finds identical.
#[track_caller]
fn assert_export_round_trips(s: &Scratch, image: &str) {
    let dir = format!("{image}.export");
    s.run(&["export", image, &dir]).success();
    let toml = format!("{dir}/guest.toml");
    let rebuilt = format!("{image}.rebuilt");
    s.run(&["build", &toml, "-o", &rebuilt]).success();
    s.run(&["diff", "--exit-code", image, &rebuilt])
        .success()
        .stdout_has(&["identical"]);
    assert_eq!(
        s.run(&["diff", "--json", image, &rebuilt]).success().json()["identical"],
        true
    );
}

#[test]
fn export_then_build_gives_an_identical_image() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "from-toml.xenguest"])
        .success();
    assert_export_round_trips(&s, "from-toml.xenguest");

    s.write("cli/Image", b"KERNEL");
    s.write("cli/board.dtb", b"DTB");
    s.write("cli/initrd", b"RAMDISK");
    s.write("cli/extra.cfg", "on_reboot = \"destroy\"\n");
    s.write("cli/notes.txt", b"notes");
    s.write("cli/s1.sh", "#!/bin/sh\n");
    s.write("cli/s2.sh", "#!/bin/sh\necho 2\n");
    s.write("cli/rootfs.tar.xz", b"XZ");
    s.create(
        "from-cli.xenguest",
        &[
            "--xen-name=cli",
            "--xen-memory=300",
            "--xen-vcpus=3",
            "--xen-clean-extra",
            "--xen-extra=console=hvc0",
            "--xen-root=/dev/xvda2",
            "--xen-kernel=cli/Image",
            "--xen-device-tree=cli/board.dtb",
            "--xen-ramdisk=cli/initrd",
            "--xen-append=cli/extra.cfg",
            "--xen-add-file=cli/notes.txt:doc/notes.txt",
            "--init-pre=cli/s1.sh",
            "--init-script=cli/s2.sh",
            "--init-post=cli/s1.sh",
            "--set-param=XENGUEST_NETWORK_TYPE=nat",
            "--set-param=GUEST_AUTOBOOT=0",
            "--disk-size=3G",
            "--disk-device=/dev/sdc",
            "--disk-add-file=cli/rootfs.tar.xz",
            "--disk-add-part=2:1G:ext3:rootfs.tar.xz",
        ],
    );
    assert_export_round_trips(&s, "from-cli.xenguest");
    // export never writes into a directory that holds something.
    s.write("busy/keep.txt", b"mine");
    s.run(&["export", "from-cli.xenguest", "busy"])
        .error(&["busy", "not empty"]);
    assert_eq!(s.ls("busy"), vec!["keep.txt"]);
    // The default image too.
    s.create("default.xenguest", &[]);
    assert_export_round_trips(&s, "default.xenguest");
}

#[test]
fn examples_build_and_check() {
    let s = Scratch::new();
    let out = s.join("demo.xenguest");
    // The README's command, from the repository root.
    s.cmd(&["build", "examples/demo/guest.toml", "-o"])
        .dir(repo())
        .arg(&out)
        .run()
        .success();
    s.run(&["check", "demo.xenguest"]).success();
    s.run(&["verify", "demo.xenguest"]).success();
    let demo = repo().join("examples/demo");
    assert_eq!(
        s.member("demo.xenguest", "files/kernel"),
        fs::read(demo.join("Image")).unwrap()
    );
    assert_eq!(
        s.member("demo.xenguest", "files/guest.dtb"),
        fs::read(demo.join("guest.dtb")).unwrap()
    );
    let xl = s.xl("demo.xenguest");
    assert_eq!((xl["memory"].as_str(), xl["vcpus"].as_str()), ("512", "2"));
    assert!(xl["extra"].contains("console=hvc0"), "{xl:?}");
    assert_eq!(xl["on_crash"], "\"restart\"", "{xl:?}");
    assert!(s
        .vars("demo.xenguest", "params.cfg")
        .contains_key("XENGUEST_NETWORK_TYPE"));
    let disk = s.vars("demo.xenguest", "disk.cfg");
    assert!(disk["DISK_PART1"].ends_with(":rootfs.tar.gz"), "{disk:?}");
    // The partition content is a real gzip'd tar, as the host extracts it.
    s.write("rootfs.tar.gz", s.member("demo.xenguest", "disk/rootfs.tar.gz"));
    let listing = s.ext("tar", &["-tzf", "rootfs.tar.gz"]);
    assert!(listing.status.success());
    let init = s.member_text("demo.xenguest", "init.d/setup-network.sh");
    assert!(init.starts_with("#!/bin/sh\n"), "{init}");
    // A second build is byte-identical.
    s.cmd(&["build", "examples/demo/guest.toml", "-o"])
        .dir(repo())
        .arg(s.join("again.xenguest"))
        .run()
        .success();
    assert!(s.read("demo.xenguest") == s.read("again.xenguest"));

    s.cmd(&["build", "examples/minimal/guest.toml", "-o"])
        .dir(repo())
        .arg(s.join("minimal.xenguest"))
        .run()
        .success();
    s.run(&["check", "minimal.xenguest"]).success();
    assert_eq!(
        s.member("minimal.xenguest", "files/kernel"),
        fs::read(demo.join("Image")).unwrap()
    );
    assert_eq!(s.vars("minimal.xenguest", "disk.cfg")["DISK_SIZE"], "0");
    assert!(!s.tar_names("minimal.xenguest").iter().any(|n| n.starts_with("./disk/")));
}

/// The demo image's layout as GNU tar lists it: names, order, types,
/// modes, owners, sizes and times. A reviewed file, not a checksum: when
/// the layout changes on purpose, run with `XENGUEST_BLESS=1` and review
/// the diff of `tests/data/demo.listing`.
#[test]
fn golden_listing_of_the_demo_image() {
    let s = Scratch::new();
    s.cmd(&["build", "examples/demo/guest.toml", "-o"])
        .dir(repo())
        .arg(s.join("demo.xenguest"))
        .run()
        .success();
    let out = s.ext("tar", &["--utc", "--numeric-owner", "-tvf", "demo.xenguest"]);
    assert!(out.status.success());
    let listing = String::from_utf8(out.stdout).unwrap();
    let golden = crate::support::data("demo.listing");
    if std::env::var_os("XENGUEST_BLESS").is_some() {
        fs::write(&golden, &listing).unwrap();
    }
    let expected = fs::read_to_string(&golden).expect("tests/data/demo.listing (XENGUEST_BLESS=1 writes it)");
    assert_eq!(
        listing, expected,
        "layout changed; if on purpose, rerun with XENGUEST_BLESS=1"
    );
}

/// Two list items that give one image member (two init scripts or two
/// `xen.config` files with one file name, two partitions with one number),
/// from the TOML, from `--set` or from both, kept only the last one
/// silently: `build` refuses them, naming both items.
#[test]
fn list_items_giving_one_member_are_refused_naming_both() {
    let s = Scratch::new();
    s.write("spec/post.sh", "echo post\n");
    s.write("alt/post.sh", "echo alt\n");
    s.write("spec/net.cfg", "vif = ['bridge=xenbr0']\n");
    s.write("other/net.cfg", "vif = ['bridge=xenbr1']\n");
    s.write(
        "spec/two.toml",
        "[init]\npost = [\n  \"post.sh\",\n  \"../alt/post.sh\",\n]\n",
    );
    s.run(&["build", "spec/two.toml", "-o", "a.xenguest"]).failure(
        1,
        &[
            "spec/two.toml",
            "line 4, column 3: `init.post[2]` and `init.post[1]` (`spec/two.toml` line 3, column 3) both give `init.post/post.sh`",
        ],
    );
    s.write("spec/net.toml", "[xen]\nconfig = [\"net.cfg\", \"../other/net.cfg\"]\n");
    s.run(&["build", "spec/net.toml", "-o", "b.xenguest"]).failure(
        1,
        &["`xen.config[2]` and `xen.config[1]` (`spec/net.toml` line 2, column 11) both give `guest.d/net.cfg`"],
    );
    s.write(
        "spec/one.toml",
        "[init]\npost = [\"post.sh\"]\n[disk]\nsize = \"1G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"100M\"\n",
    );
    s.run(&["build", "spec/one.toml", "-o", "c.xenguest", "--set", "init.post=alt/post.sh"]).failure(
        1,
        &["`--set init.post=alt/post.sh` and `init.post[1]` (`spec/one.toml` line 2, column 9) both give `init.post/post.sh`"],
    );
    s.run(&["build", "spec/one.toml", "-o", "d.xenguest", "--set", "disk.partitions=1:200M::"]).failure(
        1,
        &["`--set disk.partitions=1:200M::` and `disk.partitions #1` (`spec/one.toml` line 5, column 1) both give `DISK_PART1`"],
    );
    s.run(&[
        "build",
        "-o",
        "e.xenguest",
        "--set",
        "init.pre=spec/post.sh",
        "--set",
        "init.pre=alt/post.sh",
    ])
    .failure(
        1,
        &["`--set init.pre=alt/post.sh` and `--set init.pre=spec/post.sh` both give `init.pre/post.sh`"],
    );
    for image in ["a", "b", "c", "d", "e"] {
        assert!(!s.exists(&format!("{image}.xenguest")), "{image}");
    }
}

/// A `--set` on a list key adds its item to the TOML's list, as `--help`
/// and the README say; the same file name in another stage is no clash.
#[test]
fn set_on_a_list_key_adds_an_item() {
    let s = Scratch::new();
    s.write("spec/post.sh", "echo post\n");
    s.write("spec/other.sh", "echo other\n");
    s.write("spec/guest.toml", "[init]\npost = [\"post.sh\"]\n");
    s.run(&[
        "build",
        "spec/guest.toml",
        "-o",
        "g.xenguest",
        "--set",
        "init.post=spec/other.sh",
        "--set",
        "init.pre=spec/post.sh",
    ])
    .success();
    assert_eq!(s.member_text("g.xenguest", "init.post/post.sh"), "echo post\n");
    assert_eq!(s.member_text("g.xenguest", "init.post/other.sh"), "echo other\n");
    assert_eq!(s.member_text("g.xenguest", "init.pre/post.sh"), "echo post\n");
}
