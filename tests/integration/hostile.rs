//! Hostile input and faults: nothing escapes, nothing runs, nothing is
//! lost, nothing panics.
//!
//! This module covers values (nothing a user passes can run code on the
//! host, which sources `params.cfg` and `disk.cfg` as root) and names
//! (nothing is written outside the image or the extract destination).
//! Archives are crafted byte by byte here, since no honest tar writer makes
//! them; `faults` reuses the crafting helpers.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::support::Scratch;

/// Member time of crafted headers (any fixed value will do).
const MTIME: u64 = 946_684_800;

/// A tar header with exactly these bytes in the name and link fields (the
/// `tar` crate's `set_path` refuses `..` and absolute names, which is what
/// we want to craft).
pub(crate) fn raw_header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    {
        let u = h.as_ustar_mut().expect("ustar header");
        u.name[..name.len()].copy_from_slice(name);
        u.linkname[..link.len()].copy_from_slice(link);
    }
    h.set_mode(if typeflag == b'5' { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h.set_entry_type(tar::EntryType::new(typeflag));
    h.set_cksum();
    h
}

/// A tar archive built member by member.
#[derive(Clone, Default)]
pub(crate) struct Tar(pub Vec<u8>);

pub(crate) const PARAMS: &str = "GUEST_AUTOBOOT=\"1\"\n";
pub(crate) const GUEST: &str = "memory = 512\nvcpus = 1\n";
pub(crate) const DISK: &str = "DISK_SIZE=\"0\"\nDISK_DEVICE=\"\"\n";

impl Tar {
    /// The smallest valid image: the root and the three config files.
    pub(crate) fn base() -> Tar {
        Tar::default()
            .dir("./")
            .file("./disk.cfg", DISK)
            .file("./guest.cfg", GUEST)
            .file("./params.cfg", PARAMS)
    }

    /// Appends one member with raw name, type and link, and `data`.
    pub(crate) fn raw(mut self, name: &[u8], typeflag: u8, link: &[u8], data: &[u8]) -> Tar {
        let h = raw_header(name, typeflag, data.len() as u64, link);
        self.0.extend_from_slice(h.as_bytes());
        self.data(data)
    }

    /// Appends data padded to a whole block.
    pub(crate) fn data(mut self, data: &[u8]) -> Tar {
        self.0.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.0.extend(std::iter::repeat(0).take(pad));
        self
    }

    pub(crate) fn file(self, name: &str, data: impl AsRef<[u8]>) -> Tar {
        self.raw(name.as_bytes(), b'0', b"", data.as_ref())
    }

    pub(crate) fn dir(self, name: &str) -> Tar {
        self.raw(name.as_bytes(), b'5', b"", b"")
    }

    /// A pax extended header (`x`) with these raw records.
    pub(crate) fn pax(self, records: &[u8]) -> Tar {
        self.raw(b"././@PaxHeader", b'x', b"", records)
    }

    /// The archive with its two end-of-archive blocks.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// One pax record, `LEN KEY=VALUE\n`, with a correct length.
pub(crate) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let base = key.len() + value.len() + 3;
    let mut len = base + 1;
    while len != base + len.to_string().len() {
        len = base + len.to_string().len();
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// Names of the entries of a directory.
pub(crate) fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Asserts that the image `bytes` is refused by every reading command with
/// a message containing `needle`, that `extract` and `extract-config` write
/// nothing, and that `update` leaves it byte-identical.
#[track_caller]
pub(crate) fn assert_refused(bytes: &[u8], needle: &str) {
    let s = Scratch::new();
    let img = s.write("evil.xenguest", bytes);
    s.run(&["check", "evil.xenguest"])
        .failure(1, &["evil.xenguest", needle]);
    s.run(&["check", "--json", "evil.xenguest"])
        .failure(1, &["evil.xenguest"])
        .stdout_has(&["\"ok\":false"]);
    for cmd in ["extract", "extract-config"] {
        let dest = s.join(cmd);
        fs::create_dir(&dest).unwrap();
        s.run(&[cmd, "evil.xenguest", cmd])
            .failure(1, &["evil.xenguest", needle]);
        assert_eq!(listing(&dest), Vec::<String>::new(), "{cmd} wrote into its destination");
    }
    s.run(&["update", "evil.xenguest", "--set-param=A=1"])
        .failure(1, &["evil.xenguest", needle]);
    assert_eq!(fs::read(&img).unwrap(), bytes, "a refused update changed the image");
    s.run(&["dump-paramsconfig", "evil.xenguest"]).failure(1, &[needle]);
    s.run(&["extract-disk-file", "evil.xenguest", "x.img"])
        .failure(1, &[needle]);
    // Nothing else appeared beside the image, inside or outside it.
    assert_eq!(listing(s.path()), ["evil.xenguest", "extract", "extract-config"]);
}

// ---------------------------------------------------------------------------
// Values: nothing from a value runs on the host.

/// Everything bash interprets inside double quotes, and control characters.
const SHELL_BAD: &[&str] = &[
    "a\"b",
    "a\\b",
    "trailing\\",
    "$(touch pwned)",
    "${HOME}",
    "$HOME",
    "`touch pwned`",
    "a\nb",
    "a\nB=\"x",
    "a\rb",
    "a\tb",
    "\u{1}",
    "\u{1b}[31m",
    "a\u{7f}",
    "\u{85}",
];

#[test]
fn set_param_values_cannot_break_out() {
    let s = Scratch::new();
    for bad in SHELL_BAD {
        s.run(&["create", "g.xenguest", &format!("--set-param=K={bad}")])
            .failure(1, &["--set-param", "is sourced by bash"]);
        assert!(!s.join("g.xenguest").exists(), "{bad:?}: image written");
    }
    // Also on update: the image stays byte-identical.
    s.run(&["create", "g.xenguest"]).success();
    let before = fs::read(s.join("g.xenguest")).unwrap();
    for bad in SHELL_BAD {
        s.run(&[
            "update",
            "g.xenguest",
            "--set-param=OK=1",
            &format!("--set-param=K={bad}"),
        ])
        .failure(1, &["--set-param"]);
        assert_eq!(fs::read(s.join("g.xenguest")).unwrap(), before, "{bad:?}");
    }
    assert!(!s.join("pwned").exists());
}

#[test]
fn parameter_names_are_shell_names() {
    let s = Scratch::new();
    for bad in [
        "", "1A", "A-B", "A B", "A;B", "A$", "A.B", "A\nB", "é", "A[0]", "$(id)", "A+",
    ] {
        s.run(&["create", "g.xenguest", &format!("--set-param={bad}=1")])
            .failure(1, &["--set-param", "not a parameter name"]);
        assert!(!s.join("g.xenguest").exists(), "{bad:?}");
    }
    // Names that would change what the root shell sourcing params.cfg
    // runs, or the host manager's own variables.
    for reserved in [
        "PATH",
        "IFS",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "BASH_ENV",
        "PS4",
        "PROMPT_COMMAND",
        "guestdir",
        "guestname",
        "guestcfgfile",
    ] {
        s.run(&["create", "g.xenguest", &format!("--set-param={reserved}=/tmp/x")])
            .failure(1, &["--set-param", reserved, "reserved"]);
        s.write("g.toml", format!("[params]\n{reserved} = \"/tmp/x\"\n"));
        s.run(&["build", "g.toml", "-o", "g.xenguest"])
            .failure(1, &["g.toml", reserved, "reserved"]);
        assert!(!s.join("g.xenguest").exists(), "{reserved}");
    }
    for good in ["A", "_", "_a1", "GUEST_AUTOBOOT", "a9", "MY_PATH", "path"] {
        s.run(&["create", "g.xenguest", &format!("--set-param={good}=1")])
            .success();
        fs::remove_file(s.join("g.xenguest")).unwrap();
    }
}

#[test]
fn disk_values_cannot_break_out() {
    let s = Scratch::new();
    s.write("root.tar", b"x");
    for bad in SHELL_BAD {
        s.run(&["create", "g.xenguest", &format!("--disk-device={bad}")])
            .failure(1, &["--disk-device"]);
    }
    for bad in ["a\"b.tar", "$(id).tar", "`id`.tar", "a\\b.tar", "a\nb.tar"] {
        s.run(&["create", "g.xenguest", &format!("--disk-add-file=root.tar:{bad}")])
            .failure(1, &["--disk-add-file"]);
        s.run(&[
            "create",
            "g.xenguest",
            "--disk-size=2G",
            &format!("--disk-add-part=1:1G:ext4:{bad}"),
        ])
        .failure(1, &["--disk-add-part"]);
    }
    assert!(!s.join("g.xenguest").exists());
}

#[test]
fn xl_strings_cannot_hold_quotes_or_newlines() {
    let s = Scratch::new();
    for option in ["--xen-extra", "--xen-root", "--xen-name", "--xen-disk"] {
        // `\` starts an escape for xl (`\n`, `\x22`): refused as well.
        for bad in [
            "a\"b",
            "a\nb",
            "a\rb",
            "\"; kernel = \"/etc/shadow",
            "trailing\\",
            "a\\nb",
            "\\x22",
        ] {
            s.run(&["create", "g.xenguest", &format!("{option}={bad}")])
                .failure(1, &[option, "xl"]);
            assert!(!s.join("g.xenguest").exists(), "{option}={bad:?}");
        }
    }
    // The disk device is an element of an xl list: `'` and `,` end it.
    for bad in ["/dev/x'y", "/dev/x,xvdb,w"] {
        s.run(&["create", "g.xenguest", &format!("--xen-disk={bad}")])
            .failure(1, &["--xen-disk"]);
    }
}

#[test]
fn toml_values_go_through_the_same_checks() {
    let s = Scratch::new();
    for (toml, needle) in [
        ("[params]\nK = \"$(touch pwned)\"\n", "params.K"),
        ("[params]\nK = \"`touch pwned`\"\n", "params.K"),
        ("[params]\nK = \"a\\nb\"\n", "params.K"),
        ("[params]\nK = \"a\\\"b\"\n", "params.K"),
        ("[params]\n\"A-B\" = \"1\"\n", "params.A-B"),
        ("[params]\n\"A=B\" = \"1\"\n", "params.A=B"),
        ("[params]\n\"\" = \"1\"\n", "params."),
        ("[guest]\nname = \"a\\\"b\"\n", "guest.name"),
        ("[guest]\nroot = \"a\\nb\"\n", "guest.root"),
        ("[guest]\ncmdline = \"a\\\"b\"\n", "guest.cmdline"),
        ("[disk]\ndevice = \"$(id)\"\n", "disk.device"),
        ("[disk]\ndevice = \"a\\nb\"\n", "disk.device"),
        ("[xen.settings]\nvif = [\"a\\\"b\"]\n", "xen.settings.vif"),
        ("[xen.settings]\nbootloader = \"a\\nb\"\n", "xen.settings.bootloader"),
    ] {
        s.write("g.toml", toml);
        s.run(&["build", "g.toml", "-o", "g.xenguest"])
            .failure(1, &["g.toml", needle]);
        assert!(!s.join("g.xenguest").exists(), "{toml}");
    }
    assert!(!s.join("pwned").exists());
}

/// Values that are allowed reach bash exactly as given and run nothing:
/// extract the image like the host manager does and source the files.
#[test]
fn allowed_values_are_inert_in_bash() {
    let s = Scratch::new();
    let values = [
        "a b  c",
        "semi;colon && touch pwned || touch pwned",
        "'single' quotes",
        "glob * ? [a]",
        "~root",
        "!bang !! history",
        "<redir >pwned 2>&1 | pipe",
        "#not a comment",
        "unicode é ü 日本",
        "percent %s %n",
    ];
    let mut args = vec!["create".to_owned(), "g.xenguest".to_owned()];
    for (i, v) in values.iter().enumerate() {
        args.push(format!("--set-param=V{i}={v}"));
    }
    args.push("--disk-device=/dev/vg0 ;touch pwned".into());
    s.run(&args).success();
    fs::create_dir(s.join("host")).unwrap();
    s.run(&["extract-config", "g.xenguest", "host"]).success();
    let mut script = String::from("set -eu\n. ./params.cfg\n. ./disk.cfg\n");
    for i in 0..values.len() {
        let _ = writeln!(script, "printf '%s\\0' \"$V{i}\"");
    }
    script.push_str("printf '%s\\0' \"$DISK_DEVICE\"\n");
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(s.join("host"))
        .output()
        .expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_terminator('\0')
        .map(str::to_owned)
        .collect();
    let mut want: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
    want.push("/dev/vg0 ;touch pwned".into());
    assert_eq!(got, want);
    assert!(!s.join("host/pwned").exists() && !s.join("pwned").exists());
}

/// An image whose `params.cfg` or `disk.cfg` holds code (made by another
/// tool) fails `check`, naming the file and the line.
#[test]
fn code_in_config_files_fails_check() {
    for (file, text) in [
        ("params.cfg", "GUEST_AUTOBOOT=\"1\"\ntouch pwned\n"),
        ("params.cfg", "A=\"$(touch pwned)\"\n"),
        ("params.cfg", "A=\"x\";touch pwned\n"),
        ("params.cfg", "A=\"multi\nline\"\n"),
        ("disk.cfg", "DISK_SIZE=\"0\"\nDISK_DEVICE=`touch pwned`\n"),
    ] {
        let (params, disk) = if file == "params.cfg" {
            (text, DISK)
        } else {
            (PARAMS, text)
        };
        let bytes = Tar::default()
            .dir("./")
            .file("./disk.cfg", disk)
            .file("./guest.cfg", GUEST)
            .file("./params.cfg", params)
            .finish();
        let s = Scratch::new();
        s.write("g.xenguest", &bytes);
        s.run(&["check", "g.xenguest"])
            .failure(1, &[&format!("{file} line "), "the host sources this file with bash"]);
    }
}

// ---------------------------------------------------------------------------
// Names: nothing is written outside the image.

const BAD_DESTS: &[&str] = &[
    "../x",
    "../../x",
    "a/../../x",
    "/tmp/x",
    "/x",
    "./x",
    "a//b",
    "a/",
    "..",
    "a\nb",
];

#[test]
fn file_destinations_stay_inside_the_image() {
    let s = Scratch::new();
    s.write("src", b"data");
    s.run(&["create", "g.xenguest"]).success();
    let before = fs::read(s.join("g.xenguest")).unwrap();
    for option in ["--xen-add-file", "--disk-add-file"] {
        for bad in BAD_DESTS {
            let arg = format!("{option}=src:{bad}");
            s.run(&["create", "new.xenguest", &arg]).failure(1, &[option]);
            s.run(&["update", "g.xenguest", &arg]).failure(1, &[option]);
            assert_eq!(fs::read(s.join("g.xenguest")).unwrap(), before, "{arg:?}");
        }
    }
    for option in ["--xen-rm-file", "--disk-rm-file"] {
        for bad in BAD_DESTS.iter().chain(&[""]) {
            s.run(&["update", "g.xenguest", &format!("{option}={bad}")])
                .failure(1, &[option]);
        }
    }
    // Directory images: nothing appears beside them either.
    fs::create_dir(s.join("dir")).unwrap();
    s.run(&["create", "dir"]).success();
    for bad in BAD_DESTS {
        s.run(&["update", "dir", &format!("--xen-add-file=src:{bad}")])
            .failure(1, &["--xen-add-file"]);
        s.run(&["partial", "dir", &format!("--disk-add-file=src:{bad}")])
            .failure(1, &["--disk-add-file"]);
    }
    assert!(!s.join("new.xenguest").exists());
    assert_eq!(listing(s.path()), ["dir", "g.xenguest", "g.xenguest.sha256", "src"]);
    assert_eq!(
        listing(&s.join("dir")),
        ["disk.cfg", "guest.cfg", "manifest.sha256", "params.cfg"]
    );
    assert!(!Path::new("/tmp/x").exists() && !Path::new("/x").exists());
}

#[test]
fn init_script_names_stay_inside_the_image() {
    let s = Scratch::new();
    fs::create_dir(s.join("d")).unwrap();
    for option in ["--init-pre", "--init-script", "--init-post", "--xen-append"] {
        for bad in ["", "/", "..", "d/..", "d/.", "."] {
            s.run(&["create", "g.xenguest", &format!("{option}={bad}")])
                .failure(1, &[option]);
        }
    }
    assert!(!s.join("g.xenguest").exists());
}

#[test]
fn toml_destinations_stay_inside_the_image() {
    let s = Scratch::new();
    s.write("src", b"data");
    for table in ["xen.files", "disk.files"] {
        for bad in ["../x", "/tmp/x", "a/../../x", "", "a//b"] {
            let toml = format!("[{table}]\n\"{bad}\" = \"src\"\n");
            s.write("g.toml", &toml);
            s.run(&["build", "g.toml", "-o", "g.xenguest"])
                .failure(1, &["g.toml", table]);
        }
        // A `${}` reference cannot smuggle one in either.
        s.write("g.toml", format!("[{table}]\n\"${{D}}/x\" = \"src\"\n"));
        s.run(&["build", "g.toml", "-o", "g.xenguest", "--define", "D=.."])
            .failure(1, &["g.toml", "`..` would leave the image"]);
    }
    for list in ["pre", "scripts", "post"] {
        for bad in ["", "..", "/"] {
            s.write("g.toml", format!("[init]\n{list} = [\"{bad}\"]\n"));
            s.run(&["build", "g.toml", "-o", "g.xenguest"])
                .failure(1, &["g.toml", &format!("init.{list}[1]")]);
        }
    }
    assert!(!s.join("g.xenguest").exists());
    assert!(!Path::new("/tmp/x").exists());
    // A `:` in a destination is part of the name, not a SRC:DST split.
    s.write("src:a", b"wrong file");
    s.write("g.toml", "[xen.files]\n\"a:b\" = \"src\"\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"]).success();
    fs::create_dir(s.join("out")).unwrap();
    s.run(&["extract", "g.xenguest", "out"]).success();
    assert_eq!(fs::read(s.join("out/files/a:b")).unwrap(), b"data");
    assert_eq!(listing(&s.join("out/files")), ["a:b"]);
}

/// A directory image holds whatever names the file system allows; the
/// reader applies the tar image's rules, so `pack` never makes an image
/// that `check` refuses.
#[test]
fn odd_names_in_directory_images_are_refused() {
    let s = Scratch::new();
    fs::create_dir(s.join("d")).unwrap();
    s.run(&["create", "d"]).success();
    s.write("d/files/a\nb", b"x");
    s.run(&["check", "d"])
        .failure(1, &["files/a\\nb", "control characters"]);
    s.run(&["pack", "d", "p.xenguest"]).failure(1, &["files/a\\nb"]);
    assert!(!s.join("p.xenguest").exists());
    s.run(&["update", "d", "--set-param=A=1"]).failure(1, &["files/a\\nb"]);
}

// ---------------------------------------------------------------------------
// Reading hostile archives: refused up front, member named.

#[test]
fn crafted_archives_are_sane() {
    // The helpers make images the tool accepts, so each refusal below is
    // caused by the one hostile member.
    let s = Scratch::new();
    s.write("g.xenguest", Tar::base().file("./files/kernel", "k").finish());
    s.run(&["check", "g.xenguest"]).success().stdout_has(&["Image is OK"]);
    fs::create_dir(s.join("out")).unwrap();
    s.run(&["extract", "g.xenguest", "out"]).success();
    assert_eq!(fs::read_to_string(s.join("out/files/kernel")).unwrap(), "k");
}

#[test]
fn members_escaping_the_root_are_refused() {
    for (name, needle) in [
        ("../x", "`../x` contains `..`"),
        ("./../x", "`./../x` contains `..`"),
        ("./files/../../x", "`./files/../../x` contains `..`"),
        ("./files/..", "`./files/..` contains `..`"),
        ("..", "`..` contains `..`"),
        ("/etc/x", "`/etc/x` has an absolute name"),
        ("//x", "`//x` has an absolute name"),
    ] {
        assert_refused(&Tar::base().file(name, "evil").finish(), needle);
        // A directory member with the name is refused just the same.
        assert_refused(&Tar::base().dir(&format!("{name}/")).finish(), name);
    }
    // Hidden in extension headers.
    let pax = pax_record("path", b"./files/../../evil");
    assert_refused(
        &Tar::base().pax(&pax).file("./files/harmless", "evil").finish(),
        "`./files/../../evil` contains `..`",
    );
    let pax = pax_record("path", b"/etc/cron.d/evil");
    assert_refused(
        &Tar::base().pax(&pax).file("./files/harmless", "evil").finish(),
        "`/etc/cron.d/evil` has an absolute name",
    );
    let long = Tar::base()
        .raw(b"././@LongLink", b'L', b"", b"../../evil\0")
        .file("./files/harmless", "evil")
        .finish();
    assert_refused(&long, "`../../evil` contains `..`");
}

/// Extension headers GNU tar (on older hosts) reads differently from us:
/// a global `path` renames every later member, a sparse map changes the
/// data. Refused, so that what `check` approves is what GNU tar sees.
#[test]
fn headers_gnu_tar_would_read_differently_are_refused() {
    for key in ["path", "size", "linkpath", "GNU.sparse.size"] {
        let global = Tar::base()
            .raw(b"././@PaxHeader", b'g', b"", &pax_record(key, b"../../evil"))
            .file("./files/x", "x")
            .finish();
        assert_refused(&global, &format!("global pax header at byte 3584 sets `{key}`"));
    }
    let sparse = Tar::base()
        .pax(&pax_record("GNU.sparse.map", b"0,1"))
        .file("./files/x", "x")
        .finish();
    assert_refused(&sparse, "sparse pax header at byte 3584");
    // A global header with harmless keys (comments) is fine.
    let s = Scratch::new();
    s.write(
        "g.xenguest",
        Tar::base()
            .raw(b"././@PaxHeader", b'g', b"", &pax_record("comment", b"hello"))
            .file("./files/x", "x")
            .finish(),
    );
    s.run(&["check", "g.xenguest"]).success();
}

#[test]
fn odd_member_names_are_refused() {
    assert_refused(&Tar::base().file("./files/a\nb", "x").finish(), "files/a\\nb");
    assert_refused(&Tar::base().file("./files//a", "x").finish(), "./files//a");
    assert_refused(&Tar::base().file("./files/./a", "x").finish(), "./files/./a");
    assert_refused(
        &Tar::base().raw(b"./files/\xff", b'0', b"", b"x").finish(),
        "is not UTF-8",
    );
}

#[test]
fn names_too_long_to_extract_are_refused() {
    // Linux refuses a component over 255 bytes and a path over 4096: such
    // a member would make `extract` fail half-way, so the reader refuses it
    // up front, and no option can create one.
    let long = format!("./files/{}", "a".repeat(300));
    let bytes = Tar::base()
        .pax(&pax_record("path", long.as_bytes()))
        .file("./files/x", "x")
        .finish();
    assert_refused(&bytes, "has a component longer than 255 bytes");
    let deep = format!("./files/{}x", format!("{}/", "b".repeat(200)).repeat(25));
    let bytes = Tar::base()
        .pax(&pax_record("path", deep.as_bytes()))
        .file("./files/x", "x")
        .finish();
    assert_refused(&bytes, "is longer than 4096 bytes");
    let s = Scratch::new();
    s.write("src", b"x");
    s.run(&[
        "create",
        "g.xenguest",
        &format!("--xen-add-file=src:{}", "a".repeat(256)),
    ])
    .failure(1, &["--xen-add-file", "longer than 255 bytes"]);
    // A long name that is allowed extracts. (Not 255 bytes: the writer's
    // temporary file `.NAME.XXXXXX.tmp` needs 12 more, see the report.)
    s.run(&[
        "create",
        "g.xenguest",
        &format!("--xen-add-file=src:{}", "a".repeat(200)),
    ])
    .success();
    fs::create_dir(s.join("out")).unwrap();
    s.run(&["extract", "g.xenguest", "out"]).success();
    assert!(s.join(&format!("out/files/{}", "a".repeat(200))).exists());
}

#[test]
fn links_devices_and_fifos_are_refused() {
    for (typeflag, link, what) in [
        (b'2', &b"/etc/shadow"[..], "symbolic link"),
        (b'2', b"../../../etc", "symbolic link"),
        (b'1', b"./params.cfg", "hard link"),
        (b'1', b"/etc/shadow", "hard link"),
        (b'3', b"", "character device"),
        (b'4', b"", "block device"),
        (b'6', b"", "FIFO"),
    ] {
        let bytes = Tar::base().raw(b"./files/evil", typeflag, link, b"").finish();
        assert_refused(&bytes, &format!("member `files/evil` is a {what}"));
    }
    // Types other readers do not share are refused by the tar index,
    // under the name as stored.
    for (typeflag, what) in [
        (b'S', "is a GNU sparse file (type `S`): sparse members are refused"),
        (b'V', "has type `V` (GNU volume label)"),
        (b'D', "has type `D` (GNU dumpdir)"),
        (b'Q', "has type `Q` (a vendor extension)"),
    ] {
        let bytes = Tar::base().raw(b"./files/evil", typeflag, b"", b"").finish();
        assert_refused(&bytes, &format!("member `./files/evil` {what}"));
    }
    // A symbolic link that replaces a directory, followed by a file inside.
    let bytes = Tar::base()
        .raw(b"./files", b'2', b"/tmp", b"")
        .file("./files/evil", "x")
        .finish();
    assert_refused(&bytes, "member `files` is a symbolic link");
}

#[test]
fn repeated_members_are_refused() {
    // A second params.cfg would override the first when extracted.
    let bytes = Tar::base()
        .file("./params.cfg", "GUEST_AUTOBOOT=\"1\"\nreboot\n")
        .finish();
    assert_refused(&bytes, "member `params.cfg` appears more than once");
    // The same member under two spellings.
    assert_refused(
        &Tar::base().file("params.cfg", PARAMS).finish(),
        "member `params.cfg` appears more than once",
    );
    assert_refused(
        &Tar::base().file("./files/k", "a").dir("./files/k/").finish(),
        "member `files/k` appears more than once",
    );
    assert_refused(
        &Tar::base().dir("./files/").dir("./files/").finish(),
        "member `files` appears more than once",
    );
}

#[test]
fn a_file_that_is_also_a_directory_is_refused() {
    let bytes = Tar::base().file("./files/a", "x").file("./files/a/b", "y").finish();
    assert_refused(&bytes, "member `files/a` is both a file and a directory");
    let bytes = Tar::base().file("./files", "x").file("./files/kernel", "y").finish();
    assert_refused(&bytes, "member `files` is both a file and a directory");
}

// ---------------------------------------------------------------------------
// Extract destination: existing links are not followed.

fn good_image(s: &Scratch) {
    s.write("Image", b"kernel");
    s.write("root.tar", b"rootfs");
    s.run(&[
        "create",
        "g.xenguest",
        "--xen-kernel=Image",
        "--disk-add-file=root.tar",
        "--init-script=Image",
    ])
    .success();
}

#[test]
fn extract_does_not_follow_links_in_the_destination() {
    let s = Scratch::new();
    good_image(&s);
    fs::create_dir(s.join("outside")).unwrap();
    s.write("outside-file", b"precious");
    for (link, target, needle) in [
        ("files", "outside", "is not a directory - refusing to write through it"),
        ("disk", "outside", "is not a directory - refusing to write through it"),
        ("init.d", "outside", "is not a directory - refusing to write through it"),
        ("params.cfg", "outside-file", "exists and is not a regular file"),
        ("guest.cfg", "outside-file", "exists and is not a regular file"),
    ] {
        let dest = s.join(&format!("dest-{link}"));
        fs::create_dir(&dest).unwrap();
        std::os::unix::fs::symlink(s.join(target), dest.join(link)).unwrap();
        let run = s.run(&["extract", "g.xenguest", &format!("dest-{link}")]);
        run.failure(1, &[link, needle]);
        assert_eq!(
            listing(&s.join("outside")),
            Vec::<String>::new(),
            "{link}: wrote through the link"
        );
        assert_eq!(fs::read(s.join("outside-file")).unwrap(), b"precious", "{link}");
        assert!(
            fs::symlink_metadata(dest.join(link)).unwrap().file_type().is_symlink(),
            "{link}: the link was replaced"
        );
        // Refused before anything was written.
        assert_eq!(listing(&dest), [link], "{link}: extract wrote before refusing");
    }
    // A link to a directory inside a sub-directory of the destination.
    let dest = s.join("dest-deep");
    fs::create_dir_all(dest.join("files")).unwrap();
    std::os::unix::fs::symlink(s.join("outside-file"), dest.join("files/kernel")).unwrap();
    s.run(&["extract", "g.xenguest", "dest-deep"])
        .failure(1, &["files/kernel"]);
    assert_eq!(fs::read(s.join("outside-file")).unwrap(), b"precious");
    assert_eq!(listing(&dest), ["files"], "extract wrote before refusing");
    // A directory where a file goes, or a file where a directory goes.
    for (existing, dir) in [("params.cfg", true), ("init.d", false)] {
        let dest = s.join(&format!("dest-type-{existing}"));
        fs::create_dir(&dest).unwrap();
        if dir {
            fs::create_dir(dest.join(existing)).unwrap();
        } else {
            fs::write(dest.join(existing), b"").unwrap();
        }
        s.run(&["extract", "g.xenguest", &format!("dest-type-{existing}")])
            .failure(1, &[existing, "refusing to write through it"]);
        assert_eq!(listing(&dest), [existing], "extract wrote before refusing");
    }
}

#[test]
fn extract_config_leaves_disk_links_alone() {
    // extract-config never touches disk/, so a link there is irrelevant.
    let s = Scratch::new();
    good_image(&s);
    fs::create_dir_all(s.join("dest")).unwrap();
    fs::create_dir(s.join("outside")).unwrap();
    std::os::unix::fs::symlink(s.join("outside"), s.join("dest/disk")).unwrap();
    s.run(&["extract-config", "g.xenguest", "dest"]).success();
    assert_eq!(listing(&s.join("outside")), Vec::<String>::new());
    assert_eq!(fs::read(s.join("dest/files/kernel")).unwrap(), b"kernel");
}

#[test]
fn check_fails_on_reserved_names_already_in_sourced_files() {
    let s = Scratch::new();
    s.mkdir("img");
    s.run(&["create", "img"]).success();
    let mut params = s.read_text("img/params.cfg");
    params.push_str("LD_PRELOAD=\"/tmp/evil.so\"\n");
    s.write("img/params.cfg", params);
    s.run(&["check", "img"])
        .failure(1, &["LD_PRELOAD", "params.cfg", "reserved"]);
    // The same directory packed with GNU tar, as another tool would ship it.
    let out = s.ext("tar", &["-C", "img", "-cf", "packed.xenguest", "."]);
    assert!(out.status.success());
    s.run(&["check", "packed.xenguest"]).failure(1, &["LD_PRELOAD"]);
}
