//! One judge: `xenguest-mkimage check` and `xenguest-manager create` (on
//! the recording stand-ins of `manager.rs`) accept and refuse the same
//! images. The images are generated: partition layouts at the edges of the
//! host layout (1 MB start, 2 MB placeholders, `DISK_SIZE` in MiB, partitions
//! in MB), partition contents with and without a file system, text members
//! with CRLF or bytes that are not UTF-8, xl lines that set keys the
//! manager owns, keys reaching host resources and host file paths, a disk
//! on a host device, manifests and sidecars that match or not, and signed
//! images intact, with a flipped signature and with a member changed after
//! signing.
//!
//! `check` judges with the strictest host and lists the permissions an
//! image needs; a host that grants none must create exactly the images
//! `check` passes without any.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::manager::Host;
use crate::support::bin;

/// One generated image: its name and its members (path, bytes), and
/// whether it carries a manifest and has a sidecar (`Some(false)`: one
/// that does not match).
struct Case {
    name: String,
    members: Vec<(String, Vec<u8>)>,
    manifest: Option<bool>,
    sidecar: Option<bool>,
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    xenguest_mkimage::checksum::hex(&sha2::Sha256::digest(bytes))
}

const GUEST_CFG: &str = "memory = 512\nvcpus = 1\n";
const PARAMS: &str = "GUEST_AUTOBOOT=\"1\"\n";
const SCRIPT: &str = "#!/bin/sh\necho hello\n";

impl Case {
    fn new(name: impl Into<String>) -> Case {
        Case {
            name: name.into(),
            members: vec![
                ("guest.cfg".into(), GUEST_CFG.into()),
                ("params.cfg".into(), PARAMS.into()),
                ("disk.cfg".into(), b"DISK_SIZE=\"0\"\n".to_vec()),
            ],
            manifest: None,
            sidecar: None,
        }
    }

    fn with(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> Case {
        self.members.retain(|(p, _)| p != path);
        self.members.push((path.into(), bytes.into()));
        self
    }

    /// Writes the image as GNU tar writes a directory (`./` names), the
    /// way an image made by another tool reaches a host.
    fn write(&self, dir: &Path) -> std::path::PathBuf {
        let tree = dir.join(format!("{}.d", self.name));
        for (path, bytes) in &self.members {
            let p = tree.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, bytes).unwrap();
        }
        if let Some(good) = self.manifest {
            let mut text = String::new();
            for (i, (path, bytes)) in self.members.iter().enumerate() {
                let digest = if !good && i == 0 {
                    sha256(b"something else")
                } else {
                    sha256(bytes)
                };
                let _ = writeln!(text, "{digest}  ./{path}");
            }
            fs::write(tree.join("manifest.sha256"), text).unwrap();
        }
        let out = dir.join(format!("{}.xenguest", self.name));
        let st = Command::new("tar")
            .arg("-C")
            .arg(&tree)
            .args(["--owner=0", "--group=0", "-cf"])
            .arg(&out)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        if let Some(good) = self.sidecar {
            let digest = if good {
                sha256(&fs::read(&out).unwrap())
            } else {
                sha256(b"other")
            };
            fs::write(
                dir.join(format!("{}.xenguest.sha256", self.name)),
                format!("{digest}  x\n"),
            )
            .unwrap();
        }
        out
    }
}

/// The bytes of a gzip tar holding one file (a rootfs content).
fn rootfs_tar_gz(dir: &Path) -> Vec<u8> {
    let src = dir.join("rootfs-src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hostname"), "guest\n").unwrap();
    let out = dir.join("rootfs.tar.gz");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-czf")
        .arg(&out)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    fs::read(out).unwrap()
}

/// The smallest `DISK_SIZE` (MiB) whose bytes hold a layout ending at
/// `end_mb` MB (10^6 bytes).
fn smallest_disk(end_mb: u64) -> u64 {
    (end_mb * 1_000_000).div_ceil(1024 * 1024)
}

