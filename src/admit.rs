//! Admission: whether an image may be written, passes `check`, and may be
//! installed on a host. One place for every rule, so that `check`, every
//! writer, `verify` and `xenguest-manager` judge an image alike.
//!
//! A rule reports [`Problem`]s: what is wrong ([`Problem::subject`] names
//! the member, file and line, or key), which family of rules it breaks
//! ([`Rule`]), and a message that says how to fix it. The host's choices
//! (which xl keys it allows, whether it requires signatures) are a
//! [`Policy`]; `check` judges with [`Policy::default`], the strictest
//! host, and reports what a host would have to allow.

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

/// What a host allows beyond the strictest rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// xl keys that reach host resources which the host allows images to
    /// set, by name (`XENGUEST_ALLOW_XL_KEYS="pci dtdev"`).
    pub allow_xl_keys: BTreeSet<String>,
}
