//! `xenguest-manager` against recording stand-ins for xl, LVM, parted,
//! losetup, mkfs, mount and dmsetup (`manager_standin.sh` on a PATH
//! prefix): every action, the classic manager's command sequence, failure
//! cleanup, hostile values, the init script contract, file-backed disks.
//! One test (`file_backed_disk_is_real`) runs the real tools as root on a
//! real loop device, as CI does.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Run, Scratch};

const STANDIN: &str = include_str!("manager_standin.sh");

/// Tools the stand-in plays.
const TOOLS: &[&str] = &[
    "xl",
    "pvs",
    "pvcreate",
    "lsblk",
    "vgs",
    "vgcreate",
    "lvs",
    "lvcreate",
    "lvremove",
    "lvrename",
    "xenstore-read",
    "losetup",
    "parted",
    "mkfs.ext4",
    "mkfs.ext3",
    "mkfs.ext2",
    "mkfs.vfat",
    "mkswap",
    "mount",
    "umount",
    "dmsetup",
    "ip",
    "nft",
    "iptables",
    "sysctl",
    "udhcpd",
];

fn manager_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_xenguest-manager"))
}

/// A host: a root prefix for the manager's own paths, a PATH prefix of
/// stand-ins, and the stand-ins' state (their call record).
pub struct Host {
    pub s: Scratch,
}

impl Host {
    pub fn new() -> Host {
        Host::with_tools(TOOLS)
    }

