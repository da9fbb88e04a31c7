//! The xl policy: which xl settings an image may make, one rule for
//! `check` and for the host manager.
//!
//! The host concatenates `guest.cfg` and the `guest.d` files (in name
//! order) and gives the result to `xl create`. This module judges that
//! configuration line by line:
//!
//! 1. **Strict reading.** Every line is blank, a `#` comment or `key =
//!    value` as [`crate::config::read_xl_line`] reads it; a line xl could
//!    read differently from this tool is refused, naming file and line.
//! 2. **Owned keys** ([`OWNED_KEYS`]): the host manager writes `name` and
//!    `disk` into `guest.cfg`. An image may have each only as one line of
//!    `guest.cfg` (which the manager replaces); a `guest.d` file setting
//!    one, or a second assignment, is refused. An active `disk` line adds
//!    disk targets on the host and needs the permission [`PERMIT_DISK`].
//! 3. **Files** ([`FILE_KEYS`]): `kernel`, `ramdisk`, `device_tree`, … name
//!    files the guest uses; they must be relative `files/…` paths naming a
//!    file of the image (the manager checks again, after resolving links,
//!    that they stay inside the guest's `files/`).
//! 4. **Host resources.** Keys known to affect only the guest
//!    ([`GUEST_KEYS`]) are allowed; every other key needs the host's
//!    permission by name ([`crate::rules::Policy::allow_xl_keys`], set on
//!    the host by `XENGUEST_ALLOW_XL_KEYS`). `on_*` actions that dump core
//!    on the host need [`PERMIT_COREDUMP`].
//! 5. **Network interfaces.** The host manager writes the guest's `vif`
//!    from the image's `XENGUEST_NETWORK_TYPE` (see the manager's `net`
//!    module). An image's own `vif` line (in any file) needs
//!    [`PERMIT_VIF`]; the host then adds its entries after the managed one.
//!    Entries with `script=` or `backend=` also need [`PERMIT_VIF_SCRIPT`]
//!    or [`PERMIT_VIF_BACKEND`].

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Component, Path};

use crate::config::{read_xl_line, XlLine, XlValue};
use crate::image::Image;
use crate::rules::{Policy, Problem, Rule};

/// Keys the host manager writes itself (`update --xen-name`,
/// `--xen-disk` in the classic manager).
pub const OWNED_KEYS: &[&str] = &["name", "disk"];

/// Keys naming a file for the guest's own use: they must name a file of
/// the image under `files/`.
pub const FILE_KEYS: &[&str] = &["kernel", "ramdisk", "device_tree", "acpi_firmware", "smbios_firmware"];

/// Keys known to affect only the guest itself, which an image may set
/// without the host's permission (besides [`FILE_KEYS`]). Every other key
/// (`pci`, `dtdev`, `iomem`, `irqs`, `ioports`, `bootloader`,
/// `device_model_*`, `stubdomain_*`, `firmware`, `usb*`, `vtpm`, `p9`,
/// `channel`, `serial`, `vfb`, …, and keys unknown to this list) needs the
/// host's permission by name.
pub const GUEST_KEYS: &[&str] = &[
    // Type, CPUs and memory.
    "type",
    "builder",
    "vcpus",
    "maxvcpus",
    "cpus",
    "cpus_soft",
    "cpu_weight",
    "cpu_cap",
    "memory",
    "maxmem",
    "uuid",
    // The guest kernel's command line.
    "extra",
    "cmdline",
    "root",
    // What happens when the guest stops (coredump actions need
    // PERMIT_COREDUMP).
    "on_poweroff",
    "on_reboot",
    "on_watchdog",
    "on_crash",
    "on_soft_reset",
    // Virtual hardware seen only by the guest.
    "gic_version",
    "vuart",
    "nr_spis",
    "localtime",
    "rtc_timeoffset",
    "tsc_mode",
    "timer_mode",
    "pae",
    "acpi",
    "apic",
    "hap",
    "hpet",
    "viridian",
    "nestedhvm",
    "boot",
    "xen_platform_pci",
    "shadow_memory",
    "cpuid",
];

