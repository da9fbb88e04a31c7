//! Admission: whether an image may be written, passes `check`, and may be
//! installed on a host. One place for every rule, so that `check`, every
//! writer, `verify` and `xenguest-manager` judge an image alike.
//!
//! [`admit`] is that place: every rule, for an image a writer is about to
//! write ([`Candidate::ToWrite`]) and for an image as stored
//! ([`Candidate::Stored`]: `check`, `verify`, the host manager).
//!
//! A rule reports [`Problem`]s: what is wrong ([`Problem::subject`] names
//! the member, file and line, or key), which family of rules it breaks
//! ([`Rule`]), and a message that says how to fix it. The host's choices
//! (which xl keys it allows, whether it requires signatures) are a
//! [`Policy`]; `check` judges with [`Policy::default`], the strictest
//! host, and reports what a host would have to allow.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;

use crate::checksum::{self, manifest_report, sidecar_digest, sidecar_path, ManifestReport, MemberDigest};
use crate::config::DiskConfig;
use crate::error::{Error, Result};
use crate::image::reader::{Form, Opened};
use crate::image::{Image, Member, Stage};
use crate::progress::{Bar, Progress};
use crate::signature::{self, SignatureStatus, Signer, TrustedKeys};
use crate::validate;

pub use crate::rules::{
    Policy, Problem, Rule, XenHost, ALLOW_IMAGE_DEVICE, ALLOW_XL_KEYS, COMPATIBLE, REQUIRE_MANIFEST, REQUIRE_SIGNATURE,
    REQUIRE_SIGNED_SCRIPTS, TRUSTED_KEYS,
};

/// What is judged.
#[derive(Debug, Clone, Copy)]
pub enum Candidate<'a> {
    /// An image a writer is about to write: its content as it will be
    /// written. The manifest and the signature do not apply (the writer
    /// makes them).
    ToWrite(&'a Image),
    /// An image as stored: text members as stored, the signature members'
    /// placement, the signature, the manifest and (optionally) the
    /// sidecar.
    Stored(Stored<'a>),
}

/// An image as stored, and the evidence to judge it with.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// The image as read.
    pub opened: &'a Opened,
    /// Keys a signature must be by; `None` (or empty): the signature is
    /// only checked against the key the image names, which proves nothing
    /// about who signed.
    pub trusted: Option<&'a TrustedKeys>,
    /// Whether to check an image file against its `IMG.sha256` sidecar
    /// (when there is one).
    pub sidecar: bool,
    /// Progress display for the hashing passes.
    pub progress: Progress,
}

/// The signature, as admission found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Signature {
    /// Not judged (an image about to be written), or unusable (see the
    /// problems).
    #[default]
    NotChecked,
    /// No signature.
    Unsigned,
    /// Signed, and the signature matches the manifest under the key the
    /// image names; not checked against trusted keys.
    Consistent(Signer),
    /// Signed by one of the trusted keys.
    Trusted(Signer),
}

/// The integrity passes: every member against the manifest, the whole
/// file against its sidecar.
#[derive(Debug, Clone, Default)]
pub struct Integrity {
    /// Each member as hashed against the manifest.
    pub members: Vec<MemberDigest>,
    /// Whether a sidecar was checked.
    pub sidecar_checked: bool,
    /// The digest the sidecar records.
    pub sidecar_sha256: Option<String>,
    /// The digest of the image file (when a sidecar was checked).
    pub sha256: Option<String>,
}

/// A host permission an image needs: the host configuration key that
/// grants it, and the values it must grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The host configuration key (`XENGUEST_ALLOW_XL_KEYS`).
    pub setting: &'static str,
    /// What it must allow (xl keys, or the device an image names).
    pub values: Vec<String>,
}

/// What [`admit`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every reason the image is not admitted under the policy, in rule
    /// order. Those under [`Rule::HostPermission`] are what the host has
    /// not allowed; the others are wrong whatever the host allows.
    pub problems: Vec<Problem>,
    /// xl keys reaching host resources the image sets (whether or not the
    /// policy allows them).
    pub xl_keys: BTreeSet<String>,
    /// The host device the image asks for its disk (`DISK_DEVICE`, other
    /// than the host's volume device), whether or not the policy allows it.
    pub image_device: Option<String>,
    /// The signature.
    pub signature: Signature,
    /// The integrity passes (empty for an image about to be written).
    pub integrity: Integrity,
}

impl Report {
    /// Whether the host admits the image: no problem at all.
    pub fn admitted(&self) -> bool {
        self.problems.is_empty()
    }

