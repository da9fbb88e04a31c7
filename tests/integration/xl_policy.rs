//! The xl policy on the host: what an image sets in its xl configuration
//! reaches only its own guest. `xenguest-manager` runs against the
//! recording stand-ins of `manager_standin.sh` (the configuration the
//! stand-in `xl create` receives is kept as `created-NAME.cfg`); images
//! are crafted member by member, since honest writers may refuse them.

use std::fs;
use std::path::PathBuf;

use crate::hostile::{Tar, PARAMS};
use crate::support::Run;

/// The manager's stand-in host (`manager.rs`) with an LVM volume device.
struct Host(crate::manager::Host);

impl Host {
    fn new(conf: &str) -> Host {
        let h = Host(crate::manager::Host::new());
        h.conf(conf);
        h
    }

    fn conf(&self, extra: &str) {
        self.0.conf(&format!("XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\n{extra}"));
    }

    fn run(&self, args: &[&str]) -> Run {
        self.0.run(args)
    }

    fn guest_dir(&self) -> PathBuf {
        self.0.guest_dir("g")
    }

    /// The calls the stand-ins recorded.
    fn calls(&self) -> Vec<String> {
        self.0.calls()
    }

    /// The configurations `xl create` received, by file name.
    fn created(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.0.state(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("created-"))
            .collect();
        names.sort();
        names
    }

    fn created_cfg(&self) -> String {
        fs::read_to_string(self.0.state("created-g.cfg")).unwrap()
    }

    /// Writes `bytes` as g.xenguest and returns its path.
    fn image(&self, bytes: &[u8]) -> String {
        self.0.s.write("g.xenguest", bytes).to_string_lossy().into_owned()
    }
}

/// An image with a 100 MB managed disk, a kernel, `guest_cfg` and one
/// `guest.d` file per `(name, text)`.
fn image(guest_cfg: &str, guest_d: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = Tar::default()
        .dir("./")
        .file("./disk.cfg", "DISK_SIZE=\"100M\"\nDISK_DEVICE=\"\"\n")
        .file("./guest.cfg", guest_cfg)
        .file("./params.cfg", PARAMS)
        .dir("./files/")
        .file("./files/kernel", "fake kernel\n")
        .dir("./guest.d/")
        .file("./guest.d/kernel.cfg", "kernel = \"files/kernel\"\n");
    for (name, text) in guest_d {
        tar = tar.file(&format!("./guest.d/{name}"), text);
    }
    tar.finish()
}

const GUEST: &str = "memory = 512\nvcpus = 1\n";

/// Lines of `text` that set `key` (active ones).
fn settings<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.split('=').next().is_some_and(|k| k.trim() == key))
        .collect()
}

/// Every hostile setting is refused by `create`, naming the file, the
/// line and the key, before any host tool but `xl info` runs.
#[test]
fn hostile_xl_settings_are_refused_at_create() {
    for (text, needles) in [
        ("name = \"Domain-0\"\n", &["guest.d/evil.cfg:1", "`name`"][..]),
        ("disk = ['phy:/dev/sda,xvda,w']\n", &["guest.d/evil.cfg:1", "`disk`"]),
        (
            "bootloader = \"/bin/sh\"\n",
            &["guest.d/evil.cfg:1", "`bootloader`", "XENGUEST_ALLOW_XL_KEYS"],
        ),
        (
            "ramdisk = \"/etc/shadow\"\n",
            &["guest.d/evil.cfg:1", "`ramdisk`", "absolute path"],
        ),
        (
            "device_tree = \"files/../../../../etc/shadow\"\n",
            &["guest.d/evil.cfg:1", "`device_tree`", "`..`"],
        ),
        (
            "memory = 512 ; name = \"Domain-0\"\n",
            &["guest.d/evil.cfg:1", "second setting"],
        ),
        (
            "extra += \" init=/bin/sh\"\n",
            &["guest.d/evil.cfg:1", "`extra +=` appends"],
        ),
        (
            "pci = ['01:00.0']\n",
            &["guest.d/evil.cfg:1", "`pci`", "XENGUEST_ALLOW_XL_KEYS=\"pci\""],
        ),
        (
            "vif = ['bridge=xenbr0,script=/tmp/evil']\n",
            &["guest.d/evil.cfg:1", "vif-script"],
        ),
    ] {
        // The host allows images to pick their device: still no disk.
        let h = Host::new("XENGUEST_ALLOW_IMAGE_DEVICE=\"1\"\n");
        let img = h.image(&image(GUEST, &[("evil.cfg", text)]));
        h.run(&["create", &img]).failure(1, needles);
        assert_eq!(h.calls(), ["xl info"], "{text:?}");
        assert!(!h.guest_dir().exists(), "{text:?}");
    }
}