    pub fn with_tools(tools: &[&'static str]) -> Host {
        let s = Scratch::new();
        let bin = s.mkdir("standins");
        s.mkdir("state");
        s.mkdir("root");
        for tool in tools {
            let p = bin.join(tool);
            fs::write(&p, STANDIN).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        Host { s }
    }

    pub fn root(&self) -> PathBuf {
        self.s.join("root")
    }

    pub fn state(&self, rel: &str) -> PathBuf {
        self.s.join("state").join(rel)
    }

    pub fn conf(&self, text: &str) {
        self.s.write("root/etc/xenguest/xenguest-manager.conf", text);
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(manager_bin());
        let path = format!(
            "{}:{}",
            self.s.join("standins").display(),
            std::env::var("PATH").unwrap()
        );
        cmd.args(args)
            .current_dir(self.s.path())
            .env("PATH", path)
            .env("STANDIN_STATE", self.s.join("state"))
            .env("XENGUEST_MANAGER_ROOT", self.root())
            .env_remove("XENGUEST_MANAGER_CONF")
            .env_remove("DM_DISABLE_UDEV");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::new(&mut self.cmd(args))
    }

    /// The recorded calls, with scratch paths shortened to `STATE`,
    /// `ROOT` and `TMP` (the manager's mount points).
    pub fn calls(&self) -> Vec<String> {
        let text = fs::read_to_string(self.state("calls")).unwrap_or_default();
        let state = self.s.join("state").display().to_string();
        let root = self.root().display().to_string();
        text.lines()
            .map(|l| {
                let l = l.replace(&state, "STATE").replace(&root, "ROOT");
                l.split(' ')
                    .map(|w| if w.contains("xenguest-manager-mnt.") { "MNT" } else { w })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// Makes the stand-in `xl info` describe a host of `machine` running
    /// Xen `version`.
    fn xl_info(&self, machine: &str, version: &str) {
        let text = format!(
            "host                   : dom0\nrelease                : 6.6.0\nmachine                : {machine}\n\
             xen_major              : 4\nxen_version            : {version}\nxen_caps               : xen-3.0-{machine}\n"
        );
        fs::write(self.state("xl-info"), text).unwrap();
    }

    pub fn clear_calls(&self) {
        let _ = fs::remove_file(self.state("calls"));
    }

    pub fn fail(&self, what: &str) {
        fs::write(self.state(&format!("fail-{what}")), "").unwrap();
    }

    pub fn guest_dir(&self, name: &str) -> PathBuf {
        self.root().join("etc/xenguest/guests").join(name)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.root().join("var/log/xenguest")).unwrap_or_default()
    }

    pub fn running(&self) -> Vec<String> {
        fs::read_to_string(self.state("running"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Builds an image with xenguest-mkimage `create` and `options`.
    pub fn image(&self, name: &str, options: &[&str]) -> PathBuf {
        self.s.write("kernel", b"fake kernel\n");
        let mut args = vec!["create", name, "--xen-kernel=kernel"];
        args.extend_from_slice(options);
        self.s.run(&args).success();
        self.s.join(name)
    }

    /// A rootfs tarball (one file owned by 1234:5678) at `name`.
    fn rootfs(&self, name: &str) {
        let dir = self.s.mkdir("rootfs-src/etc");
        fs::write(dir.join("hostname"), "guest\n").unwrap();
        let out = Command::new("tar")
            .args(["--owner=1234", "--group=5678", "--numeric-owner", "-C"])
            .arg(self.s.join("rootfs-src"))
            .args(["-czf"])
            .arg(self.s.join(name))
            .arg(".")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    }

    /// The standard disk image: 100M disk, partition 1 ext4 with a
    /// rootfs, partition 3 swap (partition 2 becomes a placeholder).
    pub fn disk_image(&self, name: &str) -> PathBuf {
        self.rootfs("rootfs.tar.gz");
        self.image(
            name,
            &[
                "--disk-size=100M",
                "--disk-add-file=rootfs.tar.gz:rootfs.tar.gz",
                "--disk-add-part=1:10M:ext4:rootfs.tar.gz",
                "--disk-add-part=3:20M:swap:",
            ],
        )
    }
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn write_script(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn help_and_usage() {
    let h = Host::new();
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let r = h.run(args);
        r.success();
        for action in [
            "create",
            "remove",
            "start",
            "stop",
            "kill",
            "list",
            "status",
            "check-xen",
        ] {
            assert!(r.stdout().contains(action), "{args:?} lacks {action}: {}", r.stdout());
        }
    }
    assert!(h.run(&["--help"]).stdout().contains("XENGUEST_VOLUME_DEVICE"));
    h.run(&["stop", "--help"]).success().stdout_has(&["--nowait", "--kill"]);
    // help needs no Xen: nothing ran.
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert_eq!(h.run(&[]).code(), 2);
    h.run(&["frobnicate"]).failure(2, &["xenguest-manager: error:"]);
    h.run(&["stop", "g", "--nowait", "--kill"]).failure(2, &["--kill"]);
}

#[test]
fn every_action_needs_xen() {
    let h = Host::new();
    h.run(&["check-xen"]).success();
    assert_eq!(h.calls(), strs(&["xl info"]));
    h.fail("xl-info");
    for args in [
        &["check-xen"][..],
        &["list"],
        &["status"],
        &["start", "g"],
        &["create", "x.xenguest"],
    ] {
        h.run(args)
            .failure(1, &["xenguest-manager: error: Xen environment is not valid"]);
    }
    assert!(
        h.log().contains("[ERROR]    Xen environment is not valid"),
        "{}",
        h.log()
    );
}

#[test]
fn create_on_lvm_follows_the_classic_sequence() {
    let h = Host::new();
    h.conf("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n");
    let img = h.disk_image("web.xenguest");
    h.run(&["create", img.to_str().unwrap()]).success();
    assert_eq!(
        h.calls(),
        strs(&[
            "xl info",
            "pvs --noheadings /dev/sda2",
            "lsblk -n -o FSTYPE /dev/sda2",
            "pvcreate -f /dev/sda2",
            "vgs --noheadings vg-xen-sda2",
            "vgcreate vg-xen-sda2 /dev/sda2",
            "lvs --noheadings vg-xen-sda2/web",
            "lvcreate -y -L 100M -n web vg-xen-sda2",
            "losetup -P --show -f /dev/vg-xen-sda2/web",
            "parted -s STATE/dev/loop7 mklabel msdos",
            "parted -s STATE/dev/loop7 unit MB mkpart primary 1 11",
            "parted -s STATE/dev/loop7 unit MB mkpart primary 11 13",
            "parted -s STATE/dev/loop7 unit MB mkpart primary 13 33",
            "mkfs.ext4 -F STATE/dev/loop7p1",
            "mount STATE/dev/loop7p1 MNT",
            "umount MNT",
            "mkswap STATE/dev/loop7p3",
            "losetup -d STATE/dev/loop7",
        ])
    );
    // No udev on a minimal Dom0: LVM is told to make its own nodes.
    assert_eq!(fs::read_to_string(h.state("dm-disable-udev")).unwrap().trim(), "1");
    let dir = h.guest_dir("web");
    let cfg = fs::read_to_string(dir.join("guest.cfg")).unwrap();
    assert!(cfg.contains("name = \"web\""), "{cfg}");
    assert!(cfg.contains("disk = ['phy:/dev/vg-xen-sda2/web,xvda,w']"), "{cfg}");
    // The configuration part only: no disk/ in the store.
    assert!(!dir.join("disk").exists());
    assert!(dir.join("files/kernel").is_file());
    let merged = fs::read_to_string(dir.join("xl.cfg")).unwrap();
    assert!(
        merged.contains(&format!("kernel = \"{}/files/kernel\"", dir.display())),
        "{merged}"
    );
    // The second time the group and volume exist: only the volume is
    // recreated (the classic manager's lvremove), after a remove.
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["guest `web` already exists"]);
    h.run(&["list"]).success().stdout_has(&["web\n"]);
    h.run(&["status"]).success().stdout_has(&["web Stopped\n"]);
    h.clear_calls();
    // Partition mappings Debian's parted left on the volume (as when the
    // classic manager partitioned it) hold it open: they go first.
    fs::write(
        h.state("dm-mappings"),
        "vg--xen--sda2-web1\t(253:4)\nvg--xen--sda2-webserver1\t(253:6)\nvg--xen--sda2-webp2\t(253:5)\n",
    )
    .unwrap();
    h.run(&["remove", "web"]).success();
    assert_eq!(
        h.calls(),
        strs(&[
            "xl info",
            "xl list",
            "lvs --noheadings vg-xen-sda2/web",
            "dmsetup ls",
            "dmsetup remove vg--xen--sda2-web1",
            "dmsetup remove vg--xen--sda2-webp2",
            "lvremove -f vg-xen-sda2/web"
        ])
    );
    assert_eq!(
        fs::read_to_string(h.state("dm-mappings")).unwrap(),
        "vg--xen--sda2-webserver1\t(253:6)\n"
    );
    assert!(!dir.exists());
    // A volume of that name that no guest owns is never removed unless
    // asked for (--replace-disk, for what a crashed create left).
    h.clear_calls();
    fs::write(h.state("lv-vg-xen-sda2_other"), "").unwrap();
    h.run(&["create", img.to_str().unwrap(), "other"]).failure(
        1,
        &["logical volume `vg-xen-sda2/other` already exists", "--replace-disk"],
    );
    assert!(h.state("lv-vg-xen-sda2_other").exists());
    assert!(!h.calls().iter().any(|c| c.starts_with("lvremove")), "{:?}", h.calls());
    assert!(!h.guest_dir("other").exists());
    h.clear_calls();
    h.run(&["create", "--replace-disk", img.to_str().unwrap(), "other"])
        .success();
    let calls = h.calls();
    assert_eq!(calls[1], "pvs --noheadings /dev/sda2");
    assert_eq!(calls[2], "vgs --noheadings vg-xen-sda2");
    assert_eq!(calls[3], "lvs --noheadings vg-xen-sda2/other");
    assert_eq!(calls[4], "dmsetup ls");
    assert_eq!(calls[5], "lvremove -f vg-xen-sda2/other");
    assert_eq!(calls[6], "lvcreate -y -L 100M -n other vg-xen-sda2");
}

#[test]
fn a_device_holding_a_file_system_is_refused() {
    let h = Host::new();
    h.conf("XENGUEST_VOLUME_DEVICE=\"/dev/sdb1\"\nXENGUEST_VOLUME_NAME=\"vg0\"\n");
    fs::write(h.state("fstype-_dev_sdb1"), "ext4\n").unwrap();
    let img = h.disk_image("g.xenguest");
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["`/dev/sdb1` holds a `ext4` file system"]);
    assert!(!h.calls().iter().any(|c| c.starts_with("pvcreate")), "{:?}", h.calls());
    assert!(!h.guest_dir("g").exists());
    assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    for (fail, backing) in [
        ("mkfs.ext4", "lvm"),
        ("mkswap", "lvm"),
        ("parted", "file"),
        ("mount", "file"),
    ] {
        let h = Host::new();
        if backing == "lvm" {
            h.conf("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n");
        }
        let img = h.disk_image("g.xenguest");
        h.fail(fail);
        h.run(&["create", img.to_str().unwrap()])
            .failure(1, &["xenguest-manager: error:", &format!("`{fail} ")]);
        let calls = h.calls();
        assert_eq!(
            calls.last().map(String::as_str),
            Some(if backing == "lvm" {
                "lvremove -f vg-xen-sda2/g"
            } else {
                "losetup -d STATE/dev/loop7"
            }),
            "{fail}: {calls:?}"
        );
        assert!(calls.contains(&"losetup -d STATE/dev/loop7".to_owned()), "{calls:?}");
        assert!(!h.state("lv-vg-xen-sda2_g").exists(), "{fail}: the volume is left");
        assert!(!h.state("attached-loop7").exists(), "{fail}: the loop device is left");
        assert!(
            h.s.ls("root/etc/xenguest/guests").is_empty(),
            "{fail}: {:?}",
            h.s.ls("root/etc/xenguest/guests")
        );
        if backing == "file" {
            assert!(
                h.s.ls("root/var/lib/xenguest/disks").is_empty(),
                "{fail}: the disk file is left"
            );
        }
        assert!(h.log().contains("removing what it made"), "{}", h.log());
        h.run(&["list"]).success();
    }
}

/// An image made by hand with GNU tar, so that it can hold what
/// xenguest-mkimage refuses to write.
fn hand_made(h: &Host, name: &str, params: &str, disk: &str) -> PathBuf {
    let dir = h.s.mkdir(&format!("{name}.d"));
    fs::write(dir.join("guest.cfg"), "memory = 512\n").unwrap();
    fs::write(dir.join("params.cfg"), params).unwrap();
    fs::write(dir.join("disk.cfg"), disk).unwrap();
    let out = h.s.join(name);
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    out
}

#[test]
fn hostile_values_never_reach_a_shell() {
    let h = Host::new();
    let pwned = h.s.join("PWNED");
    let p = pwned.display();
    // Shell code in params.cfg or disk.cfg: refused before anything runs
    // (check's rules), and never executed.
    for (params, disk) in [
        (
            format!("GUEST_AUTOBOOT=\"1\"\nX=\"$(touch {p})\"\n"),
            "DISK_SIZE=\"0\"\n".to_owned(),
        ),
        (
            "GUEST_AUTOBOOT=\"1\"\n".to_owned(),
            format!("DISK_SIZE=\"0\"\nDISK_DEVICE=`touch {p}`\n"),
        ),
        (format!("PATH=\"{p}\"\n"), "DISK_SIZE=\"0\"\n".to_owned()),
    ] {
        h.clear_calls();
        let img = hand_made(&h, "evil.xenguest", &params, &disk);
        h.run(&["create", img.to_str().unwrap()])
            .failure(1, &["is not a valid xenguest image"]);
        assert_eq!(h.calls(), strs(&["xl info"]));
        assert!(!h.guest_dir("evil").exists());
        fs::remove_dir_all(h.s.join("evil.xenguest.d")).unwrap();
        fs::remove_file(&img).unwrap();
    }
    // Values the rules allow but a shell would split: they reach tools as
    // one argument each and init scripts as data.
    let dev = format!("/dev/sdz; touch {p}");
    let img = hand_made(
        &h,
        "odd.xenguest",
        &format!("GUEST_AUTOBOOT=\"1\"\nNOTE=\"a b; touch {p} | x & y > z\"\n"),
        &format!("DISK_SIZE=\"10M\"\nDISK_DEVICE=\"{dev}\"\nDISK_PART1=\"4M:ext4:\"\n"),
    );
    // By default an image may not choose a host device at all.
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["DISK_DEVICE", "XENGUEST_ALLOW_IMAGE_DEVICE"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    h.conf("XENGUEST_ALLOW_IMAGE_DEVICE=\"1\"\n");
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()]).success();
    // The group is named after the device's file name, as classic does.
    let lv_path = "/dev/vg-xen-PWNED/odd";
    let calls = h.calls();
    let root = h.root().display().to_string();
    let shorten = |s: &str| s.replace(&root, "ROOT");
    assert!(calls.contains(&shorten(&format!("pvcreate -f {dev}"))), "{calls:?}");
    assert!(
        calls.contains(&shorten(&format!("losetup -P --show -f {lv_path}"))),
        "{calls:?}"
    );
    let out = h.s.join("seen");
    write_script(
        &h.guest_dir("odd").join("init.pre/10-note"),
        &format!("printf '%s\\n' \"$NOTE\" > {}\n", out.display()),
        0o755,
    );
    h.run(&["start", "odd"]).success();
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        format!("a b; touch {p} | x & y > z\n")
    );
    // A hostile guest name is refused before anything happens.
    let name = format!("$(touch {p})");
    h.run(&["create", img.to_str().unwrap(), &name]).failure(1, &["`NAME`"]);
    h.run(&["start", &name]).failure(1, &["`NAME`"]);
    assert!(!pwned.exists(), "a value ran as shell code");
}

/// A line starting with a vertical tab, a no-break space or an
/// ideographic space before `#` is a command to bash, which sources
/// `params.cfg` as root: `create` refuses the image before anything runs.
#[test]
fn blanks_bash_does_not_take_as_blanks_are_refused() {
    let h = Host::new();
    for lead in ["\u{b}", "\u{a0}", "\u{3000}"] {
        let params = format!("GUEST_AUTOBOOT=\"1\"\n{lead}# comment?\n");
        let img = hand_made(&h, "blank.xenguest", &params, "DISK_SIZE=\"0\"\n");
        h.clear_calls();
        h.run(&["create", img.to_str().unwrap()])
            .failure(1, &["params.cfg line 2: ", "at column 1"]);
        assert_eq!(h.calls(), strs(&["xl info"]));
        assert!(!h.guest_dir("blank").exists());
        fs::remove_dir_all(h.s.join("blank.xenguest.d")).unwrap();
        fs::remove_file(&img).unwrap();
    }
}

#[test]
fn images_are_verified_before_anything_is_created() {
    let h = Host::new();
    let img = h.disk_image("g.xenguest");
    // A damaged member (the manifest catches it; drop the sidecar first).
    fs::remove_file(h.s.join("g.xenguest.sha256")).unwrap();
    let mut bytes = fs::read(&img).unwrap();
    let at = bytes.windows(11).position(|w| w == b"fake kernel").unwrap();
    bytes[at] = b'F';
    fs::write(&img, &bytes).unwrap();
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["does not match the manifest", "files/kernel"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(!h.guest_dir("g").exists());
    // A sidecar that does not match.
    let img = h.disk_image("s.xenguest");
    fs::write(
        h.s.join("s.xenguest.sha256"),
        format!("{}  s.xenguest\n", "0".repeat(64)),
    )
    .unwrap();
    h.run(&["create", img.to_str().unwrap()]).failure(1, &["sidecar says"]);
    // An image without manifest is accepted unless the host requires one.
    let bare = hand_made(&h, "bare.xenguest", "GUEST_AUTOBOOT=\"1\"\n", "DISK_SIZE=\"0\"\n");
    h.conf("XENGUEST_REQUIRE_MANIFEST=\"1\"\n");
    h.run(&["create", bare.to_str().unwrap()])
        .failure(1, &["no embedded manifest", "XENGUEST_REQUIRE_MANIFEST"]);
    h.conf("XENGUEST_REQUIRE_MANIFEST=\"0\"\n");
    h.run(&["create", bare.to_str().unwrap()]).success();
    // Not an image at all, a directory, a broken link.
    h.s.write("junk.xenguest", b"junk");
    h.run(&["create", "junk.xenguest"]).failure(1, &["junk.xenguest"]);
    h.run(&["create", h.s.join("bare.xenguest.d").to_str().unwrap(), "d"])
        .failure(1, &["is a directory"]);
    std::os::unix::fs::symlink("nowhere.xenguest", h.s.join("broken.xenguest")).unwrap();
    h.run(&["create", "broken.xenguest"])
        .failure(1, &["broken symbolic link"]);
    // A link is followed; the name comes from the link.
    std::os::unix::fs::symlink("bare.xenguest", h.s.join("linked.xenguest")).unwrap();
    h.run(&["create", "linked.xenguest"]).success();
    h.run(&["list"]).success().stdout_has(&["bare\nlinked\n"]);
}

#[test]
fn start_runs_the_init_scripts_in_order_with_the_classic_contract() {
    let h = Host::new();
    let calls = h.state("calls");
    let c = calls.display();
    // Each script records what it sees in the stand-ins' call log, so its
    // place among the xl calls shows.
    let script = |tag: &str| {
        format!(
            "echo \"script {tag} $guestname $(basename \"$guestdir\") $PWD=$guestdir $NET cfg:$(test -f \"$guestcfgfile\" && echo yes)\" >> {c}\n\
             log INFO \"hello from {tag}\"\n\
             log_command INFO \"echo output of {tag}\"\n"
        )
    };
    for (rel, tag) in [
        ("root/etc/xenguest/init.pre/20-host", "host-pre"),
        ("root/etc/xenguest/init.d/20-host", "host-d"),
        ("root/etc/xenguest/init.post/20-host", "host-post"),
    ] {
        write_script(&h.s.join(rel), &script(tag), 0o755);
    }
    for (file, tag) in [
        ("b-pre.sh", "guest-pre-b"),
        ("a-pre.sh", "guest-pre-a"),
        ("d.sh", "guest-d"),
        ("post.sh", "guest-post"),
    ] {
        h.s.write(file, script(tag));
    }
    let img = h.image(
        "g.xenguest",
        &[
            "--set-param=NET=bridge",
            "--init-pre=b-pre.sh",
            "--init-pre=a-pre.sh",
            "--init-script=d.sh",
            "--init-post=post.sh",
        ],
    );
    h.run(&["-v", "create", img.to_str().unwrap()]).success();
    h.clear_calls();
    h.run(&["-v", "start", "g"]).success();
    let calls: Vec<String> = h
        .calls()
        .into_iter()
        .map(|l| {
            // `$PWD=$guestdir` must hold; shorten it.
            let dir = h
                .guest_dir("g")
                .display()
                .to_string()
                .replace(&h.root().display().to_string(), "ROOT");
            l.replace(&format!("{dir}={dir}"), "DIR")
                .replace(&h.guest_dir("g").display().to_string(), "DIR")
        })
        .collect();
    let tmp_cfg = calls
        .iter()
        .find(|c| c.starts_with("xl create -p "))
        .expect("xl create")
        .clone();
    assert!(
        tmp_cfg.starts_with("xl create -p ROOT/etc/xenguest/guests/g/g.")
            && Path::new(&tmp_cfg).extension().is_some_and(|e| e == "cfg"),
        "{tmp_cfg}"
    );
    assert_eq!(
        calls,
        vec![
            "xl info".to_owned(),
            "xl list".to_owned(),
            "script host-pre g g DIR bridge cfg:yes".to_owned(),
            "script guest-pre-a g g DIR bridge cfg:yes".to_owned(),
            "script guest-pre-b g g DIR bridge cfg:yes".to_owned(),
            tmp_cfg.clone(),
            "script host-d g g DIR bridge cfg:yes".to_owned(),
            "script guest-d g g DIR bridge cfg:yes".to_owned(),
            "xl unpause g".to_owned(),
            "script host-post g g DIR bridge cfg:yes".to_owned(),
            "script guest-post g g DIR bridge cfg:yes".to_owned(),
        ]
    );
    // The temporary configuration is gone; xl got guest.cfg + guest.d.
    let leftovers: Vec<String> =
        h.s.ls("root/etc/xenguest/guests/g")
            .into_iter()
            .filter(|n| n.starts_with("g."))
            .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let created = fs::read_to_string(h.state("created-g.cfg")).unwrap();
    assert!(
        created.contains("name = \"g\"") && created.contains("/files/kernel\""),
        "{created}"
    );
    // log and log_command wrote to the manager's log, in its format.
    let log = h.log();
    for tag in ["host-pre", "guest-pre-a", "guest-d", "guest-post"] {
        assert!(log.contains(&format!("[INFO]    hello from {tag}\n")), "{log}");
        assert!(log.contains(&format!("[INFO]    output of {tag}\n")), "{log}");
    }
    h.run(&["status", "g"]).success().stdout_has(&["g Running\n"]);
    h.run(&["start", "g"]).failure(1, &["already running"]);
}

#[test]
fn a_bad_init_script_aborts_the_start() {
    let h = Host::new();
    let img = h.image("g.xenguest", &[]);
    h.run(&["create", img.to_str().unwrap()]).success();
    let host_pre = h.root().join("etc/xenguest/init.pre/10-host");
    // Not executable: refused before anything runs.
    write_script(&host_pre, "true\n", 0o644);
    h.clear_calls();
    h.run(&["start", "g"]).failure(1, &["10-host", "not executable"]);
    assert_eq!(h.calls(), strs(&["xl info", "xl list"]));
    // Failing in init.pre: the guest is never created.
    write_script(&host_pre, "echo broken >&2; false\n", 0o755);
    h.clear_calls();
    h.run(&["start", "g"]).failure(1, &["10-host", "failed", "broken"]);
    assert!(!h.calls().iter().any(|c| c.starts_with("xl create")), "{:?}", h.calls());
    // Failing in init.d: the paused guest is destroyed.
    fs::remove_file(&host_pre).unwrap();
    write_script(&h.guest_dir("g").join("init.d/10-fail"), "exit 3\n", 0o755);
    h.clear_calls();
    h.run(&["start", "g"]).failure(1, &["10-fail"]);
    let calls = h.calls();
    assert_eq!(&calls[calls.len() - 1], "xl destroy g", "{calls:?}");
    assert!(!calls.iter().any(|c| c == "xl unpause g"), "{calls:?}");
    assert!(h.running().is_empty());
    let leftovers: Vec<String> =
        h.s.ls("root/etc/xenguest/guests/g")
            .into_iter()
            .filter(|n| n.starts_with("g."))
            .collect();
    assert!(leftovers.is_empty(), "temporary configuration left: {leftovers:?}");
}

#[test]
fn stop_kill_remove_and_status() {
    let h = Host::new();
    let img = h.image("g.xenguest", &[]);
    h.run(&["create", img.to_str().unwrap()]).success();
    h.run(&["stop", "g"]).failure(1, &["guest `g` is not running"]);
    h.run(&["kill", "g"]).failure(1, &["not running"]);
    h.run(&["stop", "nosuch"]).failure(1, &["no guest `nosuch`"]);
    h.run(&["status", "nosuch"]).failure(1, &["no guest `nosuch`"]);
    // In JSON mode an error is a JSON document as well.
    let r = h.run(&["status", "nosuch", "--json"]);
    r.failure(1, &["no guest `nosuch`"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["command"], "status");
    assert!(v["error"].as_str().unwrap().contains("no guest `nosuch`"));
    let cycle = |args: &[&str], expect: &[&str]| {
        h.run(&["start", "g"]).success();
        h.clear_calls();
        h.run(args).success();
        let mut all = strs(&["xl info", "xl list"]);
        all.extend(strs(expect));
        assert_eq!(h.calls(), all, "{args:?}");
        assert!(h.running().is_empty());
    };
    cycle(&["stop", "g"], &["xl shutdown -w g", "xl list"]);
    cycle(&["shutdown", "g", "--nowait"], &["xl shutdown g"]);
    cycle(&["kill", "g"], &["xl destroy g"]);
    cycle(&["destroy", "g"], &["xl destroy g"]);
    // --kill: a failed shutdown falls back to destroy; without it, fails.
    h.run(&["start", "g"]).success();
    h.fail("xl-shutdown");
    h.run(&["stop", "g"]).failure(1, &["xl shutdown -w g"]);
    h.clear_calls();
    h.run(&["stop", "g", "--kill"]).success();
    assert_eq!(
        h.calls(),
        strs(&["xl info", "xl list", "xl shutdown -w g", "xl destroy g", "xl list"])
    );
    fs::remove_file(h.state("fail-xl-shutdown")).unwrap();
    // Xen lists a domain that shut down for a moment longer: stop waits
    // until it is gone, so a start right after works.
    h.run(&["start", "g"]).success();
    fs::write(h.state("linger"), "").unwrap();
    h.clear_calls();
    h.run(&["stop", "g"]).success();
    assert_eq!(
        h.calls(),
        strs(&["xl info", "xl list", "xl shutdown -w g", "xl list", "xl list"])
    );
    h.run(&["start", "g"]).success();
    fs::remove_file(h.state("linger")).unwrap();
    // A domain that dies while remove destroys it is not an error.
    fs::write(h.state("vanish"), "").unwrap();
    h.run(&["remove", "g"]).success();
    fs::remove_file(h.state("vanish")).unwrap();
    assert!(!h.guest_dir("g").exists());
    h.run(&["create", img.to_str().unwrap()]).success();
    // JSON.
    h.run(&["start", "g"]).success();
    let r = h.run(&["status", "--json"]);
    r.success();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(
        (v["schema"].as_u64(), v["command"].as_str(), v["ok"].as_bool()),
        (Some(1), Some("status"), Some(true))
    );
    assert_eq!(v["guests"][0]["name"], "g");
    assert_eq!(v["guests"][0]["running"], true);
    assert_eq!(v["guests"][0]["state"], "running");
    let r = h.run(&["list", "--json"]);
    r.success();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!((v["schema"].as_u64(), v["command"].as_str()), (Some(1), Some("list")));
    assert_eq!(v["guests"][0]["name"], "g");
    assert_eq!(v["guests"][0]["autoboot"], true);
    assert_eq!(v["guests"][0]["disk"]["kind"], "none");
    assert!(v["guests"][0]["xl_config"]
        .as_str()
        .unwrap()
        .ends_with("/guests/g/xl.cfg"));
    // remove destroys a running guest first.
    h.clear_calls();
    h.run(&["remove", "g"]).success();
    assert_eq!(h.calls(), strs(&["xl info", "xl list", "xl destroy g"]));
    assert!(!h.guest_dir("g").exists());
    h.run(&["list"]).success();
    assert_eq!(h.run(&["list"]).stdout(), "");
    h.run(&["remove", "g"]).failure(1, &["no guest `g`"]);
}

#[test]
fn file_backed_disks_with_standins() {
    let h = Host::new();
    h.conf("XENGUEST_DISK_DIR=\"/srv/disks\"\n");
    let img = h.disk_image("g.xenguest");
    h.run(&["create", img.to_str().unwrap()]).success();
    let file = h.root().join("srv/disks/g.img");
    let meta = fs::metadata(&file).unwrap();
    assert_eq!(meta.len(), 100 * 1024 * 1024);
    assert!(
        meta.blocks() * 512 < 1024 * 1024,
        "not sparse: {} blocks",
        meta.blocks()
    );
    let calls = h.calls();
    assert_eq!(calls[1], "losetup -P --show -f ROOT/srv/disks/g.img", "{calls:?}");
    assert!(!calls
        .iter()
        .any(|c| c.starts_with("lv") || c.starts_with("pv") || c.starts_with("vg")));
    let cfg = fs::read_to_string(h.guest_dir("g").join("xl.cfg")).unwrap();
    assert!(
        cfg.contains(&format!(
            "disk = ['format=raw,vdev=xvda,access=rw,target={}']",
            file.display()
        )),
        "{cfg}"
    );
    h.run(&["remove", "g"]).success();
    assert!(!file.exists());
}

#[test]
fn raw_partition_contents_are_written() {
    let h = Host::new();
    let raw: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    h.s.write("part.img", &raw);
    let gz = Command::new("gzip")
        .args(["-kc"])
        .arg(h.s.join("part.img"))
        .output()
        .unwrap();
    h.s.write("part.img.gz", gz.stdout);
    let bz = Command::new("bzip2")
        .args(["-kc"])
        .arg(h.s.join("part.img"))
        .output()
        .unwrap();
    h.s.write("part.img.bz2", bz.stdout);
    let img = h.image(
        "g.xenguest",
        &[
            "--disk-size=50M",
            "--disk-add-file=part.img:a.img",
            "--disk-add-file=part.img.gz:b.img.gz",
            "--disk-add-file=part.img.bz2:c.img.bz2",
            "--disk-add-part=1:1M::a.img",
            "--disk-add-part=2:1M:vfat:b.img.gz",
            "--disk-add-part=4:1M::c.img.bz2",
        ],
    );
    h.run(&["create", img.to_str().unwrap()]).success();
    for n in [1, 2, 4] {
        assert_eq!(
            fs::read(h.state(&format!("dev/loop7p{n}"))).unwrap(),
            raw,
            "partition {n}"
        );
    }
    // vfat takes no -F (mkfs.vfat reads it as the FAT size); a 2 MB
    // placeholder stands for partition 3.
    let calls = h.calls();
    assert!(calls.contains(&"mkfs.vfat STATE/dev/loop7p2".to_owned()), "{calls:?}");
    assert!(
        calls.contains(&"parted -s STATE/dev/loop7 unit MB mkpart primary 3 5".to_owned()),
        "{calls:?}"
    );
}

#[test]
fn boot_creates_once_and_starts_autoboot_guests() {
    let h = Host::new();
    h.conf("XENGUEST_GUEST_DIR=\"/usr/share/guests\"\n");
    let guests = h.s.mkdir("root/usr/share/guests");
    let a = h.image("a.xenguest", &[]);
    let b = h.image("b.xenguest", &["--set-param=GUEST_AUTOBOOT=0"]);
    fs::rename(&a, guests.join("a.xenguest")).unwrap();
    fs::rename(&b, guests.join("b.xenguest")).unwrap();
    // A guest created by hand with autoboot off is not started either.
    let c = h.image("c.xenguest", &["--set-param=GUEST_AUTOBOOT=0"]);
    h.run(&["create", c.to_str().unwrap()]).success();
    h.run(&["boot-start"]).success();
    // b is created (ready for `start b`) but, like c, not started.
    h.run(&["list"]).success().stdout_has(&["a\nb\nc\n"]);
    assert!(h.guest_dir("b").join("guest.cfg").exists());
    assert_eq!(h.running(), strs(&["a"]));
    // Again: nothing new is created, a is already running.
    h.clear_calls();
    h.run(&["boot-start"]).success();
    assert!(!h.calls().iter().any(|c| c.starts_with("xl create")), "{:?}", h.calls());
    h.run(&["boot-stop"]).success();
    assert!(h.calls().contains(&"xl shutdown -w a".to_owned()), "{:?}", h.calls());
    assert!(h.running().is_empty());
}

#[test]
fn configuration_is_read_not_run() {
    let h = Host::new();
    let pwned = h.s.join("PWNED");
    h.conf(&format!("XENGUEST_VOLUME_DEVICE=\"$(touch {})\"\n", pwned.display()));
    h.run(&["list"])
        .failure(1, &["xenguest-manager.conf", "not a KEY=\"VALUE\" setting"]);
    h.conf("XENGUEST_VOLUME_DEVCE=\"/dev/sda2\"\n");
    h.run(&["list"]).failure(1, &["unknown key `XENGUEST_VOLUME_DEVCE`"]);
    h.conf("XENGUEST_LOG_LEVEL=\"VERBOSE\"\n");
    h.run(&["list"]).success();
    assert!(h.log().contains("[VERBOSE]    run: xl info"), "{}", h.log());
    // --config and $XENGUEST_MANAGER_CONF name another file; it must exist.
    h.run(&["--config", "missing.conf", "list"])
        .failure(1, &["missing.conf"]);
    let mut cmd = h.cmd(&["list"]);
    cmd.env("XENGUEST_MANAGER_CONF", h.s.join("missing2.conf"));
    Run::new(&mut cmd).failure(1, &["missing2.conf"]);
    assert!(!pwned.exists());
}

#[test]
fn managers_wait_for_each_other() {
    let h = Host::new();
    let lock = h.root().join("run/xenguest/xenguest-manager.lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::set_permissions(lock.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o600)).unwrap();
    let img = h.image("g.xenguest", &[]);
    // flock(1) holds the lock for a while; the manager must wait for it.
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "1"])
        .spawn()
        .expect("flock(1) from util-linux");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let start = std::time::Instant::now();
    h.run(&["-v", "create", img.to_str().unwrap()]).success();
    assert!(start.elapsed() >= std::time::Duration::from_millis(500), "did not wait");
    holder.wait().unwrap();
    assert!(h.log().contains("waiting for another xenguest-manager"), "{}", h.log());
}

/// The real tools on a real loop device: parted, mkfs.ext4, mount, GNU
/// tar; only xl is a stand-in. Needs root (CI runs as root).
#[test]
fn file_backed_disk_is_real() {
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    assert_eq!(
        uid.trim(),
        "0",
        "this test needs root to attach a loop device and mount a file system (CI runs as root)"
    );
    let h = Host::with_tools(&["xl"]);
    let img = h.disk_image("g.xenguest");
    h.run(&["-vv", "create", img.to_str().unwrap()]).success();
    let file = h.root().join("var/lib/xenguest/disks/g.img");
    // The table, read by sfdisk (not the tool that wrote it).
    let out = Command::new("sfdisk")
        .arg("--json")
        .arg(&file)
        .output()
        .expect("sfdisk");
    assert!(out.status.success(), "{out:?}");
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(table["partitiontable"]["label"], "dos");
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    let spans: Vec<(u64, u64)> = parts
        .iter()
        .map(|p| (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect();
    // Partition 1 starts at 1 MB (parted may move an MB position by up
    // to half a MB to align it, e.g. to 1 MiB = sector 2048).
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert!(
        spans[0].0 * 512 >= 500_000 && spans[0].0 * 512 <= 1_500_000,
        "{spans:?}"
    );
    // The rootfs, read with debugfs from the partition: content, owner.
    let at = format!("{}?offset={}", file.display(), spans[0].0 * 512);
    let cat = Command::new("debugfs")
        .args(["-R", "cat /etc/hostname", &at])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "guest\n", "{cat:?}");
    let stat = Command::new("debugfs")
        .args(["-R", "stat /etc/hostname", &at])
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout);
    assert!(stat.contains("User:  1234   Group:  5678"), "{stat}");
    // Swap on partition 3.
    let swap_at = spans[2].0 * 512;
    let out = Command::new("blkid")
        .args(["-p", "-O", &swap_at.to_string(), "-s", "TYPE", "-o", "value"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "swap", "{out:?}");
    // Nothing stays attached.
    let out = Command::new("losetup").args(["-j"]).arg(&file).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "a loop device is left");
    h.run(&["remove", "g"]).success();
    assert!(!file.exists());
    assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
}

/// GNU tar warns once per member it does not fully understand; a content
/// whose warnings overflow the stderr pipe must not stall the unpacking
/// (the manager drains tar's output while it feeds the archive).
#[test]
fn a_noisy_tar_content_does_not_block() {
    let h = Host::new();
    let tarball = h.s.join("noisy.tar");
    // 3000 members, each with a pax keyword GNU tar ignores with a warning:
    // far more than a pipe's 64 KiB of stderr.
    let py = "import io, sys, tarfile\n\
              with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:\n\
              \x20   for i in range(3000):\n\
              \x20       m = tarfile.TarInfo('f%d' % i)\n\
              \x20       m.pax_headers = {'XENGUEST.test.unknown': 'x' * 40}\n\
              \x20       t.addfile(m, io.BytesIO(b''))\n";
    let st = Command::new("python3")
        .args(["-c", py])
        .arg(&tarball)
        .status()
        .expect("python3");
    assert!(st.success());
    let img = h.image(
        "g.xenguest",
        &[
            "--disk-size=20M",
            "--disk-add-file=noisy.tar:noisy.tar",
            "--disk-add-part=1:10M:ext4:noisy.tar",
        ],
    );
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg(manager_bin())
        .args(["create", img.to_str().unwrap()]);
    let base = h.cmd(&[]);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(h.s.path());
    let r = Run::new(&mut cmd);
    assert_ne!(r.code(), 124, "create stalled on tar's output");
    r.success();
    let warned = Command::new("tar").arg("-tf").arg(&tarball).output().unwrap();
    assert!(
        warned.stderr.len() > 64 * 1024,
        "tar printed only {} bytes",
        warned.stderr.len()
    );
}

/// Issue 13 on the host: with `XENGUEST_TRUSTED_KEYS`, only images signed
/// by one of those keys are created; the error says why the others fail,
/// and nothing is created for them. Keys are made by `openssl genpkey`.
#[test]
fn trusted_keys_refuse_unsigned_and_foreign_images_before_anything_is_created() {
    let h = Host::new();
    for name in ["k", "other"] {
        crate::support::keypair(&h.s, "ed25519", name);
    }
    // The key sits in a directory on the host (under the root prefix).
    fs::create_dir_all(h.root().join("etc/xenguest/keys")).unwrap();
    fs::copy(h.s.join("k.pub.pem"), h.root().join("etc/xenguest/keys/release.pem")).unwrap();
    h.conf("XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/keys\"\n");
    let unsigned = h.image("u.xenguest", &[]);
    h.clear_calls();
    h.run(&["create", unsigned.to_str().unwrap()])
        .failure(1, &["is unsigned"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(!h.guest_dir("u").exists());
    let foreign = h.image("f.xenguest", &["--sign-key", "other.pem"]);
    h.run(&["create", foreign.to_str().unwrap()]).failure(1, &["wrong key"]);
    assert!(!h.guest_dir("f").exists());
    let signed = h.image("g.xenguest", &["--sign-key", "k.pem"]);
    h.run(&["create", signed.to_str().unwrap()]).success();
    assert!(h.guest_dir("g").exists());
    // A key file named directly works as well; a missing one is an error
    // naming the setting.
    h.conf("XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/keys/release.pem\"\n");
    h.run(&["remove", "g"]).success();
    h.run(&["create", signed.to_str().unwrap()]).success();
    h.conf("XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/nowhere.pem\"\n");
    h.run(&["create", signed.to_str().unwrap(), "g2"])
        .failure(1, &["XENGUEST_TRUSTED_KEYS", "nowhere.pem"]);
}

/// An image built from `dir` (`DIR/run.sh` as init.d script, `DIR/part.img`
/// as the raw content of partition 1), signed with `k.pem` when `signed`,
/// gzip-compressed when `gzip`, at `out` with a sidecar.
fn rewrite_image(h: &Host, dir: &str, out: &str, gzip: bool, signed: bool) -> PathBuf {
    let tar = format!("{dir}.tar");
    let part = format!("--disk-add-file={dir}/part.img:a.img");
    let script = format!("--init-script={dir}/run.sh");
    let mut options = vec!["--disk-size=50M", &part, "--disk-add-part=1:1M::a.img", &script];
    if signed {
        options.extend(["--sign-key", "k.pem"]);
    }
    let built = h.image(&tar, &options);
    let bytes = if gzip {
        let out = Command::new("gzip").args(["-n", "-c"]).arg(&built).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    } else {
        fs::read(&built).unwrap()
    };
    let path = h.s.write(out, &bytes);
    let digest = h.s.ext_lines("sha256sum", &[out]);
    h.s.write(&format!("{out}.sha256"), format!("{}\n", digest[0]));
    path
}

/// Once the manager has verified an image, the file is rewritten in place
/// (same inode) with an image of the same layout whose init.d script and
/// partition content differ: at `losetup`, after verification and before
/// the partition is written. The guest gets the verified bytes, for plain
/// and gzip images, signed and unsigned.
#[test]
fn an_image_rewritten_after_verification_never_reaches_the_host() {
    let good_raw: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let evil_raw: Vec<u8> = good_raw.iter().map(|b| b ^ 0x5a).collect();
    let good_script = "#!/bin/sh\necho verified\n";
    let evil_script = "#!/bin/sh\necho replaced\n";
    for gzip in [false, true] {
        for signed in [false, true] {
            let case = format!("gzip {gzip}, signed {signed}");
            let h = Host::new();
            h.s.write("good/part.img", &good_raw);
            h.s.write("evil/part.img", &evil_raw);
            h.s.write("good/run.sh", good_script);
            h.s.write("evil/run.sh", evil_script);
            if signed {
                crate::support::keypair(&h.s, "ed25519", "k");
                fs::create_dir_all(h.root().join("etc/xenguest/keys")).unwrap();
                fs::copy(h.s.join("k.pub.pem"), h.root().join("etc/xenguest/keys/release.pem")).unwrap();
                h.conf("XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/keys\"\nXENGUEST_REQUIRE_MANIFEST=\"1\"\n");
            }
            let img = rewrite_image(&h, "good", "g.xenguest", gzip, signed);
            let evil = rewrite_image(&h, "evil", "evil.xenguest", gzip, signed);
            let inode = fs::metadata(&img).unwrap().ino();
            write_script(
                &h.state("on-losetup"),
                &format!("#!/bin/sh\ncat '{}' > '{}'\n", evil.display(), img.display()),
                0o755,
            );
            let r = h.run(&["create", img.to_str().unwrap()]);
            // The hook ran: the file now holds the other image, same inode.
            assert_eq!(fs::read(&img).unwrap(), fs::read(&evil).unwrap(), "{case}");
            assert_eq!(fs::metadata(&img).unwrap().ino(), inode, "{case}");
            // The manager installed what it verified (refusing would be
            // safe too, but it has a good copy to install).
            r.success();
            assert!(
                fs::read(h.state("dev/loop7p1")).unwrap() == good_raw,
                "{case}: partition 1 holds the rewritten content"
            );
            assert_eq!(
                fs::read_to_string(h.guest_dir("g").join("init.d/run.sh")).unwrap(),
                good_script,
                "{case}"
            );
        }
    }
}

#[test]
fn params_cannot_name_the_manager_s_own_variables() {
    let h = Host::new();
    let img = hand_made(
        &h,
        "evil.xenguest",
        "GUEST_AUTOBOOT=\"1\"\n__xenguest_script=\"files/evil\"\n",
        "DISK_SIZE=\"0\"\n",
    );
    h.s.run(&["check", img.to_str().unwrap()])
        .failure(1, &["__xenguest_script", "reserved"]);
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["__xenguest_script", "reserved"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(!h.guest_dir("evil").exists());
    for name in ["log", "log_command", "guestname", "LOGFILE"] {
        let img = hand_made(
            &h,
            &format!("r-{name}.xenguest"),
            &format!("{name}=\"x\"\n"),
            "DISK_SIZE=\"0\"\n",
        );
        h.s.run(&["check", img.to_str().unwrap()])
            .failure(1, &[name, "reserved"]);
    }
}

/// What each init script sees cannot be steered by a stored params.cfg
/// (written by hand, past `check`), by an earlier script, or by the
/// environment of whoever runs the manager.
#[test]
fn init_scripts_run_exactly_the_script_the_manager_chose() {
    let h = Host::new();
    let calls = h.state("calls");
    let pwned = h.s.join("PWNED");
    let img = h.image("g.xenguest", &["--set-param=NET=bridge"]);
    h.run(&["create", img.to_str().unwrap()]).success();
    let dir = h.guest_dir("g");
    // The image's own file, which params.cfg tries to have sourced instead.
    write_script(&dir.join("files/evil"), &format!("touch {}\n", pwned.display()), 0o755);
    fs::write(
        dir.join("params.cfg"),
        "NET=\"bridge\"\n__xenguest_script=\"files/evil\"\n__xenguest_dir=\"/tmp\"\nguestname=\"Domain-0\"\nPATH=\"/nowhere\"\n",
    )
    .unwrap();
    // An earlier host script tries the same.
    write_script(
        &h.root().join("etc/xenguest/init.pre/10-host"),
        &format!(
            "__xenguest_script=files/evil; export __xenguest_script\n\
             echo \"script host $guestname $NET $PATH\" >> {c}\n",
            c = calls.display()
        ),
        0o755,
    );
    write_script(
        &dir.join("init.pre/20-guest"),
        &format!(
            "echo \"script guest $guestname $(basename \"$guestdir\") ${{BASH_ENV-none}}\" >> {c}\n",
            c = calls.display()
        ),
        0o755,
    );
    // The caller's environment does not reach the scripts' bash either
    // (the stand-ins, run with the manager's environment, ignore it).
    let bash_env = h.s.write(
        "bash_env.sh",
        format!("[ \"$0\" != xenguest-init ] || touch {}\n", pwned.display()),
    );
    h.clear_calls();
    let mut cmd = h.cmd(&["start", "g"]);
    cmd.env("BASH_ENV", &bash_env).env("SHELLOPTS", "xtrace");
    Run::new(&mut cmd).success();
    let scripts: Vec<String> = h.calls().into_iter().filter(|c| c.starts_with("script ")).collect();
    assert_eq!(
        scripts,
        strs(&[
            "script host g bridge /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "script guest g g none",
        ])
    );
    assert!(!pwned.exists(), "the image's files/evil or BASH_ENV ran");
}

/// Runs `cmd` and waits for it at most `secs` seconds: a manager that
/// hangs fails the test (and is killed) instead of hanging it.
fn bounded(cmd: &mut Command, secs: u64) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {secs} s: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn the_lock_is_root_s_alone() {
    let h = Host::new();
    let img = h.image("g.xenguest", &[]);
    h.run(&["create", img.to_str().unwrap()]).success();
    let dir = h.root().join("run/xenguest");
    let lock = dir.join("xenguest-manager.lock");
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);
    assert_eq!(fs::metadata(&lock).unwrap().mode() & 0o7777, 0o600);
    assert!(!h.root().join("run/xenguest-manager.lock").exists());
    // A lock open to other users (who could hold it) is refused.
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    h.run(&["remove", "g"])
        .failure(1, &["xenguest-manager.lock", "mode 0644", "chmod 600"]);
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    h.run(&["remove", "g"])
        .failure(1, &["lock directory", "mode 0777", "chmod 700"]);
    // A link, in place of the lock or its directory, is refused too.
    fs::remove_dir_all(&dir).unwrap();
    let elsewhere = h.s.mkdir("elsewhere");
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
    h.run(&["remove", "g"]).failure(1, &["lock directory", "symbolic link"]);
    fs::remove_file(&dir).unwrap();
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("x"), &lock).unwrap();
    h.run(&["remove", "g"]).failure(1, &["symbolic link"]);
    assert!(!elsewhere.join("x").exists());
    fs::remove_file(&lock).unwrap();
    h.run(&["remove", "g"]).success();
}

#[test]
fn a_sidecar_or_key_that_is_not_a_regular_file_is_refused_without_waiting() {
    let h = Host::new();
    let img = h.image("g.xenguest", &[]);
    let sidecar = h.s.join("g.xenguest.sha256");
    fs::remove_file(&sidecar).unwrap();
    mkfifo(&sidecar);
    let out = bounded(&mut h.cmd(&["create", img.to_str().unwrap()]), 60);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("g.xenguest.sha256") && stderr.contains("FIFO"),
        "{stderr}"
    );
    assert!(!h.guest_dir("g").exists());
    fs::remove_file(&sidecar).unwrap();
    fs::create_dir(&sidecar).unwrap();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["g.xenguest.sha256", "a directory"]);
    fs::remove_dir(&sidecar).unwrap();
    // A trusted key that is a FIFO, by name or in a trust directory.
    let keys = h.s.mkdir("root/etc/xenguest/keys");
    mkfifo(&keys.join("k.pem"));
    for conf in ["/etc/xenguest/keys/k.pem", "/etc/xenguest/keys"] {
        h.conf(&format!("XENGUEST_TRUSTED_KEYS=\"{conf}\"\n"));
        let out = bounded(&mut h.cmd(&["create", img.to_str().unwrap()]), 60);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("k.pem") && stderr.contains("not a regular file"),
            "{stderr}"
        );
    }
    assert!(!h.guest_dir("g").exists());
    // The image itself a FIFO: nobody writes to it, and the manager, which
    // holds the lock, must not wait for a writer.
    h.conf("");
    let fifo = h.s.join("f.xenguest");
    mkfifo(&fifo);
    let out = bounded(&mut h.cmd(&["create", fifo.to_str().unwrap()]), 60);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("f.xenguest") && stderr.contains("not a regular file"),
        "{stderr}"
    );
    assert!(!h.guest_dir("f").exists());
}

#[test]
fn a_disk_file_no_guest_owns_is_never_replaced_unasked() {
    let h = Host::new();
    let img = h.disk_image("g.xenguest");
    let file = h.s.write("root/var/lib/xenguest/disks/g.img", b"someone's data");
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["disk file", "g.img", "already exists", "--replace-disk"]);
    assert_eq!(fs::read(&file).unwrap(), b"someone's data");
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(!h.guest_dir("g").exists());
    // Not even a link or a directory in its place is touched.
    fs::remove_file(&file).unwrap();
    fs::create_dir(&file).unwrap();
    h.run(&["create", "--replace-disk", img.to_str().unwrap()])
        .failure(1, &["g.img", "not a regular file"]);
    assert!(file.is_dir());
    fs::remove_dir(&file).unwrap();
    fs::write(&file, b"left by a crashed create").unwrap();
    h.run(&["create", "--replace-disk", img.to_str().unwrap()]).success();
    assert_eq!(fs::metadata(&file).unwrap().len(), 100 * 1024 * 1024);
}

#[test]
fn a_disk_file_larger_than_the_free_space_is_refused_before_anything_is_written() {
    let h = Host::new();
    // 64 TiB: more than any test machine has free.
    let img = h.image("g.xenguest", &["--disk-size=67108864M"]);
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["g.img", "70368744177664 bytes (67108864 MiB, DISK_SIZE)", "free"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(!h.root().join("var/lib/xenguest/disks/g.img").exists());
    assert!(!h.guest_dir("g").exists());
    assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
}

#[test]
fn a_content_cannot_write_past_its_partition() {
    // 3 MB of zeros compress to a few KB; the partition holds 1 MB.
    for (tool, ext) in [("gzip", "gz"), ("bzip2", "bz2")] {
        let h = Host::new();
        h.s.write("big.img", vec![0u8; 3_000_000]);
        let packed = Command::new(tool).arg("-kc").arg(h.s.join("big.img")).output().unwrap();
        h.s.write(&format!("big.img.{ext}"), packed.stdout);
        let content = format!("big.img.{ext}");
        let img = h.image(
            "g.xenguest",
            &[
                "--disk-size=20M",
                &format!("--disk-add-file={content}:{content}"),
                &format!("--disk-add-part=1:1M::{content}"),
            ],
        );
        h.run(&["create", img.to_str().unwrap()]).failure(
            1,
            &[
                &format!("disk/{content}"),
                "partition 1",
                "more than the partition's 1000000 bytes",
            ],
        );
        let written = fs::metadata(h.state("dev/loop7p1")).unwrap().len();
        assert!(written <= 1_000_000, "{tool}: {written} bytes written");
        assert!(!h.root().join("var/lib/xenguest/disks/g.img").exists());
        assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
    }
    // An uncompressed content's size is known before anything is written:
    // `check`, the writers and the manager refuse it alike, naming both
    // sizes, and the manager runs nothing but `xl info`.
    let h = Host::new();
    h.s.write("big.img", vec![1u8; 1_500_000]);
    let refused = ["partition 1 is 1000000 bytes but its content `big.img` is 1500000 bytes"];
    h.s.write("kernel", b"fake kernel\n");
    h.s.run(&[
        "create",
        "w.xenguest",
        "--xen-kernel=kernel",
        "--disk-size=20M",
        "--disk-add-file=big.img:big.img",
        "--disk-add-part=1:1M::big.img",
    ])
    .failure(1, &refused);
    let img = hand_made(
        &h,
        "g.xenguest",
        "GUEST_AUTOBOOT=\"1\"\n",
        "DISK_SIZE=\"20M\"\nDISK_PART1=\"1M::big.img\"\n",
    );
    // hand_made has no disk/: add the content to the tar.
    let st = Command::new("tar")
        .arg("-C")
        .arg(h.s.path())
        .arg("-rf")
        .arg(&img)
        .arg("--transform=s,^big.img,./disk/big.img,")
        .arg("big.img")
        .status()
        .unwrap();
    assert!(st.success());
    h.s.run(&["check", img.to_str().unwrap()]).failure(1, &refused);
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()]).failure(1, &refused);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
}