    /// What is wrong with the image itself, whatever a host allows: every
    /// problem but the host permissions it lacks and the host it is not
    /// made for. `check` and the writers refuse an image for these; the
    /// host also for the others.
    pub fn image_problems(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| !matches!(p.rule, Rule::HostPermission | Rule::HostCompatibility))
    }

    /// The host permissions the image needs, by host configuration key.
    pub fn permissions(&self) -> Vec<Permission> {
        let mut out = Vec::new();
        if !self.xl_keys.is_empty() {
            out.push(Permission {
                setting: ALLOW_XL_KEYS,
                values: self.xl_keys.iter().cloned().collect(),
            });
        }
        if let Some(dev) = &self.image_device {
            out.push(Permission {
                setting: ALLOW_IMAGE_DEVICE,
                values: vec![dev.clone()],
            });
        }
        out
    }

    fn push(&mut self, rule: Rule, subject: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(rule, subject, message));
    }
}

/// Judges `candidate` under `policy`: the one admission function. Rules,
/// in order: the model ([`Rule::Model`]), text members ([`Rule::Text`]),
/// the host disk layout ([`Rule::HostLayout`]), the xl policy
/// ([`Rule::XlPolicy`], [`Rule::HostPermission`]), the host the metadata
/// asks for ([`Rule::HostCompatibility`]), and for a stored image
/// the signature ([`Rule::Signature`]) and the manifest and sidecar
/// ([`Rule::Manifest`]).
///
/// # Errors
///
/// Only a member that cannot be read while hashing; everything wrong with
/// the image is a [`Problem`] of the report.
pub fn admit(candidate: Candidate<'_>, policy: &Policy) -> Result<Report> {
    let (image, stored) = match candidate {
        Candidate::ToWrite(image) => (image, None),
        Candidate::Stored(s) => (&s.opened.image, Some(s)),
    };
    let mut report = Report::default();
    model(image, &mut report);
    text_members(image, stored.map(|s| s.opened), &mut report);
    if let Some(disk) = &image.disk {
        host_layout(disk, image, &mut report);
        image_device(disk, policy, &mut report);
    }
    let xl = crate::xl_policy::check(image, policy);
    report.problems.extend(xl.problems);
    report.xl_keys = xl.permissions;
    report.problems.extend(host_compatibility(image, policy));
    if let Some(stored) = stored {
        provenance(stored, policy, &mut report)?;
    }
    Ok(report)
}

/// Whether the image's metadata fits the host ([`Rule::HostCompatibility`]):
/// its architecture the machine of `xl info`, its minimum Xen the version
/// `xl info` shows, its `compatible` names the host's
/// [`Policy::compatible`]. An image without metadata, or a value the image
/// or the host does not give, passes.
pub fn host_compatibility(image: &Image, policy: &Policy) -> Vec<Problem> {
    use crate::image::meta::{self, arch_of_machine, version_at_least, version_numbers};
    let mut out = Vec::new();
    let Some(m) = &image.meta else {
        return out;
    };
    let problem = |key: &str, message: String| {
        Problem::new(
            Rule::HostCompatibility,
            format!("{}:{key}", meta::MEMBER),
            format!("the image is not made for this host: {message}"),
        )
    };
    if let Some(host) = &policy.xen_host {
        if let (Some(arch), Some(machine)) = (&m.arch, &host.machine) {
            if arch_of_machine(machine) != Some(arch.as_str()) {
                out.push(problem(
                    "arch",
                    format!("its kernel is for `{arch}` (`arch` in metadata.json) but this host's machine is `{machine}` (`xl info`)"),
                ));
            }
        }
        if let (Some(need), Some(have)) = (&m.xen, &host.xen_version) {
            let have_n = version_numbers(have);
            if !have_n.is_empty() && !version_at_least(&have_n, &version_numbers(need)) {
                out.push(problem(
                    "xen",
                    format!("it needs Xen `{need}` or newer (`xen` in metadata.json) but this host runs Xen `{have}` (`xl info`)"),
                ));
            }
        }
    }
    if !policy.compatible.is_empty()
        && !m.compatible.is_empty()
        && !m.compatible.iter().any(|c| policy.compatible.contains(c))
    {
        out.push(problem(
            "compatible",
            format!(
                "it is compatible with `{}` (`compatible` in metadata.json) but this host is `{}` ({COMPATIBLE})",
                m.compatible.join("`, `"),
                policy.compatible.join("`, `")
            ),
        ));
    }
    out
}

/// The model rules alone ([`Rule::Model`]), for a front end that reports
/// them before anything is read (`build` names the TOML); [`admit`]
/// applies them first.
pub fn model_problems(image: &Image) -> Vec<Problem> {
    let mut report = Report::default();
    model(image, &mut report);
    report.problems
}