/// The permission an active `disk` line of an image needs (its entries are
/// host block devices or files given to the guest).
pub const PERMIT_DISK: &str = "disk";
/// The permission an image's own `vif` line needs (its interfaces join
/// host bridges besides the one the manager gives it).
pub const PERMIT_VIF: &str = "vif";
/// The permission a `vif` entry with `script=` needs (the script runs as
/// root on the host).
pub const PERMIT_VIF_SCRIPT: &str = "vif-script";
/// The permission a `vif` entry with `backend=` needs (another domain
/// serves the interface).
pub const PERMIT_VIF_BACKEND: &str = "vif-backend";
/// The permission an `on_*` action with `coredump` needs (xl writes the
/// guest's memory to a file on the host).
pub const PERMIT_COREDUMP: &str = "coredump";

/// What the xl policy finds in an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XlReport {
    /// Settings the policy refuses under the given host policy.
    pub problems: Vec<Problem>,
    /// Host permissions the image needs (xl keys a host must allow by
    /// name), whether or not `policy` grants them.
    pub permissions: BTreeSet<String>,
}

/// One file of the merged configuration: its name as the host sees it
/// (`guest.cfg`, `guest.d/NAME`) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// `guest.cfg` or `guest.d/NAME`.
    pub name: &'a str,
    /// The file's text.
    pub text: &'a str,
}

/// Where the configuration is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// An image (`check`, `create` before anything is made): the `name`
    /// and `disk` lines of `guest.cfg` are the image's.
    Image,
    /// A guest's directory on the host: the `name` and `disk` lines of
    /// `guest.cfg` are the manager's own (judged when it was created).
    Installed,
}

/// Judges the xl configuration of `image` (`guest.cfg` followed by the
/// `guest.d` files, as the host merges them) under `policy`.
pub fn check(image: &Image, policy: &Policy) -> XlReport {
    let mut report = XlReport::default();
    let guest_cfg = image.guest_cfg.as_ref().map(crate::config::XlConfig::render);
    let mut texts: Vec<(String, String)> = Vec::new();
    if let Some(text) = guest_cfg {
        texts.push(("guest.cfg".to_owned(), text));
    }
    for (name, blob) in &image.guest_d {
        let member = format!("guest.d/{name}");
        match blob.read_text(&member) {
            Ok(text) => texts.push((member, text)),
            Err(e) => report.problems.push(Problem::new(
                Rule::Text,
                member.clone(),
                format!("`{member}`: {} - xl files are UTF-8 text", e.full_message()),
            )),
        }
    }
    let parts: Vec<Part<'_>> = texts.iter().map(|(name, text)| Part { name, text }).collect();
    let found = judge(&parts, policy, Stage::Image, &|rel| {
        let name = rel.strip_prefix("files/").unwrap_or(rel);
        (!image.files.contains_key(name))
            .then(|| format!("the image has no file `{rel}` - add it (files/) or fix the path"))
    });
    report.problems.extend(found.problems);
    report.permissions = found.permissions;
    report
}

