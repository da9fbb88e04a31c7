//! What an image says about itself: the `metadata.json` member.
//!
//! The member holds the image's name, version, description, the machines
//! it is compatible with, the architecture of its kernel and the oldest Xen
//! it runs on, plus the [`FORMAT`] version of the image layout. Its bytes
//! are deterministic (keys in a fixed order, no time stamps), it is listed
//! in the manifest like every member and so covered by the signature. The
//! classic host ignores it; `xenguest-manager` compares it with the host
//! before it creates anything (see [`crate::admit`]).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Name of the metadata member.
pub const MEMBER: &str = "metadata.json";

/// The image format version this tool writes and reads. A reader refuses
/// an image whose `format` is newer: its layout may mean something this
/// tool does not know. Additions that older readers may ignore do not
/// change it.
pub const FORMAT: u32 = 1;

/// Architectures a guest kernel may be built for, as `xl info` calls the
/// matching host machines: `x86_64`, `aarch64`, `arm` (`armv7l` and other
/// `arm*` machines).
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "arm"];

/// The metadata of an image. Every field is optional; an image without
/// any has no `metadata.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The image format version ([`FORMAT`] when written).
    pub format: u32,
    /// Name of the guest image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Version of the guest image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// One line about the guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Host names (machines) the image may be installed on; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatible: Vec<String>,
    /// Architecture of the guest kernel (one of [`ARCHES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Oldest Xen version the guest runs on (`4.17`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xen: Option<String>,
}

/// A field of [`Metadata`], as a setting stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A string field.
    Text(String),
    /// A list field.
    List(Vec<String>),
}

impl Metadata {
    /// Parses the member's bytes, refusing a newer format.
    pub fn parse(bytes: &[u8]) -> Result<Metadata> {
        // The format first, alone: a newer format may have fields this
        // version does not know, and the message should say so.
        #[derive(Deserialize)]
        struct Version {
            format: Option<u32>,
        }
        let bad = |m: String| Error::Refused(format!("`{MEMBER}`: {m}"));
        let v: Version = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a metadata document ({e}) - rebuild the image")))?;
        match v.format {
            None => return Err(bad("has no `format` - rebuild the image".into())),
            Some(f) if f > FORMAT => {
                return Err(bad(format!(
                    "the image has format {f}, newer than format {FORMAT} that this {} {} reads - use a newer version",
                    env!("CARGO_PKG_NAME"),
                    crate::VERSION
                )))
            }
            Some(0) => return Err(bad("format 0 does not exist - rebuild the image".into())),
            Some(_) => {}
        }
        let meta: Metadata = serde_json::from_slice(bytes).map_err(|e| bad(format!("{e} - rebuild the image")))?;
        Ok(meta)
    }

    /// Whether no field is set (the image then has no metadata member).
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.version.is_none()
            && self.description.is_none()
            && self.compatible.is_empty()
            && self.arch.is_none()
            && self.xen.is_none()
    }

    /// The member's bytes: pretty JSON, fields in declaration order, the
    /// current [`FORMAT`], a final newline.
    pub fn render(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.format = FORMAT;
        let mut out = serde_json::to_vec_pretty(&m).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Field `key` (`name`, `compatible`, …).
    pub fn get(&self, key: &str) -> Option<Field> {
        let text = |v: &Option<String>| v.clone().map(Field::Text);
        match key {
            "name" => text(&self.name),
            "version" => text(&self.version),
            "description" => text(&self.description),
            "arch" => text(&self.arch),
            "xen" => text(&self.xen),
            "compatible" if !self.compatible.is_empty() => Some(Field::List(self.compatible.clone())),
            _ => None,
        }
    }

    /// Sets (or, with `None`, removes) field `key`.
    pub fn set(&mut self, key: &str, value: Option<Field>) {
        let text = match &value {
            Some(Field::Text(t)) => Some(t.clone()),
            _ => None,
        };
        match key {
            "name" => self.name = text,
            "version" => self.version = text,
            "description" => self.description = text,
            "arch" => self.arch = text,
            "xen" => self.xen = text,
            "compatible" => {
                self.compatible = match value {
                    Some(Field::List(items)) => items,
                    Some(Field::Text(t)) => vec![t],
                    None => Vec::new(),
                }
            }
            _ => {}
        }
    }
}