/// The image model: what makes an image unusable on the host although the
/// three configuration files exist.
fn model(image: &Image, report: &mut Report) {
    if let Some(disk) = &image.disk {
        match disk.partitions() {
            Ok(parts) => {
                for p in &parts {
                    if !p.content.is_empty() && !image.disk_files.contains_key(&p.content) {
                        report.push(
                            Rule::Model,
                            format!("disk/{}", p.content),
                            format!(
                                "partition {} content `{}` is not in the image (add it with --disk-add-file)",
                                p.number, p.content
                            ),
                        );
                    }
                }
                match disk.size_mb() {
                    Ok(size) => {
                        let used: u64 = parts.iter().map(|p| p.size_mb).sum();
                        if used > size {
                            report.push(
                                Rule::Model,
                                "disk.cfg",
                                format!("partitions need {used}M but the disk is {size}M"),
                            );
                        }
                    }
                    Err(e) => report.push(Rule::Model, "disk.cfg", format!("disk.cfg: {e}")),
                }
            }
            Err(e) => report.push(Rule::Model, "disk.cfg", format!("disk.cfg: {e}")),
        }
        // Partitions kept across updates: marked 1 or 0, and defined.
        for (key, e) in disk.keep_problems() {
            report.push(Rule::Model, format!("disk.cfg: {key}"), format!("disk.cfg: {e}"));
        }
        // Lines bash would read as more than an assignment (see
        // `ShellVars::problems`).
        report.problems.extend(disk.0.problems("disk.cfg"));
    }
    if let Some(params) = &image.params {
        for (key, value) in params.0.vars() {
            if let Err(e) = validate::param_value("params.cfg", key, value) {
                report.push(Rule::Model, "params.cfg", e.to_string());
            }
        }
        report.problems.extend(params.0.problems("params.cfg"));
    }
    // metadata.json as the settings that write it would take it: an image
    // made elsewhere may hold any JSON string.
    if let Some(meta) = &image.meta {
        for s in crate::settings::SETTINGS {
            let crate::settings::Target::Meta(field) = s.target else {
                continue;
            };
            let text = match meta.get(field) {
                Some(crate::image::meta::Field::Text(t)) => t,
                Some(crate::image::meta::Field::List(items)) => items.join(","),
                None => continue,
            };
            if let Err(e) = s.parse_text(&format!("metadata.json: {field}"), &text) {
                report.push(Rule::Model, crate::image::meta::MEMBER, e.to_string());
            }
        }
    }
    // Names that would change what the host's root shell runs once the file
    // is sourced (PATH, IFS, LD_*, …) are refused when written; an image
    // made elsewhere may still hold them.
    let sourced = [
        ("params.cfg", image.params.as_ref().map(|p| &p.0)),
        ("disk.cfg", image.disk.as_ref().map(|d| &d.0)),
    ];
    for (file, vars) in sourced {
        for (key, _) in vars.into_iter().flat_map(crate::config::ShellVars::vars) {
            if let Err(e) = validate::shell_name(file, key) {
                report.push(Rule::Model, file, e.to_string());
            }
        }
    }
}

/// The text rule ([`validate::text_member`]) over each text member: as
/// stored in `stored` when given (what the host reads), else as it would
/// be written.
fn text_members(image: &Image, stored: Option<&Opened>, report: &mut Report) {
    for member in image.members() {
        let Member::File { path, blob, .. } = member else {
            continue;
        };
        if !validate::is_text_member(&path) {
            continue;
        }
        let blob = stored.and_then(|o| o.raw_member(&path)).unwrap_or(blob);
        if let Err(e) = blob
            .read_all(&path)
            .and_then(|bytes| validate::text_member(&path, &bytes))
        {
            report.push(Rule::Text, path, e.to_string());
        }
    }
}

/// Size of a placeholder for an undefined lower partition, in MB.
pub const PLACEHOLDER_MB: u64 = 2;
/// Where the first partition starts, in MB (room for the table).
pub const FIRST_START_MB: u64 = 1;
/// Bytes per MB of a disk size (`DISK_SIZE`): LVM's `M` (MiB), used for
/// files too, so both backings have the same size.
pub const DISK_UNIT: u64 = 1024 * 1024;
/// Bytes per MB of the partition layout (parted's `unit MB`).
const LAYOUT_UNIT: u64 = 1_000_000;

/// One partition of the host layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Primary partition number.
    pub number: u8,
    /// Start in MB (parted's `unit MB`).
    pub start_mb: u64,
    /// End in MB.
    pub end_mb: u64,
    /// File system to create (empty: none).
    pub fs: String,
    /// Name of the content under the image's `disk/` (empty: none).
    pub content: String,
}

