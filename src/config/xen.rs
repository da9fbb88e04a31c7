//! The xl configuration: `guest.cfg` and the files of `guest.d/`.
//!
//! A setting lives in `guest.cfg` when that file already has a line for the
//! key, active or commented out; otherwise it lives in `guest.d/KEY.cfg`.
//! The host concatenates `guest.cfg` and every `guest.d/*` file, so only the
//! merged result matters; the rule keeps the layout the classic tool made.

use std::fmt;

/// The default `guest.cfg`.
pub const DEFAULT_GUEST_CFG: &str = "\
# Xen (xl) configuration of the guest. The host's guest manager appends
# every file of guest.d/ to it. Edit with xenguest-mkimage, not by hand.

# Guest name (set by the host manager when it creates the guest)
# name = \"\"

# Guest memory size in MB
memory = 1024

# Number of virtual CPUs
vcpus = 1

# Guest kernel command line
extra = \"earlyprintk=xenboot console=hvc0 rw\"

# Guest root file system device, as the guest sees it
# root = \"/dev/xvda2\"

# Guest disk (set by the host manager when it creates the guest)
# disk = ['phy:/dev/vg-xen/guestname,xvda,w']
";

/// A value of an xl setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XlValue {
    /// A bare number: `memory = 1024`.
    Number(u64),
    /// A double-quoted string: `name = "demo"`.
    Str(String),
    /// A list of strings: `disk = ['phy:/dev/vg/demo,xvda,w']`.
    List(Vec<String>),
}

impl fmt::Display for XlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XlValue::Number(n) => write!(f, "{n}"),
            XlValue::Str(s) => write!(f, "\"{s}\""),
            XlValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{item}'")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl XlValue {
    /// Parses the right-hand side of an xl setting, if it is one of the
    /// three simple forms.
    pub fn parse(raw: &str) -> Option<XlValue> {
        let raw = raw.trim();
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return raw.parse().ok().map(XlValue::Number);
        }
        if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            return (!inner.contains('"')).then(|| XlValue::Str(inner.to_owned()));
        }
        let inner = raw.strip_prefix('[')?.strip_suffix(']')?.trim();
        if inner.is_empty() {
            return Some(XlValue::List(Vec::new()));
        }
        inner
            .split(',')
            .map(|item| {
                let item = item.trim();
                item.strip_prefix('\'')
                    .and_then(|i| i.strip_suffix('\''))
                    .or_else(|| item.strip_prefix('"').and_then(|i| i.strip_suffix('"')))
                    .map(str::to_owned)
            })
            .collect::<Option<Vec<_>>>()
            .map(XlValue::List)
            // `['phy:x,xvda,w']` is one element holding commas: re-split
            // only when every piece was quoted on its own.
            .or_else(|| {
                let single = inner.strip_prefix('\'')?.strip_suffix('\'')?;
                (!single.contains('\'')).then(|| XlValue::List(vec![single.to_owned()]))
            })
    }

    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            XlValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Setting { active: bool, key: String, raw: String },
    Other(String),
}

/// One xl configuration file (`guest.cfg` or a `guest.d` file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XlConfig {
    lines: Vec<Line>,
}

impl XlConfig {
    /// Parses file text. `key = value` lines, also when commented out with
    /// `#`, are settings; everything else is kept verbatim.
    pub fn parse(text: &str) -> Self {
        XlConfig {
            // LF only, as `render` writes: see `ShellVars::parse`.
            lines: text.split_terminator('\n').map(parse_line).collect(),
        }
    }

    /// Whether the file has a line for `key`, active or commented out.
    pub fn mentions(&self, key: &str) -> bool {
        self.lines
            .iter()
            .any(|l| matches!(l, Line::Setting { key: k, .. } if k == key))
    }