/// Checks a version (`4`, `4.17`, `4.17.2`): one to three whole numbers
/// separated by dots.
pub fn check_version(what: &str, text: &str) -> Result<()> {
    let parts: Vec<&str> = text.split('.').collect();
    let ok = (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            text,
            "use a Xen version such as 4.17 or 4.17.2 (numbers separated by dots)",
        ))
    }
}

/// The numbers of a version: `4.18.0-rc` gives `[4, 18, 0]` (each part's
/// leading digits; parsing stops at the first part without any).
pub fn version_numbers(text: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for part in text.trim().split('.') {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse() {
            Ok(n) => out.push(n),
            Err(_) => break,
        }
        if digits.len() != part.len() {
            break;
        }
    }
    out
}

/// Whether version `have` is at least `need` (missing parts count as 0).
pub fn version_at_least(have: &[u64], need: &[u64]) -> bool {
    let len = have.len().max(need.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    for i in 0..len {
        match at(have, i).cmp(&at(need, i)) {
            std::cmp::Ordering::Greater => return true,
            std::cmp::Ordering::Less => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    true
}

/// The architecture of a host machine as `xl info` names it (`x86_64`,
/// `aarch64`, `armv7l`), in [`ARCHES`] terms; `None` when unknown.
pub fn arch_of_machine(machine: &str) -> Option<&'static str> {
    match machine.trim() {
        "x86_64" | "amd64" => Some("x86_64"),
        "aarch64" | "arm64" => Some("aarch64"),
        m if m.starts_with("arm") => Some("arm"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_deterministically_and_reads_back() {
        let m = Metadata {
            name: Some("demo".into()),
            version: Some("1.0".into()),
            compatible: vec!["qemuarm64".into(), "rpi4".into()],
            arch: Some("aarch64".into()),
            xen: Some("4.17".into()),
            ..Metadata::default()
        };
        let bytes = m.render();
        assert_eq!(bytes, m.render());
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\n  \"format\": 1,\n  \"name\": \"demo\""), "{text}");
        let back = Metadata::parse(&bytes).unwrap();
        assert_eq!(back.format, FORMAT);
        assert_eq!(back.compatible, m.compatible);
        assert!(Metadata::default().is_empty());
    }

    #[test]
    fn a_newer_format_is_refused_clearly() {
        let e = Metadata::parse(br#"{"format": 2, "sbom": []}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("metadata.json") && e.contains("format 2") && e.contains("newer"),
            "{e}"
        );
        let e = Metadata::parse(br#"{"name": "x"}"#).unwrap_err().to_string();
        assert!(e.contains("`format`"), "{e}");
        assert!(Metadata::parse(b"not json").is_err());
    }

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(version_numbers("4.18.0"), [4, 18, 0]);
        assert_eq!(version_numbers("4.19-unstable"), [4, 19]);
        assert!(version_at_least(&[4, 18, 0], &[4, 17]));
        assert!(version_at_least(&[4, 17], &[4, 17, 0]));
        assert!(!version_at_least(&[4, 9], &[4, 17]));
        assert!(!version_at_least(&[4, 17], &[4, 17, 1]));
        assert!(check_version("x", "4.17").is_ok());
        for bad in ["", "4.", "v4", "4.17.1.2", "4.x"] {
            assert!(check_version("x", bad).is_err(), "{bad}");
        }
        assert_eq!(arch_of_machine("armv7l"), Some("arm"));
        assert_eq!(arch_of_machine("x86_64"), Some("x86_64"));
        assert_eq!(arch_of_machine("riscv64"), None);
    }
}