impl Part {
    /// The partition's size in bytes (parted's `unit MB` is 10^6 bytes):
    /// no content may unpack to more.
    pub fn bytes(&self) -> u64 {
        self.end_mb.saturating_sub(self.start_mb).saturating_mul(LAYOUT_UNIT)
    }
}

/// The partitions of `disk`, laid out as the host (and the classic
/// manager) lays them out: from 1 MB, undefined lower partitions as 2 MB
/// placeholders.
///
/// # Errors
///
/// A partition definition that does not parse.
pub fn layout(disk: &DiskConfig) -> Result<Vec<Part>> {
    let defined = disk.partitions()?;
    let highest = defined.iter().map(|p| p.number).max().unwrap_or(0);
    let mut out = Vec::new();
    let mut start = FIRST_START_MB;
    for n in 1..=highest {
        let (size, fs, content) = match defined.iter().find(|p| p.number == n) {
            Some(p) => (p.size_mb, p.fs.clone(), p.content.clone()),
            None => (PLACEHOLDER_MB, String::new(), String::new()),
        };
        let end = start.saturating_add(size);
        out.push(Part {
            number: n,
            start_mb: start,
            end_mb: end,
            fs,
            content,
        });
        start = end;
    }
    Ok(out)
}

/// Whether a content name is an uncompressed raw image (`*.img`), copied
/// to its partition as it is.
pub fn is_plain_raw(content: &str) -> bool {
    content.rsplit('.').next() == Some("img")
}

/// Whether a content name is a tar archive (unpacked into a file system).
pub fn is_tar(content: &str) -> bool {
    [".tar", ".tar.gz", ".tar.bz2", ".tar.xz"]
        .iter()
        .any(|s| content.ends_with(s))
}

/// The host disk layout: a tar content needs a file system to unpack
/// into, and the layout (with its placeholders and first MB) must fit in
/// the disk.
fn host_layout(disk: &DiskConfig, image: &Image, report: &mut Report) {
    let (Ok(size), Ok(parts)) = (disk.size_mb(), layout(disk)) else {
        return; // The model reports these.
    };
    for p in &parts {
        // An uncompressed raw content is copied as it is: one larger than
        // its partition cannot be written (the host stops at the
        // partition's end). Compressed ones are stopped there too.
        if let Some(blob) = is_plain_raw(&p.content)
            .then(|| image.disk_files.get(&p.content))
            .flatten()
        {
            if blob.len() > p.bytes() {
                report.push(
                    Rule::HostLayout,
                    format!("disk.cfg: DISK_PART{}", p.number),
                    format!(
                        "partition {} is {} bytes but its content `{}` is {} bytes - raise the partition's size",
                        p.number,
                        p.bytes(),
                        p.content,
                        blob.len()
                    ),
                );
            }
        }
        if is_tar(&p.content) && (p.fs.is_empty() || p.fs == "swap") {
            report.push(
                Rule::HostLayout,
                format!("disk.cfg: DISK_PART{}", p.number),
                format!(
                    "partition {} holds `{}` but has {} - a tar content needs a file system to unpack into",
                    p.number,
                    p.content,
                    if p.fs.is_empty() {
                        "no file system".to_owned()
                    } else {
                        "`swap`".to_owned()
                    }
                ),
            );
        }
    }
    let used: u64 = disk.partitions().map_or(0, |d| d.iter().map(|p| p.size_mb).sum());
    if let Some(last) = parts.last() {
        if size == 0 {
            report.push(
                Rule::HostLayout,
                "disk.cfg: DISK_SIZE",
                "disk.cfg defines partitions but DISK_SIZE is 0",
            );
        } else if used <= size
            && u128::from(last.end_mb) * u128::from(LAYOUT_UNIT) > u128::from(size) * u128::from(DISK_UNIT)
        {
            // (More partitions than the disk holds is the model's problem.)
            report.push(
                Rule::HostLayout,
                "disk.cfg: DISK_SIZE",
                format!(
                    "the partitions end at {} MB ({} bytes: the first partition starts at {FIRST_START_MB} MB, each undefined lower partition takes {PLACEHOLDER_MB} MB) but the disk has {size}M ({} bytes) - raise DISK_SIZE",
                    last.end_mb,
                    u128::from(last.end_mb) * u128::from(LAYOUT_UNIT),
                    u128::from(size) * u128::from(DISK_UNIT)
                ),
            );
        }
    }
}