/// Judges the merged configuration `parts` (in the order the host
/// concatenates them) at `stage` under `policy`. `missing(path)` says why
/// a well-formed `files/…` path of a file-valued key names no usable file
/// (`None`: it does).
pub fn judge(parts: &[Part<'_>], policy: &Policy, stage: Stage, missing: &dyn Fn(&str) -> Option<String>) -> XlReport {
    let mut report = XlReport::default();
    let mut owned_seen: Vec<(&str, String)> = Vec::new();
    for part in parts {
        for (i, line) in part.text.split_terminator('\n').enumerate() {
            let at = format!("{}:{}", part.name, i + 1);
            let (key, value) = match read_xl_line(line) {
                Ok(XlLine::Assign { key, value }) => (key, value),
                Ok(XlLine::Blank | XlLine::Comment) => continue,
                Err(reason) => {
                    report
                        .problems
                        .push(Problem::new(Rule::Text, at.clone(), format!("`{at}`: {reason}")));
                    continue;
                }
            };
            let need = |report: &mut XlReport, permission: &str, why: &str| {
                need_permission(report, policy, &at, permission, why);
            };
            if let Some(&owned) = OWNED_KEYS.iter().find(|k| **k == key) {
                if part.name != "guest.cfg" {
                    report.problems.push(Problem::new(
                        Rule::XlPolicy,
                        at.clone(),
                        format!(
                            "`{at}`: `{key}` is set by the host manager when it creates the guest - remove it from `{}` (only guest.cfg may have its one `{key}` line, which the manager replaces)",
                            part.name
                        ),
                    ));
                } else if let Some((_, first)) = owned_seen.iter().find(|(k, _)| *k == owned) {
                    report.problems.push(Problem::new(
                        Rule::XlPolicy,
                        at.clone(),
                        format!(
                            "`{at}`: `{key}` is set a second time (first at `{first}`) - the host manager replaces one `{key}` line: keep one"
                        ),
                    ));
                } else {
                    owned_seen.push((owned, at.clone()));
                    if owned == "disk" && stage == Stage::Image {
                        need(
                            &mut report,
                            PERMIT_DISK,
                            "`disk` gives the guest host block devices or files besides the disk the manager makes",
                        );
                    }
                }
                continue;
            }
            if FILE_KEYS.contains(&key.as_str()) {
                if let Some(reason) = file_problem(&value, missing) {
                    report.problems.push(Problem::new(
                        Rule::XlPolicy,
                        at.clone(),
                        format!("`{at}`: `{key}` {reason}"),
                    ));
                }
                continue;
            }
            if key == "vif" {
                // At Stage::Installed the `vif` line of guest.cfg is the
                // manager's (with the image's entries it admitted).
                if stage == Stage::Image || part.name != "guest.cfg" {
                    need(
                        &mut report,
                        PERMIT_VIF,
                        "an image's own `vif` gives the guest network interfaces on host bridges besides the one the manager writes from XENGUEST_NETWORK_TYPE",
                    );
                }
                vif_permissions(&mut report, policy, &at, &value);
                continue;
            }
            if !GUEST_KEYS.contains(&key.as_str()) {
                need(
                    &mut report,
                    &key,
                    &format!("`{key}` is not known to affect only the guest (it may reach host resources)"),
                );
                continue;
            }
            if key.starts_with("on_") && strings(&value).iter().any(|v| v.contains("coredump")) {
                need(
                    &mut report,
                    PERMIT_COREDUMP,
                    "a `coredump` action writes the guest's memory to a file on the host",
                );
            }
        }
    }
    report
}

/// The entries of the image's own `disk` line in `guest.cfg` (the last
/// active one, as xl reads it), which the host manager keeps after its
/// managed disk when the host allows [`PERMIT_DISK`].
pub fn image_disks(image: &Image) -> Vec<String> {
    let Some(cfg) = &image.guest_cfg else {
        return Vec::new();
    };
    last_entries(&[cfg.render()], "disk")
}

/// Records the permissions of the `script=` and `backend=` parameters of
/// the `vif` entries in `value` (set at `at`).
fn vif_permissions(report: &mut XlReport, policy: &Policy, at: &str, value: &XlValue) {
    for entry in strings(value) {
        for param in entry.split(',') {
            let name = param.split('=').next().unwrap_or("").trim();
            if name == "script" {
                need_permission(
                    report,
                    policy,
                    at,
                    PERMIT_VIF_SCRIPT,
                    "a `vif` entry with `script=` runs that script as root on the host",
                );
            } else if name == "backend" {
                need_permission(
                    report,
                    policy,
                    at,
                    PERMIT_VIF_BACKEND,
                    "a `vif` entry with `backend=` has another domain serve the interface",
                );
            }
        }
    }
}

/// The entries of the image's own `vif` (the last active `vif` line of
/// `guest.cfg` and the `guest.d` files in name order, as xl reads their
/// concatenation), which the host manager keeps after its managed entry
/// when the host allows [`PERMIT_VIF`].
pub fn image_vifs(image: &Image) -> Vec<String> {
    let mut texts: Vec<String> = image.guest_cfg.iter().map(crate::config::XlConfig::render).collect();
    for (name, blob) in &image.guest_d {
        if let Ok(text) = blob.read_text(&format!("guest.d/{name}")) {
            texts.push(text);
        }
    }
    last_entries(&texts, "vif")
}

/// The entries of the last assignment of `key` in `texts` (read in order,
/// as xl reads the merged configuration): a list's items, or one string.
fn last_entries(texts: &[String], key: &str) -> Vec<String> {
    let last = texts
        .iter()
        .flat_map(|t| t.split_terminator('\n'))
        .filter_map(|line| match read_xl_line(line) {
            Ok(XlLine::Assign { key: k, value }) if k == key => Some(value),
            _ => None,
        })
        .next_back();
    match last {
        Some(XlValue::List(items)) => items,
        Some(XlValue::Str(item)) => vec![item],
        _ => Vec::new(),
    }
}

/// Records that the setting at `at` needs `permission`, and a problem
/// unless `policy` grants it.
fn need_permission(report: &mut XlReport, policy: &Policy, at: &str, permission: &str, why: &str) {
    report.permissions.insert(permission.to_owned());
    if !policy.allow_xl_keys.contains(permission) {
        report.problems.push(Problem::new(
            Rule::HostPermission,
            permission.to_owned(),
            format!(
                "`{at}`: {why} - the host must allow it by name (XENGUEST_ALLOW_XL_KEYS=\"{permission}\" in the manager's configuration), or remove the setting"
            ),
        ));
    }
}

/// The strings of a value (one for a string, each element of a list).
fn strings(value: &XlValue) -> Vec<&str> {
    match value {
        XlValue::Str(s) => vec![s.as_str()],
        XlValue::List(items) => items.iter().map(String::as_str).collect(),
        XlValue::Number(_) => Vec::new(),
    }
}

/// Why the value of a file-valued key is not a usable `files/…` path.
fn file_problem(value: &XlValue, missing: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let XlValue::Str(path) = value else {
        return Some("must be a \"string\" naming a file under files/".to_owned());
    };
    match relative_file(path) {
        Err(reason) => Some(format!("= \"{}\": {reason}", path.escape_debug())),
        Ok(()) => missing(path).map(|r| format!("= \"{}\": {r}", path.escape_debug())),
    }
}

/// Checks that `path` is `files/…` with no `.`, `..` or empty component.
pub fn relative_file(path: &str) -> std::result::Result<(), String> {
    let refuse = |r: &str| Err(r.to_owned());
    if path.starts_with('/') {
        return refuse("an absolute path names a host file - name a file of the image, `files/NAME`");
    }
    if path.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return refuse("`.`, `..` and empty components are not allowed - name a file of the image, `files/NAME`");
    }
    let mut components = Path::new(path).components();
    if components.next() != Some(Component::Normal("files".as_ref())) || components.next().is_none() {
        return refuse("must name a file of the image, `files/NAME`");
    }
    Ok(())
}