/// The configuration `xl create` gets has the manager's name and disk
/// only, whatever name the image's guest.cfg had.
#[test]
fn xl_gets_the_managers_name_and_disk_only() {
    let h = Host::new("");
    let img = h.image(&image(
        "name = \"Domain-0\"\n# disk = ['phy:/dev/sda,xvda,w']\nmemory = 512\n",
        &[],
    ));
    h.run(&["create", &img]).success();
    h.run(&["start", "g"]).success();
    assert_eq!(h.created(), ["created-g.cfg"]);
    let cfg = h.created_cfg();
    assert_eq!(settings(&cfg, "name"), ["name = \"g\""], "{cfg}");
    assert_eq!(
        settings(&cfg, "disk"),
        ["disk = ['phy:/dev/vg-xen-sda2/g,xvda,w']"],
        "{cfg}"
    );
    assert_eq!(
        settings(&cfg, "kernel"),
        [format!("kernel = \"{}/files/kernel\"", h.guest_dir().display())],
        "{cfg}"
    );
}

/// An image's own `disk` line needs the host's permission `disk`; with it,
/// its entries follow the managed disk.
#[test]
fn image_disks_need_the_hosts_permission() {
    let guest_cfg = "name = \"x\"\ndisk = ['phy:/dev/sdb,xvdb,w']\nmemory = 512\n";
    let h = Host::new("");
    let img = h.image(&image(guest_cfg, &[]));
    h.run(&["create", &img])
        .failure(1, &["guest.cfg:2", "XENGUEST_ALLOW_XL_KEYS=\"disk\""]);
    assert!(!h.guest_dir().exists());
    h.conf("XENGUEST_ALLOW_XL_KEYS=\"disk\"\n");
    h.run(&["create", &img]).success();
    h.run(&["start", "g"]).success();
    let cfg = h.created_cfg();
    assert_eq!(
        settings(&cfg, "disk"),
        ["disk = ['phy:/dev/vg-xen-sda2/g,xvda,w', 'phy:/dev/sdb,xvdb,w']"],
        "{cfg}"
    );
}

/// Without a managed disk (`DISK_SIZE="0"`), an image's `disk` line
/// reaches xl only with the host's permission.
#[test]
fn without_a_managed_disk_the_image_disk_needs_permission_too() {
    let guest_cfg = "memory = 512\ndisk = ['phy:/dev/sda,xvda,w']\n";
    let bytes = Tar::default()
        .dir("./")
        .file("./disk.cfg", "DISK_SIZE=\"0\"\nDISK_DEVICE=\"\"\n")
        .file("./guest.cfg", guest_cfg)
        .file("./params.cfg", PARAMS)
        .finish();
    let h = Host::new("");
    let img = h.image(&bytes);
    h.run(&["create", &img]).failure(1, &["guest.cfg:2", "`disk`"]);
    assert!(!h.guest_dir().exists());
    h.conf("XENGUEST_ALLOW_XL_KEYS=\"disk\"\n");
    h.run(&["create", &img]).success();
    h.run(&["start", "g"]).success();
    let cfg = h.created_cfg();
    assert_eq!(settings(&cfg, "disk"), ["disk = ['phy:/dev/sda,xvda,w']"], "{cfg}");
    assert_eq!(settings(&cfg, "name"), ["name = \"g\""], "{cfg}");
}

/// A host key allowed by name reaches xl; when the host withdraws the
/// permission, the guest no longer starts.
#[test]
fn host_keys_allowed_by_name_pass_until_withdrawn() {
    let h = Host::new("XENGUEST_ALLOW_XL_KEYS=\"pci dtdev\"\n");
    let img = h.image(&image(GUEST, &[("pci.cfg", "pci = ['01:00.0']\n")]));
    h.run(&["create", &img]).success();
    h.run(&["start", "g"]).success();
    assert_eq!(settings(&h.created_cfg(), "pci"), ["pci = ['01:00.0']"]);
    h.run(&["stop", "g"]).success();
    fs::remove_file(h.0.state("created-g.cfg")).unwrap();
    h.conf("");
    h.run(&["start", "g"]).failure(1, &["guest.d/pci.cfg:1", "`pci`"]);
    assert!(h.created().is_empty());
}

/// `start` judges the guest's directory again: a guest.d file added after
/// `create` (or by an older manager) and a file link out of `files/` are
/// refused before any init script or `xl create` runs.
#[test]
fn start_judges_the_installed_configuration() {
    let h = Host::new("");
    let img = h.image(&image(GUEST, &[]));
    h.run(&["create", &img]).success();
    let dir = h.guest_dir();
    fs::write(dir.join("guest.d/zz.cfg"), "name = \"Domain-0\"\n").unwrap();
    h.run(&["start", "g"]).failure(1, &["guest.d/zz.cfg:1", "`name`"]);
    fs::remove_file(dir.join("guest.d/zz.cfg")).unwrap();
    fs::remove_file(dir.join("files/kernel")).unwrap();
    let secret = h.0.s.write("secret", "host secret\n");
    std::os::unix::fs::symlink(&secret, dir.join("files/kernel")).unwrap();
    h.run(&["start", "g"]).failure(1, &["`kernel`", "outside the guest's"]);
    assert!(h.created().is_empty());
    assert!(!h.calls().iter().any(|c| c.starts_with("xl create")), "{:?}", h.calls());
    // Back to a regular file, the guest starts.
    fs::remove_file(dir.join("files/kernel")).unwrap();
    fs::write(dir.join("files/kernel"), "fake kernel\n").unwrap();
    h.run(&["start", "g"]).success();
    assert_eq!(h.created(), ["created-g.cfg"]);
}