/// An image naming a host device for its disk needs the host's permission
/// (the device becomes an LVM physical volume).
fn image_device(disk: &DiskConfig, policy: &Policy, report: &mut Report) {
    let own = disk.0.get("DISK_DEVICE").unwrap_or("");
    if own.is_empty() || !disk.size_mb().is_ok_and(|s| s > 0) || Some(own) == policy.volume_device.as_deref() {
        return;
    }
    report.image_device = Some(own.to_owned());
    if !policy.allow_image_device {
        report.push(
            Rule::HostPermission,
            "disk.cfg: DISK_DEVICE",
            format!(
                "the image asks for its disk on the host device `{own}` (DISK_DEVICE in disk.cfg), which would become an LVM physical volume - set {ALLOW_IMAGE_DEVICE}=\"1\" in the host configuration to allow images to choose a device"
            ),
        );
    }
}

/// Whether the image carries scripts the host runs as root.
fn has_host_scripts(image: &Image) -> Option<String> {
    Stage::SCRIPTS
        .iter()
        .find_map(|s| image.init(*s).keys().next().map(|n| format!("{}/{n}", s.dir())))
}

/// The signature members' placement, the signature (against `trusted`
/// when given), the manifest and the sidecar.
fn provenance(stored: Stored<'_>, policy: &Policy, report: &mut Report) -> Result<()> {
    let opened = stored.opened;
    let image = &opened.image;
    for p in signature::placement_problems(opened) {
        report.push(Rule::Signature, signature_subject(), p);
    }
    let trusted = stored.trusted.filter(|t| !t.is_empty());
    match trusted {
        // A signature is checked against the trusted keys whenever there
        // are some: a signed image by another key is refused even where
        // unsigned ones are accepted.
        Some(keys) if image.signature.is_some() => match signature::trusted_signer(opened, keys) {
            Ok(s) => report.signature = Signature::Trusted(s),
            Err(reason) => {
                report.push(Rule::Signature, signature_subject(), reason);
                // Nothing else is worth reading: the manifest cannot be
                // trusted to bind the members.
                return Ok(());
            }
        },
        _ => match signature::status(opened) {
            Ok(SignatureStatus::Unsigned) => report.signature = Signature::Unsigned,
            Ok(SignatureStatus::Signed(s)) => report.signature = Signature::Consistent(s),
            Err(e) => report.push(Rule::Signature, signature_subject(), e.to_string()),
        },
    }
    if !matches!(report.signature, Signature::Trusted(_)) {
        let why = match (&report.signature, trusted) {
            (Signature::Unsigned, _) => format!("the image is unsigned (no `./{}` member)", crate::image::SIGNATURE),
            (_, None) => "no trusted key is configured to check its signature by".to_owned(),
            _ => "its signature is unusable".to_owned(),
        };
        if policy.require_signature {
            report.push(
                Rule::Signature,
                signature_subject(),
                format!(
                    "{why}, and the host requires images signed by a trusted key ({REQUIRE_SIGNATURE}=\"1\"{}) - sign it with `xenguest-mkimage sign`",
                    if trusted.is_none() { ", but no trusted key is configured" } else { "" }
                ),
            );
        } else if let (true, Some(script)) = (policy.require_signed_scripts, has_host_scripts(image)) {
            report.push(
                Rule::Signature,
                script.clone(),
                format!(
                    "`{script}` is a host-side script, run as root in Dom0: {why}, and the host requires images carrying such scripts to be signed by a trusted key ({REQUIRE_SIGNED_SCRIPTS}=\"1\") - sign the image with `xenguest-mkimage sign`, or remove its init.pre, init.d, init.post and health.d scripts"
                ),
            );
        }
    }
    let trusted_signer = matches!(report.signature, Signature::Trusted(_));
    if policy.require_manifest && image.manifest.is_none() {
        report.push(
            Rule::Manifest,
            manifest_subject(),
            format!(
                "no embedded manifest (`./{}`), and one is required (by `verify`, or on a host by {REQUIRE_MANIFEST}=\"1\") - rebuild it with a current xenguest-mkimage",
                crate::image::MANIFEST
            ),
        );
    }
    let integrity = integrity(opened, stored.sidecar, stored.progress)?;
    let (problems, integrity) = integrity;
    if trusted_signer && !problems.is_empty() {
        report.push(
            Rule::Manifest,
            manifest_subject(),
            "tampered: the signature is good but the image does not match its signed manifest",
        );
    }
    for p in problems {
        report.push(Rule::Manifest, manifest_subject(), p);
    }
    report.integrity = integrity;
    Ok(())
}

fn manifest_subject() -> String {
    format!("./{}", crate::image::MANIFEST)
}

fn signature_subject() -> String {
    format!("./{}", crate::image::SIGNATURE)
}