/// Sends SIGTERM to the process `pid`.
fn sigterm(pid: u32) {
    let st = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(st.success());
}

/// Waits (at most 60 s, else fails) until `path` exists.
fn await_file(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_a_waiting_or_working_manager_and_leaves_nothing() {
    use std::process::Stdio;
    // Waiting for the lock: the manager ends at once with 130.
    let h = Host::new();
    let img = h.image("g.xenguest", &[]);
    h.run(&["list"]).success();
    h.run(&["create", img.to_str().unwrap()]).success();
    let lock = h.root().join("run/xenguest/xenguest-manager.lock");
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "120"])
        .spawn()
        .expect("flock(1) from util-linux");
    let mut waiting = h.cmd(&["-v", "remove", "g"]);
    let child = waiting.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let log = h.root().join("var/log/xenguest");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("waiting for another")
    {
        assert!(std::time::Instant::now() < deadline, "never waited: {}", h.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sigterm(child.id());
    let out = bounded_child(child, 30);
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(h.guest_dir("g").exists(), "remove went on without the lock");
    let _ = holder.kill();
    let _ = holder.wait();

    // Inside a slow tool: it is stopped and the create is undone.
    for (slow, backing) in [("mkfs.ext4", "lvm"), ("parted", "file")] {
        let h = Host::new();
        if backing == "lvm" {
            h.conf("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n");
        }
        let img = h.disk_image("g.xenguest");
        fs::write(h.state(&format!("slow-{slow}")), "").unwrap();
        let child = h
            .cmd(&["create", img.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        await_file(&h.state(&format!("started-{slow}")));
        sigterm(child.id());
        let out = bounded_child(child, 30);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{slow}: {stderr}");
        assert!(
            stderr.contains(&format!("`{slow}`")) && stderr.contains("interrupted"),
            "{stderr}"
        );
        let calls = h.calls();
        assert!(calls.contains(&"losetup -d STATE/dev/loop7".to_owned()), "{calls:?}");
        assert!(!h.state("lv-vg-xen-sda2_g").exists(), "{slow}: the volume is left");
        assert!(!h.state("attached-loop7").exists(), "{slow}: the loop device is left");
        assert!(
            h.s.ls("root/etc/xenguest/guests").is_empty(),
            "{slow}: a half-created guest is left"
        );
        if backing == "file" {
            assert!(
                h.s.ls("root/var/lib/xenguest/disks").is_empty(),
                "{slow}: the disk file is left"
            );
        }
        assert!(h.log().contains("removing what it made"), "{}", h.log());
    }
}

/// [`bounded`] for a child already started.
fn bounded_child(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {secs} s: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_disk_directory_other_users_can_write_is_refused() {
    let h = Host::new();
    let img = h.disk_image("g.xenguest");
    let dir = h.s.mkdir("root/var/lib/xenguest/disks");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    h.clear_calls();
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["disk directory", "mode 1777", "chmod go-w"]);
    assert_eq!(h.calls(), strs(&["xl info"]));
    assert!(h.s.ls("root/var/lib/xenguest/disks").is_empty());
    assert!(h.s.ls("root/etc/xenguest/guests").is_empty());
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    h.run(&["create", img.to_str().unwrap()]).success();
}

#[test]
fn a_user_other_than_root_is_asked_for_root_before_anything_else() {
    use std::os::unix::process::CommandExt;
    let h = Host::new();
    // A configuration that would fail if it were read, and a Xen that
    // would fail if `xl info` ran: neither is reached.
    h.conf("XENGUEST_LOG_LEVEL=\"DEBUG\"\n");
    h.fail("xl-info");
    let as_user = |args: &[&str]| {
        let mut cmd = h.cmd(args);
        // The scratch directory is root's alone; the user starts in /.
        cmd.current_dir("/");
        if rustix::process::geteuid().is_root() {
            cmd.uid(65534).gid(65534);
        }
        Run::new(&mut cmd)
    };
    for args in [
        &["list"][..],
        &["check-xen"],
        &["start", "g"],
        &["create", "x.xenguest"],
    ] {
        let r = as_user(args);
        r.failure(
            1,
            &["xenguest-manager: error: must run as root (effective user id ", "sudo"],
        );
        assert!(!r.stderr().contains("Xen environment"), "{}", r.stderr());
        assert!(!r.stderr().contains("DEBUG"), "{}", r.stderr());
    }
    // JSON mode answers with a JSON document, as for every error.
    let r = as_user(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert!(v["error"].as_str().unwrap().contains("must run as root"), "{v}");
    // Help and the version need no root.
    as_user(&["--help"]).success().stdout_has(&["Actions:"]);
    as_user(&["--version"]).success().stdout_has(&["xenguest-manager "]);
    assert!(h.calls().is_empty(), "{:?}", h.calls());
    assert!(!h.root().join("var/log/xenguest").exists());
}

#[test]
fn xl_s_own_reason_is_shown_when_xen_is_not_usable() {
    let h = Host::new();
    h.fail("xl-info");
    h.run(&["status"]).failure(
        1,
        &[
            "Xen environment is not valid: `xl info` failed (exit status: 1): standin: xl failed on purpose",
            "Dom0",
        ],
    );
}

#[test]
fn version_names_the_revision_as_the_image_tool_does() {
    let h = Host::new();
    let tool = h.s.run(&["--version"]).success().stdout();
    let manager = h.run(&["--version"]).success().stdout();
    let tool = tool.trim().strip_prefix("xenguest-mkimage ").unwrap().to_owned();
    assert_eq!(manager.trim(), format!("xenguest-manager {tool}"));
    // In a checkout the revision is there (release.rs checks which one).
    if crate::support::repo().join(".git").exists() {
        assert!(manager.contains(" (git "), "{manager}");
    }
}

#[test]
fn a_bad_configuration_value_names_the_file_and_its_line() {
    let h = Host::new();
    h.conf("# Written by hand\nXENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\nXENGUEST_LOG_LEVEL=\"DEBUG\"\n");
    let r = h.run(&["list"]);
    r.failure(
        1,
        &[
            "etc/xenguest/xenguest-manager.conf` line 3",
            "DEBUG",
            "ERROR, INFO or VERBOSE",
        ],
    );
    assert!(!r.stderr().contains("the defaults"), "{}", r.stderr());
    h.conf("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\nXENGUEST_VOLUME_NAME=\"vg-$(id -u)\"\n");
    h.run(&["list"])
        .failure(1, &["xenguest-manager.conf` line 2", "$(basename PATH)"]);
}

#[test]
fn man_pages_and_completions_come_from_the_manager_s_own_command() {
    let h = Host::new();
    let dir = h.s.join("man");
    h.s.run(&[
        "generate",
        "man",
        dir.to_str().unwrap(),
        "--program",
        "xenguest-manager",
    ])
    .success();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec!["xenguest-manager.1".to_owned()];
    for action in [
        "boot-start",
        "boot-stop",
        "check-xen",
        "create",
        "history",
        "kill",
        "list",
        "remove",
        "rollback",
        "start",
        "status",
        "stop",
        "update",
    ] {
        expected.push(format!("xenguest-manager-{action}.1"));
    }
    expected.sort();
    assert_eq!(names, expected);
    let top = fs::read_to_string(dir.join("xenguest-manager.1")).unwrap();
    assert!(
        top.contains("XENGUEST_VOLUME_DEVICE"),
        "the configuration keys are missing"
    );
    let stop = fs::read_to_string(dir.join("xenguest-manager-stop.1")).unwrap();
    assert!(stop.contains("nowait") && stop.contains("shutdown"), "{stop}");
    // The tool's pages stay the default.
    let tool = h.s.join("tool");
    h.s.run(&["generate", "man", tool.to_str().unwrap()]).success();
    assert!(tool.join("xenguest-mkimage.1").exists());
    assert!(!tool.join("xenguest-manager.1").exists());
    for (shell, file) in [
        ("bash", "xenguest-manager"),
        ("zsh", "_xenguest-manager"),
        ("fish", "xenguest-manager.fish"),
    ] {
        let out = h.s.join(shell);
        h.s.run(&[
            "generate",
            "completions",
            "--program",
            "xenguest-manager",
            shell,
            out.to_str().unwrap(),
        ])
        .success();
        let text = fs::read_to_string(out.join(file)).unwrap();
        assert!(text.contains("boot-start") && text.contains("replace-disk"), "{shell}");
    }
}

/// The host compares an image's metadata with itself (`xl info` and
/// `XENGUEST_COMPATIBLE`) before anything is created, naming both values;
/// an image without metadata is accepted as before.
#[test]
fn an_image_made_for_another_host_is_refused_before_anything_is_created() {
    let h = Host::new();
    h.xl_info("x86_64", "4.18.0");
    let cases: [(&str, &[&str], &[&str]); 3] = [
        (
            "arm.xenguest",
            &["--image-arch=aarch64"],
            &["`aarch64`", "`x86_64`", "xl info"],
        ),
        ("new.xenguest", &["--image-xen=4.99"], &["`4.99`", "`4.18.0`", "Xen"]),
        (
            "rpi.xenguest",
            &["--image-compatible=rpi4,rpi5"],
            &["`rpi4`, `rpi5`", "`genericx86-64`", "XENGUEST_COMPATIBLE"],
        ),
    ];
    h.conf("XENGUEST_COMPATIBLE=\"genericx86-64 qemux86-64\"\n");
    for (name, options, needles) in cases {
        let img = h.image(name, options);
        h.clear_calls();
        let r = h.run(&["create", img.to_str().unwrap()]);
        r.failure(1, needles);
        r.failure(1, &["not made for this host"]);
        assert_eq!(h.calls(), strs(&["xl info"]), "{name}");
        assert!(!h.guest_dir(name.trim_end_matches(".xenguest")).exists(), "{name}");
    }
    // What fits is created: the right arch, an older minimum Xen, one
    // compatible name in common; and an image that says nothing.
    let fits = h.image(
        "fits.xenguest",
        &[
            "--image-arch=x86_64",
            "--image-xen=4.17",
            "--image-compatible=qemux86-64",
        ],
    );
    h.run(&["create", fits.to_str().unwrap()]).success();
    assert!(h.guest_dir("fits").exists());
    let plain = h.image("plain.xenguest", &[]);
    h.run(&["create", plain.to_str().unwrap()]).success();
    assert!(h.guest_dir("plain").exists());
    // A host that does not restrict names accepts any compatible list.
    h.conf("");
    let rpi = h.s.join("rpi.xenguest");
    h.run(&["create", rpi.to_str().unwrap()]).success();
}

/// The stand-ins' record of host network state: bridges, nftables tables,
/// iptables chains and jumps (see `manager_standin.sh`).
fn network_leftovers(h: &Host) -> Vec<String> {
    let mut left: Vec<String> = h.s.ls("state").into_iter().filter(|n| n.starts_with("net-")).collect();
    let run = h.root().join("run/xenguest/net");
    if let Ok(entries) = fs::read_dir(&run) {
        left.extend(entries.map(|e| format!("run/{}", e.unwrap().file_name().to_string_lossy())));
    }
    left
}

#[test]
fn the_network_type_chooses_the_vif_and_nat_leaves_nothing_behind() {
    let h = Host::new();
    h.conf("XENGUEST_NETWORK_BRIDGE=\"br-lan\"\n");
    h.s.write("root/etc/resolv.conf", "nameserver 127.0.0.53\nnameserver 192.0.2.53\n");
    for (name, ty) in [("b", "bridge"), ("n", "nat"), ("o", "none"), ("p", "nat")] {
        let img = h.image(
            &format!("{name}.xenguest"),
            &[
                &format!("--set-param=XENGUEST_NETWORK_TYPE={ty}"),
                "--set-param=XENGUEST_PORT_FORWARDS=2222:22 5353:53/udp",
            ],
        );
        h.run(&["create", img.to_str().unwrap()]).success();
    }
    let cfg = |name: &str| fs::read_to_string(h.guest_dir(name).join("guest.cfg")).unwrap();
    assert!(cfg("b").contains("\nvif = ['bridge=br-lan']\n"), "{}", cfg("b"));
    assert!(
        cfg("n").contains("\nvif = ['mac=00:16:3e:5a:00:00,bridge=xgnat0']\n"),
        "{}",
        cfg("n")
    );
    // The second NAT guest gets the next link.
    assert!(cfg("p").contains("bridge=xgnat1']"), "{}", cfg("p"));
    assert!(!cfg("o").lines().any(|l| l.starts_with("vif")), "{}", cfg("o"));

    // bridge and none: the vif is all; nothing runs on the host network.
    for name in ["b", "o"] {
        h.clear_calls();
        h.run(&["start", name]).success();
        let calls = h.calls();
        assert!(
            !calls.iter().any(|c| ["ip ", "nft", "iptables", "udhcpd", "sysctl"]
                .iter()
                .any(|t| c.starts_with(t))),
            "{calls:?}"
        );
    }
    let created = fs::read_to_string(h.state("created-b.cfg")).unwrap();
    assert!(created.contains("vif = ['bridge=br-lan']"), "{created}");

    // nat: link, forwarding, rules and DHCP before the guest is created.
    h.clear_calls();
    h.run(&["start", "n"]).success();
    let calls = h.calls();
    let at = |prefix: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {calls:?}"))
    };
    let order = [
        at("ip link add name xgnat0 type bridge"),
        at("ip address add 10.201.0.1/30 dev xgnat0"),
        at("ip link set dev xgnat0 up"),
        at("sysctl -q -w net.ipv4.ip_forward=1"),
        at("nft -f ROOT/run/xenguest/net/n/nftables.rules"),
        at("udhcpd -f -S ROOT/run/xenguest/net/n/udhcpd.conf"),
        at("xl create -p"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{calls:?}");
    let rules = fs::read_to_string(h.state("net-nft-xenguest_nat0")).unwrap();
    for rule in [
        "iifname != \"xgnat0\" tcp dport 2222 dnat to 10.201.0.2:22",
        "iifname != \"xgnat0\" udp dport 5353 dnat to 10.201.0.2:53",
        "ip saddr 10.201.0.2 oifname != \"xgnat0\" masquerade",
    ] {
        assert!(rules.contains(rule), "{rules}");
    }
    let dhcp = fs::read_to_string(h.state("udhcpd.conf")).unwrap();
    for line in [
        "start 10.201.0.2\n",
        "end 10.201.0.2\n",
        "interface xgnat0\n",
        "option router 10.201.0.1\n",
        "option dns 192.0.2.53\n",
        "static_lease 00:16:3e:5a:00:00 10.201.0.2\n",
    ] {
        assert!(dhcp.contains(line), "{dhcp}");
    }
    assert!(!network_leftovers(&h).is_empty());

    // A second guest forwarding the same host port is refused, and leaves
    // nothing of its own.
    h.run(&["start", "p"]).failure(1, &["2222/tcp", "guest `n`"]);
    assert!(!h.state("net-link-xgnat1").exists());
    assert!(!h.root().join("run/xenguest/net/p").exists());

    // stop removes everything; so do kill and remove.
    h.run(&["stop", "n"]).success();
    assert_eq!(network_leftovers(&h), Vec::<String>::new());
    h.run(&["start", "n"]).success();
    h.run(&["kill", "n"]).success();
    assert_eq!(network_leftovers(&h), Vec::<String>::new());
    // A guest that crashed: the next start removes what it left first.
    h.run(&["start", "n"]).success();
    fs::write(h.state("running"), "").unwrap();
    h.clear_calls();
    h.run(&["start", "n"]).success();
    let calls = h.calls();
    let delete = calls.iter().position(|c| c == "nft delete table ip xenguest_nat0");
    let add = calls.iter().position(|c| c.starts_with("nft -f"));
    assert!(delete.is_some() && delete < add, "{calls:?}");
    h.run(&["remove", "n"]).success();
    assert_eq!(network_leftovers(&h), Vec::<String>::new());

    // iptables: chains of the manager's own, removed with their jumps.
    h.conf("XENGUEST_FIREWALL=\"iptables\"\n");
    h.run(&["start", "p"]).success();
    let mut left = network_leftovers(&h);
    left.sort();
    assert_eq!(
        left,
        [
            "net-ipt-XENGUEST-1-FWD",
            "net-ipt-XENGUEST-1-POST",
            "net-ipt-XENGUEST-1-PRE",
            "net-jump-XENGUEST-1-FWD",
            "net-jump-XENGUEST-1-POST",
            "net-jump-XENGUEST-1-PRE",
            "net-link-xgnat1",
            "run/p",
        ]
    );
    assert!(h.calls().iter().any(|c| {
        c
        == "iptables -w -t nat -A XENGUEST-1-PRE ! -i xgnat1 -p tcp --dport 2222 -j DNAT --to-destination 10.201.0.6:22"
    }));
    h.run(&["stop", "p"]).success();
    assert_eq!(network_leftovers(&h), Vec::<String>::new());
}

#[test]
fn an_image_s_own_vif_needs_the_host_s_permission_and_follows_the_managed_one() {
    let h = Host::new();
    h.s.write("net.cfg", "vif = ['bridge=br-dmz']\n");
    let img = h.image(
        "g.xenguest",
        &["--set-param=XENGUEST_NETWORK_TYPE=bridge", "--xen-append=net.cfg"],
    );
    h.run(&["create", img.to_str().unwrap()])
        .failure(1, &["XENGUEST_ALLOW_XL_KEYS=\"vif\""]);
    assert!(!h.guest_dir("g").exists());
    h.conf("XENGUEST_ALLOW_XL_KEYS=\"vif\"\n");
    h.run(&["create", img.to_str().unwrap()]).success();
    h.run(&["start", "g"]).success();
    // xl reads one vif line: the manager's entry, then the image's.
    let created = fs::read_to_string(h.state("created-g.cfg")).unwrap();
    let vifs: Vec<&str> = created.lines().filter(|l| l.starts_with("vif")).collect();
    assert_eq!(vifs, ["vif = ['bridge=xenbr0', 'bridge=br-dmz']"], "{created}");
}

/// A `nat` guest's network with the real tools (`ip`, `sysctl`, `nft`,
/// busybox `udhcpd`), in a network namespace of its own (`unshare -n`) so
/// that nothing touches the host's network; only xl is a stand-in. After
/// `start` the link, the table and the DHCP server exist; after `stop`
/// and after `kill` none of them does. Needs root and nftables (CI runs as
/// root with nftables installed).
#[test]
fn nat_network_is_real() {
    let h = Host::with_tools(&["xl"]);
    std::os::unix::fs::symlink("/usr/bin/busybox", h.s.join("standins/udhcpd")).unwrap();
    let img = h.image(
        "n.xenguest",
        &[
            "--set-param=XENGUEST_NETWORK_TYPE=nat",
            "--set-param=XENGUEST_PORT_FORWARDS=2222:22",
        ],
    );
    h.run(&["create", img.to_str().unwrap()]).success();
    let manager = manager_bin();
    let m = manager.display();
    let script = format!(
        r#"set -u
check() {{ # what exists: link, table, DHCP server
    ip link show dev xgnat0 >/dev/null 2>&1 && echo link
    ip -4 -o address show dev xgnat0 2>/dev/null | grep -o '10.201.0.1/30'
    nft list table ip xenguest_nat0 >/dev/null 2>&1 && echo table
    nft list table ip xenguest_nat0 2>/dev/null | grep -o 'dnat to 10.201.0.2:22'
    pid=$(cat "$XENGUEST_MANAGER_ROOT/run/xenguest/net/n/udhcpd.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null && echo dhcp
    pgrep -f "$XENGUEST_MANAGER_ROOT/run/xenguest/net/n/udhcpd.conf" >/dev/null && echo process
    echo forward=$(cat /proc/sys/net/ipv4/ip_forward)
}}
gone() {{ # waits (at most 10 s) for udhcpd to exit after SIGTERM
    for _ in $(seq 100); do pgrep -f "$XENGUEST_MANAGER_ROOT/run/xenguest/net/n/udhcpd.conf" >/dev/null || return 0; sleep 0.1; done
}}
echo "== start"; {m} start n || echo "start failed"; check
echo "== stop"; {m} stop n || echo "stop failed"; gone; check
echo "== start"; {m} start n || echo "start failed"; check
echo "== kill"; {m} kill n || echo "kill failed"; gone; check
nft list tables
"#
    );
    let out = Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .env(
            "PATH",
            format!("{}:{}", h.s.join("standins").display(), std::env::var("PATH").unwrap()),
        )
        .env("STANDIN_STATE", h.s.join("state"))
        .env("XENGUEST_MANAGER_ROOT", h.root())
        .env_remove("XENGUEST_MANAGER_CONF")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "needs root and unshare: {out:?}");
    let up = "link\n10.201.0.1/30\ntable\ndnat to 10.201.0.2:22\ndhcp\nprocess\nforward=1\n";
    let down = "forward=1\n";
    assert_eq!(
        text,
        format!("== start\n{up}== stop\n{down}== start\n{up}== kill\n{down}"),
        "stderr: {err}\nlog: {}",
        h.log()
    );
    assert!(!h.root().join("run/xenguest/net/n").exists());
}

/// The cleanup deletes the guest's table and link without first asking
/// whether they exist: a listing that fails (as one did in a real Dom0
/// after a failed start) must not leave the table behind.
#[test]
fn the_cleanup_does_not_trust_a_failing_listing() {
    let h = Host::new();
    h.conf("XENGUEST_FIREWALL=\"nftables\"\n");
    let img = h.image("n.xenguest", &["--set-param=XENGUEST_NETWORK_TYPE=nat"]);
    h.run(&["create", img.to_str().unwrap()]).success();
    h.run(&["start", "n"]).success();
    assert!(h.state("net-nft-xenguest_nat0").exists());
    h.fail("nft-list");
    h.run(&["stop", "n"]).success();
    assert_eq!(network_leftovers(&h), Vec::<String>::new());
}