/// On the host: why `rel` (a [`relative_file`] path) does not name a
/// regular file inside `dir/files` once links are resolved (`None`: it
/// does).
pub fn installed_file_problem(dir: &Path, rel: &str) -> Option<String> {
    let files = match fs::canonicalize(dir.join("files")) {
        Ok(files) => files,
        Err(e) => return Some(format!("cannot resolve `{}`: {e}", dir.join("files").display())),
    };
    let resolved = match fs::canonicalize(dir.join(rel)) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(format!("`{}` does not exist", dir.join(rel).display()))
        }
        Err(e) => return Some(format!("cannot resolve `{}`: {e}", dir.join(rel).display())),
    };
    if !resolved.starts_with(&files) {
        return Some(format!(
            "`{}` resolves to `{}`, outside the guest's `{}`",
            dir.join(rel).display(),
            resolved.display(),
            files.display()
        ));
    }
    if !resolved.is_file() {
        return Some(format!("`{}` is not a regular file", resolved.display()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::XlConfig;
    use crate::image::Blob;

    fn image(guest_cfg: &str, guest_d: &[(&str, &str)]) -> Image {
        let mut image = Image::new_default();
        image.guest_cfg = Some(XlConfig::parse(guest_cfg));
        for (name, text) in guest_d {
            image
                .guest_d
                .insert((*name).to_owned(), Blob::bytes(text.as_bytes().to_vec()));
        }
        image.files.insert("kernel".into(), Blob::bytes(b"k".to_vec()));
        image
    }

    fn policy(keys: &[&str]) -> Policy {
        Policy {
            allow_xl_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..Policy::default()
        }
    }

    fn problems(r: &XlReport) -> Vec<(Rule, &str)> {
        r.problems.iter().map(|p| (p.rule, p.subject.as_str())).collect()
    }

    #[test]
    fn a_plain_image_passes() {
        let img = image(
            crate::config::DEFAULT_GUEST_CFG,
            &[
                ("kernel.cfg", "kernel = \"files/kernel\"\n"),
                ("z.cfg", "on_crash = \"restart\"\ncpus = \"1-3\"\nmaxmem = 2048\n"),
            ],
        );
        let r = check(&img, &Policy::default());
        assert_eq!(r, XlReport::default());
    }

    #[test]
    fn owned_keys_only_once_in_guest_cfg() {
        // guest.cfg's name line is the one the manager replaces.
        let r = check(&image("name = \"Domain-0\"\n", &[]), &Policy::default());
        assert_eq!(r, XlReport::default());
        let r = check(
            &image("memory = 5\n", &[("evil.cfg", "\nname = \"Domain-0\"\n")]),
            &Policy::default(),
        );
        assert_eq!(problems(&r), vec![(Rule::XlPolicy, "guest.d/evil.cfg:2")]);
        assert!(r.problems[0].message.contains("`name`"), "{}", r.problems[0]);
        // Even with every permission, a guest.d disk is the manager's.
        let r = check(
            &image("", &[("d.cfg", "disk = ['phy:/dev/sda,xvda,w']\n")]),
            &policy(&["disk"]),
        );
        assert_eq!(problems(&r), vec![(Rule::XlPolicy, "guest.d/d.cfg:1")]);
        let r = check(&image("name = \"a\"\nname = \"b\"\n", &[]), &Policy::default());
        assert_eq!(problems(&r), vec![(Rule::XlPolicy, "guest.cfg:2")]);
    }

    #[test]
    fn an_image_disk_needs_permission() {
        let img = image("disk = ['phy:/dev/sdb,xvdb,w']\n", &[]);
        let r = check(&img, &Policy::default());
        assert_eq!(problems(&r), vec![(Rule::HostPermission, "disk")]);
        assert_eq!(r.permissions, BTreeSet::from(["disk".to_owned()]));
        let r = check(&img, &policy(&["disk"]));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.permissions, BTreeSet::from(["disk".to_owned()]));
        // Installed, guest.cfg's disk is the manager's own.
        let part = Part {
            name: "guest.cfg",
            text: "disk = ['phy:/dev/vg/g,xvda,w']\n",
        };
        let r = judge(&[part], &Policy::default(), Stage::Installed, &|_| None);
        assert_eq!(r, XlReport::default());
    }

    #[test]
    fn file_keys_name_image_files() {
        for (value, ok) in [
            ("files/kernel", true),
            ("/etc/shadow", false),
            ("files/../../../etc/shadow", false),
            ("files/./kernel", false),
            ("files//kernel", false),
            ("files/", false),
            ("files", false),
            ("kernel", false),
            ("files/missing", false),
            ("", false),
        ] {
            for key in FILE_KEYS {
                let img = image("", &[("f.cfg", &format!("{key} = \"{value}\"\n"))]);
                let r = check(&img, &Policy::default());
                assert_eq!(r.problems.is_empty(), ok, "{key} = {value:?}: {:?}", r.problems);
                if !ok {
                    assert_eq!(problems(&r), vec![(Rule::XlPolicy, "guest.d/f.cfg:1")]);
                }
                // No permission lifts it.
                let r = check(&img, &policy(&[key, "disk"]));
                assert_eq!(r.problems.is_empty(), ok);
            }
        }
        let r = check(&image("ramdisk = ['files/kernel']\n", &[]), &Policy::default());
        assert_eq!(problems(&r), vec![(Rule::XlPolicy, "guest.cfg:1")]);
    }

    #[test]
    fn host_keys_need_permission_by_name() {
        let text = "pci = ['01:00.0']\nbootloader = \"/bin/sh\"\ndtdev = ['/soc/x']\niomem = ['0x1000,1']\nfrobnicate = 1\ndevice_model_override = \"/bin/sh\"\n";
        let img = image("", &[("h.cfg", text)]);
        let r = check(&img, &Policy::default());
        let want: BTreeSet<String> = [
            "pci",
            "bootloader",
            "dtdev",
            "iomem",
            "frobnicate",
            "device_model_override",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        assert_eq!(r.permissions, want);
        assert_eq!(r.problems.len(), 6);
        assert!(r.problems.iter().all(|p| p.rule == Rule::HostPermission));
        assert!(r.problems[1].message.contains("`guest.d/h.cfg:2`"), "{}", r.problems[1]);
        assert!(
            r.problems[1].message.contains("XENGUEST_ALLOW_XL_KEYS"),
            "{}",
            r.problems[1]
        );
        let r = check(&img, &policy(&["pci", "dtdev"]));
        assert_eq!(r.permissions, want);
        let subjects: Vec<&str> = r.problems.iter().map(|p| p.subject.as_str()).collect();
        assert_eq!(subjects, ["bootloader", "iomem", "frobnicate", "device_model_override"]);
    }

    #[test]
    fn vif_scripts_and_coredumps_need_permission() {
        let img = image(
            "",
            &[(
                "v.cfg",
                "vif = ['bridge=xenbr0', 'mac=00:16:3e:00:00:02, script=/tmp/x']\nvif = ['backend=dd']\non_crash = \"coredump-restart\"\n",
            )],
        );
        let r = check(&img, &Policy::default());
        let subjects: Vec<&str> = r.problems.iter().map(|p| p.subject.as_str()).collect();
        assert_eq!(subjects, ["vif", "vif-script", "vif", "vif-backend", "coredump"]);
        let r = check(&img, &policy(&["vif", "vif-script", "vif-backend", "coredump"]));
        assert!(r.problems.is_empty());
        assert_eq!(r.permissions.len(), 4);
    }

    #[test]
    fn an_image_s_own_vif_needs_the_host_s_permission() {
        // The manager writes the vif from XENGUEST_NETWORK_TYPE: an image's
        // own interfaces, in guest.cfg or guest.d, need `vif`.
        for (cfg, d) in [
            ("vif = ['bridge=xenbr0']\n", vec![]),
            ("", vec![("net.cfg", "vif = ['bridge=br-lan']\n")]),
        ] {
            let img = image(cfg, &d);
            let r = check(&img, &Policy::default());
            assert_eq!(problems(&r), [(Rule::HostPermission, "vif")]);
            assert!(check(&img, &policy(&["vif"])).problems.is_empty());
        }
        // The manager's own line in an installed guest.cfg needs nothing;
        // script= in it still does.
        let installed = |text: &str| {
            judge(
                &[Part {
                    name: "guest.cfg",
                    text,
                }],
                &Policy::default(),
                Stage::Installed,
                &|_| None,
            )
        };
        assert!(installed("vif = ['bridge=xenbr0']\n").problems.is_empty());
        assert_eq!(
            problems(&installed("vif = ['bridge=xenbr0,script=/x']\n")),
            [(Rule::HostPermission, "vif-script")]
        );
    }

    #[test]
    fn image_vifs_are_the_last_line_xl_reads() {
        let img = image(
            "vif = ['bridge=a']\n",
            &[("b.cfg", "vif = ['bridge=b', 'bridge=c']\n"), ("a.cfg", "memory = 1\n")],
        );
        assert_eq!(image_vifs(&img), ["bridge=b", "bridge=c"]);
        assert!(image_vifs(&image("", &[])).is_empty());
    }

    #[test]
    fn lines_xl_reads_differently_are_refused() {
        for (text, line) in [
            ("memory = 512 ; bootloader = \"/bin/sh\"\n", 1),
            ("memory = 5\nextra += \" init=/bin/sh\"\n", 2),
            ("disk = [\n'phy:/dev/sda,xvda,w']\n", 1),
            ("memory = 010\n", 1),
            ("\u{a0}# x\n", 1),
            ("memory = 5\r\n", 1),
        ] {
            let r = check(&image("", &[("t.cfg", text)]), &policy(&["disk", "bootloader"]));
            assert!(
                r.problems
                    .iter()
                    .any(|p| p.rule == Rule::Text && p.subject == format!("guest.d/t.cfg:{line}")),
                "{text:?}: {:?}",
                r.problems
            );
        }
        // guest.cfg, as the image holds it, is judged as rendered.
        let r = check(&image("memory = 512 ; name = \"x\"\n", &[]), &Policy::default());
        assert_eq!(problems(&r), vec![(Rule::Text, "guest.cfg:1")]);
        let mut img = image("", &[]);
        img.guest_d.insert("bin.cfg".into(), Blob::bytes(vec![0xff, b'\n']));
        assert_eq!(
            problems(&check(&img, &Policy::default())),
            vec![(Rule::Text, "guest.d/bin.cfg")]
        );
    }

    #[test]
    fn image_disks_are_the_last_active_line_of_guest_cfg() {
        let img = image(
            "# disk = ['phy:/dev/old,xvdc,w']\ndisk = ['phy:/dev/a,xvdb,w', 'format=raw,vdev=xvdc,target=/srv/x']\n",
            &[],
        );
        assert_eq!(
            image_disks(&img),
            ["phy:/dev/a,xvdb,w", "format=raw,vdev=xvdc,target=/srv/x"]
        );
        assert!(image_disks(&image(crate::config::DEFAULT_GUEST_CFG, &[])).is_empty());
        assert_eq!(
            image_disks(&image("disk = \"phy:/dev/b,xvdb,w\"\n", &[])),
            ["phy:/dev/b,xvdb,w"]
        );
    }

    #[test]
    fn installed_files_stay_inside_files() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("files")).unwrap();
        fs::write(d.path().join("files/kernel"), "k").unwrap();
        fs::write(d.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink("../secret", d.path().join("files/up")).unwrap();
        std::os::unix::fs::symlink("kernel", d.path().join("files/alias")).unwrap();
        fs::create_dir(d.path().join("files/dir")).unwrap();
        assert_eq!(installed_file_problem(d.path(), "files/kernel"), None);
        assert_eq!(installed_file_problem(d.path(), "files/alias"), None);
        for bad in ["files/up", "files/dir", "files/none"] {
            assert!(installed_file_problem(d.path(), bad).is_some(), "{bad}");
        }
    }
}
