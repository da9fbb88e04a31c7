//! A host that ran the classic bash manager switches to this one in place
//! (docs/manager.md, "Migrating from the classic manager"): its
//! configuration file as the classic recipe wrote it, and guests as the
//! classic manager left them in `/etc/xenguest/guests/NAME/` (no
//! `manager.state`, disks on logical volumes `vg-xen-DEV/NAME`), driven
//! with the new manager against the recording stand-ins of `manager.rs`.

use std::fs;

use crate::manager::Host;

/// What the last classic recipe's `do_compile` wrote, with its defaults
/// (`XENGUEST_MANAGER_VOLUME_DEVICE ?= "/dev/sda2"`, the volume name
/// `vg-xen-$(basename ${XENGUEST_MANAGER_VOLUME_DEVICE})` and
/// `XENGUEST_MANAGER_GUEST_DIR ?= "${datadir}/guests/"`).
const CLASSIC_CONF: &str = "XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n\
                            XENGUEST_VOLUME_NAME=\"vg-xen-$(basename /dev/sda2)\"\n\
                            XENGUEST_GUEST_DIR=\"/usr/share/guests/\"\n\
                            XENGUEST_LOG_LEVEL=\"ERROR\"\n";

/// A guest as the classic manager left it: `xenguest-mkimage
/// extract-config` of an image made by the classic tool (its guest.cfg
/// template, `--xen-kernel` in `guest.d/kernel.cfg`, the params.cfg
/// header), then `update --xen-name=NAME` and, for a guest with a disk,
/// `update --xen-disk=/dev/GROUP/NAME`. No `manager.state`, no `xl.cfg`.
fn classic_guest(h: &Host, name: &str, group: Option<&str>, disk_cfg: &str, autoboot: &str) {
    let dir = h.guest_dir(name);
    fs::create_dir_all(dir.join("guest.d")).unwrap();
    fs::create_dir_all(dir.join("files")).unwrap();
    let disk_line = match group {
        Some(g) => format!("disk = ['phy:/dev/{g}/{name},xvda,w']"),
        None => "# disk = ['phy:/dev/vg-xen/guestname,xvda,w']".to_owned(),
    };
    fs::write(
        dir.join("guest.cfg"),
        format!(
            "# Xenguest-image main configuraiton\n#\n# !! This file must not be modified manually !!\n#\n\
             # You can use xenguest-image to modify parameters.\n#\n\
             # You can add custom entries to configuration in the guest.d directory.\n\n\
             # Guest name (set by manager when guest is created)\nname = \"{name}\"\n\n\
             # Guest memory size in MB\nmemory = 1024\n\n# Number of VCPUS\nvcpus = 1\n\n\
             # Guest command line\nextra = \"earlyprintk=xenboot console=hvc0 rw\"\n\n\
             # Guest root filesystem device (from guest point of view)\n# root = \"/dev/xvda2\"\n\n\
             # Disk that will be used by the guest (set by manager when guest is created)\n{disk_line}\n\n"
        ),
    )
    .unwrap();
    fs::write(dir.join("guest.d/kernel.cfg"), "kernel = \"files/kernel\"\n").unwrap();
    fs::write(dir.join("files/kernel"), "classic kernel\n").unwrap();
    fs::write(
        dir.join("params.cfg"),
        format!(
            "# Xenguest-image guest global configuration\n#\n# !! This file must not be modified manually !!\n\
             #\n# You can use xenguest-image to modify parameters.\n#\n\n\
             # Guest auto boot during Dom0 init\nGUEST_AUTOBOOT=\"{autoboot}\"\n"
        ),
    )
    .unwrap();
    fs::write(dir.join("disk.cfg"), disk_cfg).unwrap();
}

/// The stand-ins' state of an existing logical volume `group/name`.
fn volume(h: &Host, group: &str, name: &str) -> std::path::PathBuf {
    h.state(&format!("lv-{group}_{name}"))
}

