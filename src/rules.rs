//! The vocabulary of admission, below every rule: the family a problem
//! belongs to ([`Rule`]), a problem ([`Problem`]), what a host allows and
//! requires ([`Policy`], [`XenHost`]) and the host configuration keys
//! that set them. [`crate::admit`] applies the rules; each rule (the
//! model, the bash grammar, the xl policy, ...) reports in these words.

use std::collections::BTreeSet;
use std::fmt;

/// The family of rules a [`Problem`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// The archive itself: member names, types, headers.
    Archive,
    /// The image model: configuration files, partitions, contents.
    Model,
    /// A text member (configuration file or script) that the host's bash
    /// or xl could read differently than this tool.
    Text,
    /// The guest disk does not fit the host's partition layout.
    HostLayout,
    /// The xl configuration sets a key the host manager owns, or names a
    /// file outside the guest's `files/`.
    XlPolicy,
    /// The xl configuration reaches a host resource the host has not
    /// allowed by name.
    HostPermission,
    /// The embedded manifest or the sidecar does not match.
    Manifest,
    /// The signature is missing, untrusted or does not match.
    Signature,
    /// The image's metadata says it is made for another host: another
    /// architecture, a newer Xen, other machines.
    HostCompatibility,
}

impl Rule {
    /// The rule's name in messages and JSON (`"xl-policy"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Rule::Archive => "archive",
            Rule::Model => "model",
            Rule::Text => "text",
            Rule::HostLayout => "host-layout",
            Rule::XlPolicy => "xl-policy",
            Rule::HostPermission => "host-permission",
            Rule::Manifest => "manifest",
            Rule::Signature => "signature",
            Rule::HostCompatibility => "host-compatibility",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One reason an image is not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What the problem is about: a member (`guest.d/evil.cfg`), a file
    /// and line (`params.cfg:3`), or a key (`pci`).
    pub subject: String,
    /// The family of rules it breaks.
    pub rule: Rule,
    /// The whole message, naming the subject and saying how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem about `subject` under `rule`.
    pub fn new(rule: Rule, subject: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            subject: subject.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a host allows beyond the strictest rules, and what it requires
/// beyond them. [`Policy::default`] is the strictest host that requires
/// nothing extra: what `check` judges with.
// Each flag is one independent host setting.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// xl keys that reach host resources which the host allows images to
    /// set, by name (`XENGUEST_ALLOW_XL_KEYS="pci dtdev"`).
    pub allow_xl_keys: BTreeSet<String>,
    /// Whether an image's `DISK_DEVICE` may name a host device for its
    /// disk (`XENGUEST_ALLOW_IMAGE_DEVICE="1"`).
    pub allow_image_device: bool,
    /// The host's own volume device (`XENGUEST_VOLUME_DEVICE`): an image
    /// naming it needs no permission.
    pub volume_device: Option<String>,
    /// Refuse images without an embedded manifest
    /// (`XENGUEST_REQUIRE_MANIFEST="1"`).
    pub require_manifest: bool,
    /// Refuse images not signed by a trusted key
    /// (`XENGUEST_REQUIRE_SIGNATURE="1"`).
    pub require_signature: bool,
    /// Refuse images carrying host-side scripts (`init.pre/`, `init.d/`,
    /// `init.post/`) unless signed by a trusted key
    /// (`XENGUEST_REQUIRE_SIGNED_SCRIPTS="1"`).
    pub require_signed_scripts: bool,
    /// The names this host answers to (`XENGUEST_COMPATIBLE="rpi4"`): an
    /// image whose metadata lists `compatible` names must list one of
    /// them. Empty: any image.
    pub compatible: Vec<String>,
    /// The Xen host the image is to run on (the manager fills it from
    /// `xl info`); `None`: architecture and Xen version are not compared.
    pub xen_host: Option<XenHost>,
}

/// What `xl info` says about the host, for [`Rule::HostCompatibility`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XenHost {
    /// `machine` (`x86_64`, `aarch64`, `armv7l`); `None` when not shown.
    pub machine: Option<String>,
    /// `xen_version` (`4.18.0`); `None` when not shown.
    pub xen_version: Option<String>,
}

/// Host configuration key that grants xl keys reaching host resources.
pub const ALLOW_XL_KEYS: &str = "XENGUEST_ALLOW_XL_KEYS";
/// Host configuration key that lets an image choose its disk device.
pub const ALLOW_IMAGE_DEVICE: &str = "XENGUEST_ALLOW_IMAGE_DEVICE";
/// Host configuration key that requires an embedded manifest.
pub const REQUIRE_MANIFEST: &str = "XENGUEST_REQUIRE_MANIFEST";
/// Host configuration key that requires a trusted signature.
pub const REQUIRE_SIGNATURE: &str = "XENGUEST_REQUIRE_SIGNATURE";
/// Host configuration key that requires a trusted signature on images
/// with host-side scripts.
pub const REQUIRE_SIGNED_SCRIPTS: &str = "XENGUEST_REQUIRE_SIGNED_SCRIPTS";
/// Host configuration key naming the machines this host is compatible
/// with.
pub const COMPATIBLE: &str = "XENGUEST_COMPATIBLE";
/// Host configuration key naming the trusted public keys.
pub const TRUSTED_KEYS: &str = "XENGUEST_TRUSTED_KEYS";