/// The integrity passes over `opened`: its members against the embedded
/// manifest (when it has one) and, with `sidecar`, an image file against
/// its sidecar (when there is one). Returns the problems and what was
/// hashed.
pub(crate) fn integrity(opened: &Opened, sidecar: bool, progress: Progress) -> Result<(Vec<String>, Integrity)> {
    let path = opened.path.as_path();
    let sidecar_file = sidecar_path(path);
    // A directory has no sidecar: its manifest is all there is to verify.
    let expected = if opened.form == Form::Dir || !sidecar {
        None
    } else {
        crate::checksum::read_sidecar(&sidecar_file)?.map(|text| sidecar_digest(&text).to_owned())
    };
    // The whole-file hash (sidecar) and the member hashes (manifest) are
    // independent passes: run them on two threads.
    let (members, whole) = std::thread::scope(|scope| {
        // A file read whole when it was opened (`reader::open_private`) was
        // hashed by that read: the sidecar judges those bytes, never what
        // the path holds now.
        let whole = match &opened.sha256 {
            Some(digest) => expected.as_ref().map(|_| scope.spawn(|| Ok(digest.clone()))),
            None => expected.as_ref().map(|_| scope.spawn(|| sha256_file(path))),
        };
        let members = if opened.image.manifest.is_some() {
            manifest_report(opened, progress)
        } else {
            Ok(ManifestReport::default())
        };
        let whole = whole.map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::Refused("the hashing thread failed".into())))
        });
        (members, whole)
    });
    let ManifestReport { mut problems, members } = members?;
    let sidecar_checked = expected.is_some();
    let whole = whole.transpose()?;
    if let (Some(expected), Some(actual)) = (&expected, &whole) {
        if expected != actual {
            problems.push(format!(
                "the image does not match `{}` (sha256 {actual}, sidecar says {expected})",
                sidecar_file.display()
            ));
        }
    }
    Ok((
        problems,
        Integrity {
            members,
            sidecar_checked,
            sidecar_sha256: expected,
            sha256: whole,
        },
    ))
}

/// The sha256 of the file at `path`.
fn sha256_file(path: &Path) -> Result<String> {
    let file = File::open(path).map_err(|e| Error::io("cannot read", path, e))?;
    checksum::sha256_read(file, &Bar::hidden())
        .map_err(|e| Error::Refused(format!("cannot read `{}`: {e}", path.display())))
}