/// Every case, generated.
fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    // Layouts around the host layout's edges: each set of defined
    // partitions (number, MB), on disks one MiB below, at and above the
    // smallest that holds it, and one below the sum of the partitions.
    let layouts: &[&[(u8, u64)]] = &[
        &[(1, 10)],
        &[(1, 10), (3, 20)],
        &[(2, 5)],
        &[(4, 1)],
        &[(1, 100), (2, 100)],
        &[(1, 1), (2, 1), (3, 1), (4, 1)],
    ];
    for parts in layouts {
        let mut end = 1;
        let mut used = 0;
        let mut disk = String::new();
        for n in 1..=parts.iter().map(|p| p.0).max().unwrap() {
            match parts.iter().find(|p| p.0 == n) {
                Some(&(_, mb)) => {
                    end += mb;
                    used += mb;
                    let _ = writeln!(disk, "DISK_PART{n}=\"{mb}M:ext4:\"");
                }
                None => end += 2,
            }
        }
        let edge = smallest_disk(end);
        let mut sizes = vec![edge - 1, edge, edge + 1, used.saturating_sub(1).max(1), used];
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            let shape: Vec<String> = parts.iter().map(|(n, mb)| format!("{n}:{mb}")).collect();
            out.push(
                Case::new(format!("layout-{}-on-{size}", shape.join("+")))
                    .with("disk.cfg", format!("DISK_SIZE=\"{size}M\"\n{disk}")),
            );
        }
    }
    // Contents: with and without a file system to hold them, and missing.
    let tar = rootfs_tar_gz(dir);
    for fs in ["ext4", "vfat", "swap", ""] {
        for (content, bytes) in [
            ("rootfs.tar.gz", Some(tar.clone())),
            ("raw.img", Some(vec![0x5a; 4096])),
            ("absent.tar", None),
            ("", None),
        ] {
            let label = if content.is_empty() { "none" } else { content };
            let fs_label = if fs.is_empty() { "nofs" } else { fs };
            let mut case = Case::new(format!("content-{label}-on-{fs_label}")).with(
                "disk.cfg",
                format!("DISK_SIZE=\"100M\"\nDISK_PART1=\"10M:{fs}:{content}\"\n"),
            );
            if let Some(b) = bytes {
                case = case.with(&format!("disk/{content}"), b);
            }
            out.push(case);
        }
    }
    // Text members: as the host reads them (bash, xl).
    let texts: &[(&str, &str, &[u8])] = &[
        ("lf", "init.d/10-net", SCRIPT.as_bytes()),
        ("crlf", "init.d/10-net", b"#!/bin/sh\r\necho hello\r\n"),
        ("latin1", "init.d/10-net", b"#!/bin/sh\necho h\xe9llo\n"),
        ("crlf", "init.pre/00-pre", b"#!/bin/sh\r\n"),
        ("crlf", "init.post/99-post", b"#!/bin/sh\r\n"),
        ("crlf", "guest.d/extra.cfg", b"vcpus = 2\r\n"),
        ("latin1", "guest.d/extra.cfg", b"# caf\xe9\nvcpus = 2\n"),
        ("crlf", "params.cfg", b"GUEST_AUTOBOOT=\"1\"\r\n"),
        ("crlf", "guest.cfg", b"memory = 512\r\n"),
    ];
    for (kind, path, bytes) in texts {
        out.push(Case::new(format!("text-{kind}-{}", path.replace(['/', '.'], "_"))).with(path, *bytes));
    }
    // xl lines in guest.d: keys the manager owns, keys reaching host
    // resources, host files, and a harmless one.
    let xl: &[(&str, &str)] = &[
        ("harmless", "vcpus = 2\n"),
        ("owned-name", "name = \"Domain-0\"\n"),
        ("owned-disk", "disk = ['phy:/dev/sda,xvda,w']\n"),
        ("pci", "pci = ['01:00.0']\n"),
        ("dtdev", "dtdev = ['/soc/dma@0']\n"),
        ("bootloader", "bootloader = \"/bin/sh\"\n"),
        ("ramdisk-host-file", "ramdisk = \"/etc/shadow\"\n"),
        ("device-tree-escape", "device_tree = \"files/../../../etc/passwd\"\n"),
        ("vif-script", "vif = ['bridge=xenbr0,script=/tmp/evil']\n"),
    ];
    for (label, line) in xl {
        out.push(Case::new(format!("xl-{label}")).with("guest.d/extra.cfg", *line));
    }
    // Integrity: a manifest and a sidecar, matching or not.
    for (label, manifest, sidecar) in [
        ("manifest", Some(true), None),
        ("manifest-mismatch", Some(false), None),
        ("sidecar", None, Some(true)),
        ("sidecar-mismatch", None, Some(false)),
        ("manifest-and-sidecar", Some(true), Some(true)),
    ] {
        let mut case = Case::new(format!("integrity-{label}"));
        case.manifest = manifest;
        case.sidecar = sidecar;
        out.push(case);
    }
    // A disk on a host device of the image's choosing.
    out.push(Case::new("disk-device").with(
        "disk.cfg",
        "DISK_SIZE=\"100M\"\nDISK_DEVICE=\"/dev/sdb\"\nDISK_PART1=\"10M:ext4:\"\n",
    ));
    out
}