    /// The active value of `key` (the last one, as xl reads it), raw.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::Setting {
                    active: true,
                    key: k,
                    raw,
                } if k == key => Some(raw.as_str()),
                _ => None,
            })
            .next_back()
    }

    /// The active value of `key`, parsed.
    pub fn get(&self, key: &str) -> Option<XlValue> {
        self.get_raw(key).and_then(XlValue::parse)
    }

    /// The value of `key` even when commented out (used to append to
    /// `extra`).
    pub fn get_any(&self, key: &str) -> Option<XlValue> {
        self.get(key).or_else(|| {
            self.lines.iter().find_map(|l| match l {
                Line::Setting { key: k, raw, .. } if k == key => XlValue::parse(raw),
                _ => None,
            })
        })
    }

    /// Every active setting in file order.
    pub fn settings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|l| match l {
            Line::Setting { active: true, key, raw } => Some((key.as_str(), raw.as_str())),
            _ => None,
        })
    }

    /// Sets `key`: every line for it (active or commented) becomes
    /// `key = value`; without one, the setting is appended.
    pub fn set(&mut self, key: &str, value: &XlValue) {
        let raw = value.to_string();
        let mut seen = false;
        self.lines.retain_mut(|l| match l {
            Line::Setting { active, key: k, raw: r } if k == key => {
                if seen && *active {
                    return false;
                }
                if !seen {
                    *active = true;
                    raw.clone_into(r);
                }
                seen = true;
                true
            }
            _ => true,
        });
        if !seen {
            self.lines.push(Line::Setting {
                active: true,
                key: key.to_owned(),
                raw,
            });
        }
    }

    /// Comments out every active line for `key`.
    pub fn disable(&mut self, key: &str) {
        for l in &mut self.lines {
            if let Line::Setting { active, key: k, .. } = l {
                if k == key {
                    *active = false;
                }
            }
        }
    }

    /// The file text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            match l {
                Line::Setting { active, key, raw } => {
                    if !*active {
                        out.push_str("# ");
                    }
                    out.push_str(key);
                    out.push_str(" = ");
                    out.push_str(raw);
                }
                Line::Other(text) => out.push_str(text),
            }
            out.push('\n');
        }
        out
    }
}

fn parse_line(line: &str) -> Line {
    let (active, body) = match line.trim_start().strip_prefix('#') {
        Some(rest) => (false, rest.trim_start()),
        None => (true, line.trim_start()),
    };
    let Some((key, raw)) = body.split_once('=') else {
        return Line::Other(line.to_owned());
    };
    let key = key.trim_end();
    let key_ok = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    // A commented line is a setting only when it looks exactly like one, so
    // that prose comments containing `=` stay comments.
    if !key_ok || (!active && XlValue::parse(raw).is_none()) {
        return Line::Other(line.to_owned());
    }
    Line::Setting {
        active,
        key: key.to_owned(),
        raw: raw.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_settings() {
        let c = XlConfig::parse(DEFAULT_GUEST_CFG);
        assert_eq!(c.get("memory"), Some(XlValue::Number(1024)));
        assert_eq!(c.get("vcpus"), Some(XlValue::Number(1)));
        assert_eq!(
            c.get("extra"),
            Some(XlValue::Str("earlyprintk=xenboot console=hvc0 rw".into()))
        );
        assert_eq!(c.get("name"), None);
        for key in ["name", "root", "disk", "memory"] {
            assert!(c.mentions(key), "{key}");
        }
        assert!(!c.mentions("kernel"));
        assert_eq!(c.render(), DEFAULT_GUEST_CFG);
    }

    #[test]
    fn set_and_disable_keep_layout() {
        let mut c = XlConfig::parse(DEFAULT_GUEST_CFG);
        c.set("name", &XlValue::Str("demo".into()));
        c.set("disk", &XlValue::List(vec!["phy:/dev/vg/demo,xvda,w".into()]));
        assert!(c.render().contains("\nname = \"demo\"\n"));
        assert!(c.render().contains("\ndisk = ['phy:/dev/vg/demo,xvda,w']\n"));
        assert_eq!(
            c.get("disk"),
            Some(XlValue::List(vec!["phy:/dev/vg/demo,xvda,w".into()]))
        );
        c.disable("name");
        assert!(c.render().contains("\n# name = \"demo\"\n"));
        assert_eq!(c.get("name"), None);
        c.set(
            "vif",
            &XlValue::List(vec!["bridge=xenbr0".into(), "mac=00:16:3e:00:00:01".into()]),
        );
        assert_eq!(
            c.get("vif"),
            Some(XlValue::List(vec![
                "bridge=xenbr0".into(),
                "mac=00:16:3e:00:00:01".into()
            ]))
        );
    }

    #[test]
    fn values_parse() {
        assert_eq!(XlValue::parse(" 12 "), Some(XlValue::Number(12)));
        assert_eq!(XlValue::parse("\"a b\""), Some(XlValue::Str("a b".into())));
        assert_eq!(XlValue::parse("[]"), Some(XlValue::List(vec![])));
        assert_eq!(XlValue::parse("x"), None);
        assert_eq!(XlValue::parse("\"a\"b\""), None);
    }

    #[test]
    fn prose_comments_stay_comments() {
        let c = XlConfig::parse("# set memory = more than that\n# memory = 5\n");
        assert!(c.mentions("memory"));
        assert_eq!(c.render(), "# set memory = more than that\n# memory = 5\n");
    }
}