/// Everything a host checks before it unpacks an image
/// ([`admit`] with a signature by one of `trusted` and a
/// manifest required): where the signature members are, the signature
/// against `trusted`, every member against the signed manifest, the
/// sidecar, and every rule `check` applies. `Ok` names the trusted key;
/// the error says what failed (unsigned, wrong key, signature not matching
/// the manifest, a tampered member, or a rule the image breaks).
pub fn verify_signed_image(opened: &Opened, trusted: &TrustedKeys, progress: Progress) -> Result<Signer> {
    let policy = Policy {
        require_manifest: true,
        require_signature: true,
        ..Policy::default()
    };
    let stored = Stored {
        opened,
        trusted: Some(trusted),
        sidecar: true,
        progress,
    };
    let report = admit(Candidate::Stored(stored), &policy)?;
    match report.signature {
        Signature::Trusted(signer) if report.admitted() => Ok(signer),
        _ => Err(Error::Verify(format!(
            "`{}` failed verification: {}",
            opened.path.display(),
            report
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_library_verifies_what_the_writer_signs() {
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = crate::signature::tests::openssl_keypair(dir.path(), "ed25519");
        let (key, public) = (
            crate::signature::SigningKey::load(&key, "test").unwrap(),
            crate::signature::PublicKey::load(&public).unwrap(),
        );
        assert_eq!(key.public().fingerprint(), public.fingerprint());
        let img = dir.path().join("g.xenguest");
        let mut image = Image::new_default();
        image
            .files
            .insert("kernel".into(), crate::image::Blob::bytes(b"KERNEL".to_vec()));
        let options = WriteOptions {
            sign: Some(Arc::new(key)),
            ..WriteOptions::default()
        };
        write_file(&image, &img, &options).unwrap();

        let mut trusted = crate::signature::TrustedKeys::default();
        trusted.add(public.clone());
        let opened = crate::image::reader::open(&img, false).unwrap();
        let signer = verify_signed_image(&opened, &trusted, Progress::default()).unwrap();
        assert_eq!(
            (signer.algorithm, signer.fingerprint),
            (crate::signature::Algorithm::Ed25519, public.fingerprint())
        );
        assert_eq!(
            crate::signature::status(&opened).unwrap(),
            SignatureStatus::Signed(Signer {
                algorithm: crate::signature::Algorithm::Ed25519,
                fingerprint: public.fingerprint()
            })
        );
        drop(opened);

        // A flipped byte in the kernel: tampered.
        let mut bytes = std::fs::read(&img).unwrap();
        let at = bytes.windows(6).position(|w| w == b"KERNEL").unwrap();
        bytes[at] = b'k';
        std::fs::write(&img, &bytes).unwrap();
        let opened = crate::image::reader::open(&img, false).unwrap();
        let e = verify_signed_image(&opened, &trusted, Progress::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tampered") && e.contains("files/kernel"), "{e}");
        // Nobody trusted: refused.
        let e = crate::signature::verify_image(&opened, &crate::signature::TrustedKeys::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no trusted public key"), "{e}");
    }

    use crate::config::DiskConfig;
    use crate::image::writer::{write_file, WriteOptions};
    use crate::image::Blob;
    use crate::signature::SigningKey;

    fn with_disk(text: &str) -> Image {
        let mut image = Image::new_default();
        image.disk = Some(DiskConfig::parse(text));
        image.disk_files.insert("rootfs.tar".into(), Blob::bytes(b"x".to_vec()));
        image
    }

    fn rules(report: &Report) -> Vec<(Rule, String)> {
        report.problems.iter().map(|p| (p.rule, p.subject.clone())).collect()
    }

    fn judge(image: &Image, policy: &Policy) -> Report {
        admit(Candidate::ToWrite(image), policy).unwrap()
    }

    #[test]
    fn the_host_layout_is_judged_at_its_edges() {
        // Partitions 1 (10M) and 3 (20M): 1 MB start + 10 + 2 placeholder
        // + 20 = 33 MB = 33,000,000 bytes; 31M = 32,505,856 bytes is too
        // small although the partitions (30M) fit it, 32M is enough.
        let parts = "DISK_PART1=\"10M:ext4:\"\nDISK_PART3=\"20M:ext4:\"\n";
        let at = |size: u64| {
            judge(
                &with_disk(&format!("DISK_SIZE=\"{size}M\"\n{parts}")),
                &Policy::default(),
            )
        };
        let too_small = at(31);
        assert_eq!(
            rules(&too_small),
            [(Rule::HostLayout, "disk.cfg: DISK_SIZE".to_owned())]
        );
        assert!(
            too_small.problems[0].message.contains("end at 33 MB"),
            "{:?}",
            too_small.problems
        );
        assert!(at(32).admitted(), "{:?}", at(32).problems);
        // Fewer MB than the partitions: the model's problem, named once.
        assert_eq!(rules(&at(29)), [(Rule::Model, "disk.cfg".to_owned())]);
    }

    #[test]
    fn a_tar_content_needs_a_file_system() {
        for fs in ["", "swap"] {
            let r = judge(
                &with_disk(&format!("DISK_SIZE=\"100M\"\nDISK_PART1=\"10M:{fs}:rootfs.tar\"\n")),
                &Policy::default(),
            );
            assert_eq!(rules(&r), [(Rule::HostLayout, "disk.cfg: DISK_PART1".to_owned())]);
        }
        let r = judge(
            &with_disk("DISK_SIZE=\"100M\"\nDISK_PART1=\"10M:ext4:rootfs.tar\"\n"),
            &Policy::default(),
        );
        assert!(r.admitted(), "{:?}", r.problems);
    }

    #[test]
    fn an_image_device_needs_the_hosts_permission() {
        let image = with_disk("DISK_SIZE=\"100M\"\nDISK_DEVICE=\"/dev/sdb\"\n");
        let strict = judge(&image, &Policy::default());
        assert_eq!(
            rules(&strict),
            [(Rule::HostPermission, "disk.cfg: DISK_DEVICE".to_owned())]
        );
        // Not wrong with the image: `check` passes it and lists the need.
        assert_eq!(strict.image_problems().count(), 0);
        assert_eq!(
            strict.permissions(),
            [Permission {
                setting: ALLOW_IMAGE_DEVICE,
                values: vec!["/dev/sdb".into()]
            }]
        );
        let allowed = Policy {
            allow_image_device: true,
            ..Policy::default()
        };
        assert!(judge(&image, &allowed).admitted());
        let own = Policy {
            volume_device: Some("/dev/sdb".into()),
            ..Policy::default()
        };
        assert!(judge(&image, &own).admitted() && judge(&image, &own).permissions().is_empty());
    }

    #[test]
    fn keep_marks_name_a_defined_partition_and_are_one_or_zero() {
        let ok = with_disk("DISK_SIZE=\"100M\"\nDISK_PART1=\"50M:ext4:\"\nDISK_PART1_KEEP=\"1\"\n");
        assert!(judge(&ok, &Policy::default()).admitted());
        let bad =
            with_disk("DISK_SIZE=\"100M\"\nDISK_PART1=\"50M:ext4:\"\nDISK_PART1_KEEP=\"2\"\nDISK_PART3_KEEP=\"1\"\n");
        let r = judge(&bad, &Policy::default());
        assert_eq!(
            rules(&r),
            [
                (Rule::Model, "disk.cfg: DISK_PART1_KEEP".to_owned()),
                (Rule::Model, "disk.cfg: DISK_PART3_KEEP".to_owned())
            ]
        );
        assert!(
            r.problems[1].message.contains("no partition 3"),
            "{}",
            r.problems[1].message
        );
    }

    #[test]
    fn text_members_are_judged_as_stored_and_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = Image::new_default();
        image
            .init_mut(Stage::Main)
            .insert("crlf.sh".into(), Blob::bytes(b"#!/bin/sh\r\n".to_vec()));
        let r = judge(&image, &Policy::default());
        assert_eq!(rules(&r), [(Rule::Text, "init.d/crlf.sh".to_owned())]);
        // Stored: what the host would run (the writer does not refuse it).
        let img = dir.path().join("g.xenguest");
        write_file(&image, &img, &WriteOptions::default()).unwrap();
        let opened = crate::image::reader::open(&img, false).unwrap();
        let r = admit(Candidate::Stored(stored(&opened, None)), &Policy::default()).unwrap();
        assert_eq!(rules(&r), [(Rule::Text, "init.d/crlf.sh".to_owned())]);
        assert_eq!(r.signature, Signature::Unsigned);
    }

    fn stored<'a>(opened: &'a Opened, trusted: Option<&'a TrustedKeys>) -> Stored<'a> {
        Stored {
            opened,
            trusted,
            sidecar: true,
            progress: Progress::default(),
        }
    }

    fn key(seed: u8) -> SigningKey {
        use pkcs8::EncodePrivateKey;
        let pem = ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
            .to_pkcs8_pem(pkcs8::LineEnding::LF)
            .unwrap();
        SigningKey::from_pem(pem.as_bytes(), "test").unwrap()
    }

    #[test]
    fn the_hosts_signature_settings() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Arc::new(key(1));
        let mut trusted = TrustedKeys::default();
        trusted.add(signer.public().clone());
        let mut scripted = Image::new_default();
        scripted
            .init_mut(Stage::Pre)
            .insert("net.sh".into(), Blob::bytes(b"#!/bin/sh\n".to_vec()));
        let write = |name: &str, image: &Image, sign: Option<&Arc<SigningKey>>| {
            let path = dir.path().join(name);
            let options = WriteOptions {
                sign: sign.cloned(),
                ..WriteOptions::default()
            };
            write_file(image, &path, &options).unwrap();
            crate::image::reader::open(&path, false).unwrap()
        };
        let plain = write("plain", &Image::new_default(), None);
        let unsigned_scripts = write("unsigned-scripts", &scripted, None);
        let signed_scripts = write("signed-scripts", &scripted, Some(&signer));
        let other = write("other", &scripted, Some(&Arc::new(key(2))));
        let scripts_only = Policy {
            require_signed_scripts: true,
            ..Policy::default()
        };
        let all = Policy {
            require_signature: true,
            ..Policy::default()
        };
        let judge = |o: &Opened, p: &Policy| admit(Candidate::Stored(stored(o, Some(&trusted))), p).unwrap();
        assert!(judge(&plain, &scripts_only).admitted());
        let r = judge(&unsigned_scripts, &scripts_only);
        assert_eq!(rules(&r), [(Rule::Signature, "init.pre/net.sh".to_owned())]);
        assert!(r.problems[0].message.contains("is unsigned"), "{:?}", r.problems);
        let r = judge(&signed_scripts, &scripts_only);
        assert!(r.admitted() && matches!(r.signature, Signature::Trusted(_)), "{r:?}");
        let r = judge(&plain, &all);
        assert_eq!(rules(&r), [(Rule::Signature, "./manifest.sha256.sig".to_owned())]);
        assert!(judge(&signed_scripts, &all).admitted());
        // A signature by another key is refused whatever the settings.
        for p in [&Policy::default(), &scripts_only, &all] {
            let r = judge(&other, p);
            assert!(r.problems[0].message.contains("wrong key"), "{:?}", r.problems);
        }
        // No trusted key but signatures required: refused, saying so.
        let r = admit(Candidate::Stored(stored(&signed_scripts, None)), &all).unwrap();
        assert!(r.problems[0].message.contains("no trusted key"), "{:?}", r.problems);
        // A manifest required.
        let r = judge(
            &plain,
            &Policy {
                require_manifest: true,
                ..Policy::default()
            },
        );
        assert!(r.admitted(), "{:?}", r.problems);
    }
}