/// Images signed by a key the host does not know (it trusts none): as
/// signed, with a byte of the signature flipped, and with a member changed
/// after signing.
fn signed_images(h: &Host, dir: &Path) -> Vec<(String, std::path::PathBuf)> {
    crate::support::keypair(&h.s, "ed25519", "signer");
    let signed = dir.join("signed.xenguest");
    let st = Command::new(bin())
        .current_dir(h.s.path())
        .arg("create")
        .arg(&signed)
        .args(["--sign-key", "signer.pem"])
        .status()
        .unwrap();
    assert!(st.success());
    let bytes = fs::read(&signed).unwrap();
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    // The signature's data follows its 512-byte header, named first.
    let mut flipped = bytes.clone();
    flipped[find(b"./manifest.sha256.sig\0") + 512] ^= 1;
    // A byte of guest.cfg's data (the header's name is followed by the
    // data 512 bytes on).
    let mut tampered = bytes.clone();
    tampered[find(b"./guest.cfg\0") + 512] ^= 0x20;
    let mut out = vec![("signed".to_owned(), signed)];
    for (name, data) in [
        ("signed-flipped-signature", flipped),
        ("signed-tampered-member", tampered),
    ] {
        let path = dir.join(format!("{name}.xenguest"));
        fs::write(&path, data).unwrap();
        out.push((name.to_owned(), path));
    }
    out
}

/// What `check --json` says: passed, and the host permissions needed.
fn check(image: &Path) -> (bool, Vec<String>, String) {
    let out = Command::new(bin())
        .args(["check", "--json"])
        .arg(image)
        .output()
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("check --json printed no JSON ({e}): {out:?}"));
    let ok = doc["ok"].as_bool().unwrap();
    assert_eq!(ok, out.status.success(), "check's exit status and `ok` differ: {doc}");
    let permissions = doc["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["setting"].as_str().unwrap().to_owned())
        .collect();
    (ok, permissions, doc["problems"].to_string())
}

#[test]
fn check_and_the_manager_admit_the_same_images() {
    let h = Host::new();
    let dir = h.s.mkdir("images");
    let cases = cases(&dir);
    let mut images: Vec<(String, std::path::PathBuf)> = cases.iter().map(|c| (c.name.clone(), c.write(&dir))).collect();
    images.extend(signed_images(&h, &dir));
    let mut disagree = Vec::new();
    let mut report = String::new();
    let (mut created, mut refused) = (0, 0);
    for (i, (case_name, image)) in images.iter().enumerate() {
        let (ok, permissions, problems) = check(image);
        let name = format!("g{i}");
        let run = h.run(&["create", image.to_str().unwrap(), &name]);
        let made = run.code() == 0;
        if made {
            created += 1;
        } else {
            refused += 1;
            assert!(
                !h.guest_dir(&name).exists(),
                "{case_name}: a refused create left a guest"
            );
        }
        let expected = ok && permissions.is_empty();
        let _ = writeln!(
            report,
            "{} {}: check {}{}, create {}",
            if made == expected { "ok  " } else { "FAIL" },
            case_name,
            if ok { "passes" } else { "refuses" },
            if permissions.is_empty() {
                String::new()
            } else {
                format!(" (needs {})", permissions.join(", "))
            },
            if made {
                "creates".to_owned()
            } else {
                format!("refuses: {}", run.stderr().trim())
            },
        );
        if made != expected {
            disagree.push(format!(
                "{}: check {problems}; create: {}",
                case_name,
                run.stderr().trim()
            ));
        }
    }
    println!("{report}");
    assert!(
        disagree.is_empty(),
        "check and create disagree:\n{}",
        disagree.join("\n")
    );
    // The generator reached both verdicts, and the cases the two judges
    // used to disagree on were judged (and refused by both).
    assert!(
        cases.len() >= 40 && created >= 10 && refused >= 10,
        "{created} created, {refused} refused"
    );
    for refused in [
        "text-crlf-init_d_10-net: check refuses",
        "text-latin1-init_d_10-net: check refuses",
        "layout-1:10+3:20-on-31: check refuses",
        "content-rootfs.tar.gz-on-nofs: check refuses",
        "content-rootfs.tar.gz-on-swap: check refuses",
        "integrity-manifest-mismatch: check refuses",
        "integrity-sidecar-mismatch: check refuses",
        "signed-flipped-signature: check refuses",
        "signed-tampered-member: check refuses",
        "disk-device: check passes (needs XENGUEST_ALLOW_IMAGE_DEVICE), create refuses",
    ] {
        assert!(report.contains(refused), "missing `{refused}` in:\n{report}");
    }
    for passed in [
        "layout-1:10+3:20-on-32: check passes, create creates",
        "text-lf-init_d_10-net: check passes, create creates",
    ] {
        assert!(report.contains(passed), "missing `{passed}` in:\n{report}");
    }
}