fn names(json: &serde_json::Value) -> Vec<&str> {
    json["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect()
}

fn json_of(h: &Host, args: &[&str]) -> serde_json::Value {
    let r = h.run(args);
    r.success();
    serde_json::from_str(&r.stdout()).unwrap()
}

/// A classic host: the classic configuration, `web` on the configured
/// volume group (autoboot), `db` on a device of its own (`DISK_DEVICE`,
/// no autoboot), `tiny` without a disk; their volumes exist.
fn classic_host() -> Host {
    let h = Host::new();
    h.conf(CLASSIC_CONF);
    classic_guest(
        &h,
        "web",
        Some("vg-xen-sda2"),
        "DISK_SIZE=\"4000M\"\nDISK_DEVICE=\"\"\nDISK_PART1=\"1000M:ext4:rootfs.tar.gz\"\n",
        "1",
    );
    classic_guest(
        &h,
        "db",
        Some("vg-xen-sdb1"),
        "DISK_SIZE=\"2000M\"\nDISK_DEVICE=\"/dev/sdb1\"\nDISK_PART1=\"1000M:ext4:\"\n",
        "0",
    );
    classic_guest(&h, "tiny", None, "DISK_SIZE=\"0\"\nDISK_DEVICE=\"\"\n", "1");
    for (group, name) in [("vg-xen-sda2", "web"), ("vg-xen-sdb1", "db")] {
        fs::write(volume(&h, group, name), "").unwrap();
    }
    h
}

#[test]
fn a_classic_host_switches_in_place() {
    let h = classic_host();
    // list and status see the classic guests, their disks found as the
    // classic manager found them.
    assert_eq!(h.run(&["list"]).success().stdout(), "db\ntiny\nweb\n");
    let list = json_of(&h, &["list", "--json"]);
    assert_eq!(names(&list), ["db", "tiny", "web"]);
    let disk = |i: usize| {
        (
            list["guests"][i]["disk"]["kind"].as_str(),
            list["guests"][i]["disk"]["path"].as_str(),
        )
    };
    assert_eq!(disk(0), (Some("lvm"), Some("/dev/vg-xen-sdb1/db")));
    assert_eq!(disk(1), (Some("none"), None));
    assert_eq!(disk(2), (Some("lvm"), Some("/dev/vg-xen-sda2/web")));
    assert!(list["guests"].as_array().unwrap().iter().all(|g| g["classic"] == true));
    assert_eq!(list["guests"][0]["autoboot"], false);
    assert_eq!(
        h.run(&["status"]).success().stdout(),
        "db Stopped\ntiny Stopped\nweb Stopped\n"
    );

    // start: the classic xl configuration, with its kernel made absolute
    // and its disk line kept, reaches xl.
    h.clear_calls();
    h.run(&["start", "web"]).success();
    let created = fs::read_to_string(h.state("created-web.cfg")).unwrap();
    let home = h.guest_dir("web");
    assert!(created.contains("name = \"web\""), "{created}");
    assert!(
        created.contains("disk = ['phy:/dev/vg-xen-sda2/web,xvda,w']"),
        "{created}"
    );
    assert!(
        created.contains(&format!("kernel = \"{}/files/kernel\"", home.display())),
        "{created}"
    );
    assert!(
        h.calls().iter().any(|c| c.starts_with("xl create -p ")),
        "{:?}",
        h.calls()
    );
    assert_eq!(h.calls().last().map(String::as_str), Some("xl unpause web"));
    assert_eq!(h.run(&["status", "web"]).success().stdout(), "web Running\n");
    // stop and kill.
    h.clear_calls();
    h.run(&["stop", "web"]).success();
    assert!(h.calls().contains(&"xl shutdown -w web".to_owned()), "{:?}", h.calls());
    h.run(&["start", "db"]).success();
    h.run(&["kill", "db"]).success();
    assert!(h.running().is_empty());

    // boot: a classic guest with GUEST_AUTOBOOT="1" starts, "0" does not;
    // boot-stop stops what runs.
    h.run(&["boot-start"]).success();
    assert_eq!(h.running(), ["tiny", "web"]);
    h.run(&["boot-stop"]).success();
    assert!(h.running().is_empty());

    // Nothing was rewritten for the classic manager's sake: a roll back
    // finds its guests as it left them.
    for name in ["web", "db", "tiny"] {
        assert!(!h.guest_dir(name).join("manager.state").exists(), "{name}");
        let cfg = fs::read_to_string(h.guest_dir(name).join("guest.cfg")).unwrap();
        assert!(cfg.starts_with("# Xenguest-image main configuraiton"), "{name}");
    }

    // remove: the classic volume goes, in its group.
    h.run(&["start", "web"]).success();
    h.clear_calls();
    h.run(&["remove", "web"]).success();
    assert!(h.calls().contains(&"xl destroy web".to_owned()), "{:?}", h.calls());
    assert!(
        h.calls()
            .iter()
            .any(|c| c.starts_with("lvremove") && c.contains("vg-xen-sda2/web")),
        "{:?}",
        h.calls()
    );
    assert!(!volume(&h, "vg-xen-sda2", "web").exists());
    assert!(!h.guest_dir("web").exists());
    h.run(&["remove", "db"]).success();
    assert!(!volume(&h, "vg-xen-sdb1", "db").exists());
    h.clear_calls();
    h.run(&["remove", "tiny"]).success();
    assert!(!h.calls().iter().any(|c| c.starts_with("lv")), "{:?}", h.calls());
    assert_eq!(h.run(&["list"]).success().stdout(), "");
}

#[test]
fn a_classic_guest_sits_beside_new_ones() {
    let h = classic_host();
    let img = h.disk_image("new.xenguest");
    h.run(&["create", img.to_str().unwrap()]).success();
    let list = json_of(&h, &["list", "--json"]);
    assert_eq!(names(&list), ["db", "new", "tiny", "web"]);
    let classic: Vec<bool> = list["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["classic"].as_bool().unwrap())
        .collect();
    assert_eq!(classic, [true, false, true, true]);
    // The volume group the classic file names, evaluated, is the one a
    // new guest's disk gets too: beside the classic guests' volumes.
    assert_eq!(list["guests"][1]["disk"]["path"], "/dev/vg-xen-sda2/new");
    assert!(volume(&h, "vg-xen-sda2", "new").exists());
    assert!(volume(&h, "vg-xen-sda2", "web").exists());
}

#[test]
fn a_classic_guest_whose_volume_cannot_be_found_is_left_alone() {
    let h = classic_host();
    // The package's default configuration (no volume device) replaced the
    // classic file: remove cannot know where `web`'s volume is.
    h.conf("");
    h.run(&["start", "web"]).success();
    h.clear_calls();
    h.run(&["remove", "web"]).failure(
        1,
        &[
            "guest `web` was created by the classic manager",
            "XENGUEST_VOLUME_DEVICE",
        ],
    );
    // Nothing was destroyed or removed.
    assert_eq!(h.running(), ["web"]);
    assert!(h.guest_dir("web").join("guest.cfg").exists());
    assert!(volume(&h, "vg-xen-sda2", "web").exists());
    // A guest naming its own device, or without a disk, needs no
    // configuration to be found.
    h.run(&["remove", "db"]).success();
    assert!(!volume(&h, "vg-xen-sdb1", "db").exists());
    h.run(&["remove", "tiny"]).success();
    let list = json_of(&h, &["list", "--json"]);
    assert_eq!(list["guests"][0]["disk"]["kind"], "unknown");
}

#[test]
fn the_classic_configuration_needs_no_shell() {
    let h = classic_host();
    let pwned = h.s.join("PWNED");
    // The one command the classic recipe wrote is read; any other is
    // refused with its line and what to write instead.
    h.run(&["list"]).success();
    h.conf(&format!(
        "{CLASSIC_CONF}XENGUEST_DISK_DIR=\"$(touch {})\"\n",
        pwned.display()
    ));
    h.run(&["list"]).failure(
        1,
        &[
            "xenguest-manager.conf` line 5",
            "write the value itself",
            "$(basename PATH)",
        ],
    );
    assert!(!pwned.exists());
}
