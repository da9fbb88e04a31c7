//! Issue 3: the same description gives the same bytes, whatever the build
//! machine's file times, modes, owners, paths, umask, time zone, locale and
//! working directory; only the source date epoch changes them.

use std::fs::{self, File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::{is_root, sha256sum, Scratch};

const TOML: &str = r#"[guest]
memory = 256
cmdline = "console=hvc0"
kernel = "deploy/Image"
device_tree = "deploy/board.dtb"

[params]
XENGUEST_NETWORK_TYPE = "nat"

[xen]
config = ["conf/net.cfg", "conf/extra.cfg"]

[xen.files]
"z/last.bin" = "deploy/last.bin"
"a/first.bin" = "deploy/first.bin"

[init]
scripts = ["scripts/20-b.sh", "scripts/10-a.sh"]

[disk]
size = "1G"

[disk.files]
"rootfs.tar" = "deploy/rootfs.tar"

[[disk.partitions]]
number = 1
size = "500M"
fs = "ext4"
content = "rootfs.tar"
"#;

/// The inputs, in the order they are created (which is also the order a
/// fresh directory tends to list them in).
const INPUTS: &[(&str, &[u8])] = &[
    ("deploy/Image", b"KERNEL"),
    ("deploy/board.dtb", b"DTB"),
    ("deploy/first.bin", b"first"),
    ("deploy/last.bin", b"last"),
    ("deploy/rootfs.tar", b"ROOTFS"),
    ("conf/net.cfg", b"vif = ['bridge=xenbr0']\n"),
    ("conf/extra.cfg", b"on_crash = \"preserve\"\n"),
    ("scripts/10-a.sh", b"#!/bin/sh\necho a\n"),
    ("scripts/20-b.sh", b"#!/bin/sh\necho b\n"),
];

/// Writes the description and inputs under `root`, in `order`, giving
/// every input `mode` and modification time `mtime`.
fn lay_out(root: &Path, order: impl Iterator<Item = usize>, mode: u32, mtime: SystemTime) {
    fs::create_dir_all(root).unwrap();
    fs::write(root.join("guest.toml"), TOML).unwrap();
    for i in order {
        let (rel, data) = INPUTS[i];
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        fs::set_permissions(&p, Permissions::from_mode(mode)).unwrap();
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
}

#[test]
fn builds_are_byte_identical_across_build_machines() {
    let s = Scratch::new();
    let root_user = is_root(s.path());
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(978_307_200);
    lay_out(&s.join("a"), 0..INPUTS.len(), 0o644, old);
    s.cmd(&["build", "a/guest.toml", "-o", "out-a/g.xenguest"])
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .umask(0o022)
        .run()
        .error(&["out-a"]);
    s.mkdir("out-a");
    s.cmd(&["build", "a/guest.toml", "-o", "out-a/g.xenguest"])
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .umask(0o022)
        .run()
        .success();

    // Another machine: other path, reverse creation order, other modes,
    // times, owner, umask, zone, locale and working directory.
    let b = s.join("elsewhere/much/deeper/b");
    lay_out(&b, (0..INPUTS.len()).rev(), 0o600, SystemTime::now());
    if root_user {
        for (rel, _) in INPUTS {
            std::os::unix::fs::chown(b.join(rel), Some(4321), Some(8765)).unwrap();
        }
    }
    for script in ["scripts/10-a.sh", "scripts/20-b.sh"] {
        fs::set_permissions(b.join(script), Permissions::from_mode(0o700)).unwrap();
    }
    let cwd = s.mkdir("some/other/cwd");
    let spec = b.join("guest.toml");
    s.mkdir("out-b");
    s.cmd(&["build"])
        .arg(&spec)
        .arg("-o")
        .arg(s.join("out-b/g.xenguest"))
        .dir(&cwd)
        .env("TZ", "Pacific/Chatham")
        .env("LC_ALL", "fr_FR.UTF-8")
        .env("LANG", "de_DE.UTF-8")
        .umask(0o077)
        .run()
        .success();

    let a = s.read("out-a/g.xenguest");
    assert!(a == s.read("out-b/g.xenguest"), "the two builds differ:\n{}", {
        s.run(&["diff", "out-a/g.xenguest", "out-b/g.xenguest"]).stdout()
    });
    assert_eq!(s.read("out-a/g.xenguest.sha256"), s.read("out-b/g.xenguest.sha256"));
    assert_eq!(s.mode("out-a/g.xenguest"), s.mode("out-b/g.xenguest"));
    // Nothing from the build machine leaks into the headers.
    let listing = s.tar_verbose("out-a/g.xenguest");
    for line in listing.lines() {
        assert!(line.contains(" root/root ") || line.contains(" 0/0 "), "{line}");
        assert!(line.contains(" 2000-01-01 "), "{line}");
    }
    // And the member order is sorted, not the input order.
    let names = s.tar_names("out-a/g.xenguest");
    let pos = |n: &str| names.iter().position(|m| m == n).unwrap();
    assert!(pos("./files/a/first.bin") < pos("./files/z/last.bin"));
    assert!(pos("./init.d/10-a.sh") < pos("./init.d/20-b.sh"));
}

#[test]
fn cli_images_are_reproducible_too() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("init.sh", "#!/bin/sh\n");
    let args = [
        "--xen-kernel=Image",
        "--init-script=init.sh",
        "--disk-size=1",
        "--set-param=A=1",
    ];
    s.create("a.xenguest", &args);
    std::thread::sleep(Duration::from_millis(1100));
    fs::set_permissions(s.join("init.sh"), Permissions::from_mode(0o700)).unwrap();
    File::options()
        .write(true)
        .open(s.join("Image"))
        .unwrap()
        .set_modified(SystemTime::now())
        .unwrap();
    let mut b = vec!["create", "b.xenguest"];
    b.extend(args);
    s.cmd(&b).env("TZ", "Asia/Kathmandu").umask(0o027).run().success();
    assert!(
        s.read("a.xenguest") == s.read("b.xenguest"),
        "create is not reproducible"
    );
    // The same update on both gives the same bytes again.
    for img in ["a.xenguest", "b.xenguest"] {
        s.update(img, &["--xen-memory=64"]);
    }
    assert!(
        s.read("a.xenguest") == s.read("b.xenguest"),
        "update is not reproducible"
    );
}

#[test]
fn source_date_epoch_sets_the_member_times() {
    let s = Scratch::new();
    lay_out(&s.join("spec"), 0..INPUTS.len(), 0o644, SystemTime::now());
    let build = |out: &str, extra: &[&str], env: Option<&str>| {
        let mut args = vec!["build", "spec/guest.toml", "-o", out];
        args.extend_from_slice(extra);
        let mut cmd = s.cmd(&args);
        if let Some(v) = env {
            cmd = cmd.env("SOURCE_DATE_EPOCH", v);
        }
        cmd.run().success();
        s.read(out)
    };
    let default = build("default.xenguest", &[], None);
    let flag = build("flag.xenguest", &["--source-date-epoch", "1700000000"], None);
    let env = build("env.xenguest", &[], Some("1700000000"));
    let both = build("both.xenguest", &["--source-date-epoch=1700000000"], Some("5"));
    let other = build("other.xenguest", &[], Some("1700000001"));
    assert!(default != flag, "--source-date-epoch changed nothing");
    assert!(flag == env, "SOURCE_DATE_EPOCH and --source-date-epoch disagree");
    assert!(flag == both, "the flag should win over the environment");
    assert!(other != env, "one second apart gives the same bytes");
    // GNU tar shows the epoch (2023-11-14T22:13:20Z) on every member.
    let listing = s.ext("tar", &["--utc", "-tvf", "flag.xenguest"]);
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(!listing.is_empty());
    for line in listing.lines() {
        assert!(line.contains(" 2023-11-14 22:13 "), "{line}");
    }
    // Only the times differ: same members, same data.
    let v = s
        .run(&["diff", "--json", "default.xenguest", "flag.xenguest"])
        .failure(1, &[])
        .json();
    for c in v["changed"].as_array().unwrap() {
        assert_eq!(c["what"], "metadata", "{c}");
    }
    assert_eq!(v["added"], serde_json::json!([]));
    assert_eq!(v["removed"], serde_json::json!([]));
    // A bad epoch is refused.
    s.cmd(&["build", "spec/guest.toml", "-o", "bad.xenguest"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .run()
        .error(&["SOURCE_DATE_EPOCH", "yesterday"]);
    assert!(!s.exists("bad.xenguest"));
    assert_ne!(
        sha256sum(&s.join("default.xenguest")),
        sha256sum(&s.join("flag.xenguest"))
    );
}

#[test]
fn create_update_and_pack_honour_source_date_epoch() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    let dates = |img: &str| -> Vec<String> {
        let out = s.ext("tar", &["--utc", "-tvf", img]);
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().nth(3).unwrap().to_owned())
            .collect()
    };
    s.cmd(&["create", "c.xenguest", "--xen-kernel=Image"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run()
        .success();
    assert!(
        dates("c.xenguest").iter().all(|d| d == "2023-11-14"),
        "{:?}",
        dates("c.xenguest")
    );
    s.run(&[
        "update",
        "c.xenguest",
        "--xen-memory=64",
        "--source-date-epoch=1000000000",
    ])
    .success();
    assert!(
        dates("c.xenguest").iter().all(|d| d == "2001-09-09"),
        "{:?}",
        dates("c.xenguest")
    );
    s.mkdir("d");
    s.run(&["create", "d", "--xen-kernel=Image"]).success();
    s.run(&["pack", "d", "p1.xenguest", "--source-date-epoch=1700000000"])
        .success();
    s.cmd(&["pack", "d", "p2.xenguest"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run()
        .success();
    assert!(dates("p1.xenguest").iter().all(|d| d == "2023-11-14"));
    assert!(s.read("p1.xenguest") == s.read("p2.xenguest"));
    // Packing the directory and creating the file directly agree.
    s.cmd(&["create", "direct.xenguest", "--xen-kernel=Image"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .run()
        .success();
    assert!(
        s.read("p1.xenguest") == s.read("direct.xenguest"),
        "pack(create DIR) != create FILE"
    );
}