/// A host that grants a permission creates what `check` said needs it.
#[test]
fn a_granted_permission_admits_what_check_listed() {
    let h = Host::new();
    let dir = h.s.mkdir("images");
    let image = Case::new("dev")
        .with(
            "disk.cfg",
            "DISK_SIZE=\"100M\"\nDISK_DEVICE=\"/dev/sdb\"\nDISK_PART1=\"10M:ext4:\"\n",
        )
        .write(&dir);
    let out = Command::new(bin()).arg("check").arg(&image).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("needs host permission: disk device `/dev/sdb` (XENGUEST_ALLOW_IMAGE_DEVICE)"),
        "{stdout}"
    );
    h.run(&["create", image.to_str().unwrap(), "a"])
        .failure(1, &["DISK_DEVICE", "XENGUEST_ALLOW_IMAGE_DEVICE"]);
    h.conf("XENGUEST_ALLOW_IMAGE_DEVICE=\"1\"\n");
    h.run(&["create", image.to_str().unwrap(), "b"]).success();
}

/// Writers judge what they write by the host's layout too: an image whose
/// partitions fit `DISK_SIZE` but not the layout (1 MB start, 2 MB
/// placeholders) is never written, by `create` or `update`.
#[test]
fn writers_refuse_what_the_host_layout_cannot_hold() {
    let s = crate::support::Scratch::new();
    s.run(&["create", "g", "--disk-size=10M", "--disk-add-part=1:10M:ext4:"])
        .failure(1, &["not writing", "the partitions end at 11 MB", "raise DISK_SIZE"]);
    assert!(!s.exists("g"));
    s.run(&["create", "g", "--disk-size=30M", "--disk-add-part=1:10M:ext4:"])
        .success();
    let before = s.read("g");
    s.run(&["update", "g", "--disk-add-part=3:19M:ext4:"])
        .failure(1, &["the partitions end at 32 MB"]);
    assert_eq!(s.read("g"), before, "a refused update changes nothing");
    s.write("rootfs.tar", b"x");
    s.run(&[
        "update",
        "g",
        "--disk-add-file=rootfs.tar",
        "--disk-add-part=2:1M::rootfs.tar",
    ])
    .failure(1, &["partition 2 holds `rootfs.tar` but has no file system"]);
    // `check --json` types what it finds.
    s.write("d/guest.cfg", "memory = 512\n");
    s.write("d/params.cfg", "GUEST_AUTOBOOT=\"1\"\n");
    s.write("d/disk.cfg", "DISK_SIZE=\"10M\"\nDISK_PART1=\"10M:ext4:\"\n");
    s.write("d/init.d/x.sh", "#!/bin/sh\r\n");
    let run = s.run(&["check", "--json", "d"]);
    assert_eq!(run.code(), 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let found: Vec<(String, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["subject"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("text".to_owned(), "init.d/x.sh".to_owned()),
            ("host-layout".to_owned(), "disk.cfg: DISK_SIZE".to_owned())
        ],
        "{doc}"
    );
    assert_eq!(doc["problems"].as_array().unwrap().len(), 2);
}

/// The host's trust settings: unsigned images without host-side scripts,
/// signed ones with them; a configuration requiring signatures without a
/// trusted key is refused.
#[test]
fn a_host_can_refuse_unsigned_scripts_or_every_unsigned_image() {
    let h = Host::new();
    crate::support::keypair(&h.s, "ed25519", "k");
    crate::support::keypair(&h.s, "ed25519", "other");
    fs::create_dir_all(h.root().join("etc/xenguest/keys")).unwrap();
    fs::copy(h.s.join("k.pub.pem"), h.root().join("etc/xenguest/keys/release.pem")).unwrap();
    h.s.write("net.sh", "#!/bin/sh\nexit 0\n");
    let plain = h.image("plain.xenguest", &[]);
    let scripted = h.image("scripted.xenguest", &["--init-pre=net.sh"]);
    let signed = h.image("signed.xenguest", &["--init-pre=net.sh", "--sign-key", "k.pem"]);
    let foreign = h.image("foreign.xenguest", &["--init-pre=net.sh", "--sign-key", "other.pem"]);
    let create = |image: &Path, name: &str| h.run(&["create", image.to_str().unwrap(), name]);
    h.conf(
        "XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/keys\"\nXENGUEST_REQUIRE_SIGNATURE=\"0\"\nXENGUEST_REQUIRE_SIGNED_SCRIPTS=\"1\"\n",
    );
    create(&plain, "a1").success();
    create(&scripted, "a2").failure(
        1,
        &["init.pre/net.sh", "run as root", "XENGUEST_REQUIRE_SIGNED_SCRIPTS"],
    );
    assert!(!h.guest_dir("a2").exists());
    create(&signed, "a3").success();
    create(&foreign, "a4").failure(1, &["wrong key"]);
    // Trusted keys alone: every image signed by one of them.
    h.conf("XENGUEST_TRUSTED_KEYS=\"/etc/xenguest/keys\"\n");
    create(&plain, "b1").failure(1, &["is unsigned"]);
    create(&signed, "b2").success();
    // Requiring signatures without a key to check them by is a mistake.
    for key in ["XENGUEST_REQUIRE_SIGNATURE", "XENGUEST_REQUIRE_SIGNED_SCRIPTS"] {
        h.conf(&format!("{key}=\"1\"\n"));
        create(&plain, "c").failure(1, &[key, "XENGUEST_TRUSTED_KEYS"]);
    }
    // Every new key is declared in the help.
    let help = h.run(&["--help"]);
    help.success();
    help.stdout_has(&[
        "XENGUEST_ALLOW_XL_KEYS",
        "XENGUEST_REQUIRE_SIGNATURE",
        "XENGUEST_REQUIRE_SIGNED_SCRIPTS",
    ]);
}

/// A sidecar that is a FIFO is an error, not a wait: nobody writes to it.
#[test]
fn a_fifo_sidecar_is_refused_at_once() {
    let s = crate::support::Scratch::new();
    s.run(&["create", "g.xenguest"]).success();
    let _ = fs::remove_file(s.join("g.xenguest.sha256"));
    let st = Command::new("mkfifo")
        .arg(s.join("g.xenguest.sha256"))
        .status()
        .unwrap();
    assert!(st.success());
    let mut child = Command::new(bin())
        .args(["verify", "g.xenguest"])
        .current_dir(s.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A reader blocked on the FIFO never ends: give it a generous bound,
    // then open the FIFO for writing so that it does.
    let mut waited = 0;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if waited >= 600 {
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    if status.is_none() {
        let _ = fs::OpenOptions::new().write(true).open(s.join("g.xenguest.sha256"));
        let _ = child.wait();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.is_some(), "verify waited on the FIFO sidecar");
    assert!(
        !out.status.success() && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

/// The host manager judges images through the library's admission
/// function, not through the image tool's command layer.
#[test]
fn the_manager_does_not_reach_into_the_command_layer() {
    let dir = crate::support::repo().join("src/manager");
    let mut read = 0;
    let mut admits = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        read += 1;
        assert!(
            !text.contains("crate::commands"),
            "{} uses the image tool's command layer",
            path.display()
        );
        admits += text.matches("admit::admit(").count();
    }
    assert!(read >= 5, "only {read} files under {}", dir.display());
    assert_eq!(admits, 1, "the manager must call admit exactly once");
}
