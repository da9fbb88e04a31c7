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

/// One line of an xl file as [`read_line`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XlLine {
    /// Empty or only spaces and tabs.
    Blank,
    /// A `#` comment (after spaces and tabs).
    Comment,
    /// `key = value`.
    Assign {
        /// The key (`[a-z][a-z0-9_]*`, as xl's lexer reads names).
        key: String,
        /// The value, exactly as xl reads it.
        value: XlValue,
    },
}

/// Reads one line of an xl file strictly: a line is blank, a `#` comment,
/// or `key = value` with a decimal number, a double-quoted string or a
/// one-line list of quoted strings, and nothing after the value. Every
/// other line is refused (with the reason), because xl could read it
/// differently from this tool: `+=` appends, `;` starts a second
/// statement, `#` after a value starts a comment, `\` is an escape,
/// `0x10` and `010` are hexadecimal and octal to xl, lists may span
/// lines, and xl knows no Unicode spaces or control characters. Blanks
/// are space and tab only.
pub fn read_line(line: &str) -> std::result::Result<XlLine, String> {
    if let Some((i, c)) = line.char_indices().find(|&(_, c)| c.is_control() && c != '\t') {
        return Err(format!(
            "byte {} is the control character {c:?} - xl files hold no control characters but tab (CR: save with LF line ends)",
            i + 1
        ));
    }
    let rest = line.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Ok(XlLine::Blank);
    }
    if rest.starts_with('#') {
        return Ok(XlLine::Comment);
    }
    let key_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        .count();
    let key = &rest[..key_len];
    if !key.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) {
        return Err(format!(
            "`{}` is not a `key = value` setting - xl names start with a lowercase letter, then a-z, 0-9 and `_`; blanks are space and tab only",
            line.escape_debug()
        ));
    }
    let rest = rest[key_len..].trim_start_matches([' ', '\t']);
    if rest.starts_with("+=") {
        return Err(format!(
            "`{key} +=` appends to the value in xl - write the whole value once, as `{key} = VALUE`"
        ));
    }
    let Some(rest) = rest.strip_prefix('=') else {
        return Err(format!("`{key}` is not followed by `=` - write `{key} = VALUE`"));
    };
    let (value, after) = read_value(key, rest.trim_start_matches([' ', '\t']))?;
    let after = after.trim_start_matches([' ', '\t']);
    if !after.is_empty() {
        return Err(format!(
            "text after the value of `{key}`: `{}` - xl reads `;` as a second setting and `#` as a comment: one setting per line, comments on their own line",
            after.escape_debug()
        ));
    }
    Ok(XlLine::Assign {
        key: key.to_owned(),
        value,
    })
}

fn read_value<'a>(key: &str, s: &'a str) -> std::result::Result<(XlValue, &'a str), String> {
    match s.chars().next() {
        Some('0'..='9') => {
            let end = s.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(s.len());
            let digits = &s[..end];
            if !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.len() > 1 && digits.starts_with('0')) {
                return Err(format!(
                    "`{key} = {digits}`: write numbers as plain decimal digits without leading zeros (xl reads `0x…` as hexadecimal and `0…` as octal)"
                ));
            }
            let n = digits
                .parse()
                .map_err(|_| format!("`{key} = {digits}`: the number is too large"))?;
            Ok((XlValue::Number(n), &s[end..]))
        }
        Some('"') => {
            let (text, rest) = read_quoted(key, s, '"')?;
            Ok((XlValue::Str(text), rest))
        }
        Some('\'') => Err(format!(
            "`{key}`: write a single value in double quotes (`{key} = \"…\"`); single quotes are for list elements"
        )),
        Some('[') => {
            let mut items = Vec::new();
            let mut rest = s[1..].trim_start_matches([' ', '\t']);
            loop {
                if let Some(r) = rest.strip_prefix(']') {
                    return Ok((XlValue::List(items), r));
                }
                let quote = match rest.chars().next() {
                    Some(q @ ('\'' | '"')) => q,
                    None => {
                        return Err(format!(
                            "the list of `{key}` does not end on its line - write the whole list on one line"
                        ))
                    }
                    Some(_) => return Err(format!("`{key}`: list elements must be quoted strings (`['a', 'b']`)")),
                };
                let (item, r) = read_quoted(key, rest, quote)?;
                items.push(item);
                rest = r.trim_start_matches([' ', '\t']);
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r.trim_start_matches([' ', '\t']);
                } else if !rest.starts_with(']') {
                    return Err(format!(
                        "`{key}`: list elements are separated by `,` and the list ends with `]` on the same line"
                    ));
                }
            }
        }
        _ => Err(format!(
            "`{key}`: the value must be a decimal number, a \"string\" or a ['list'] on one line"
        )),
    }
}

fn read_quoted<'a>(key: &str, s: &'a str, quote: char) -> std::result::Result<(String, &'a str), String> {
    let body = &s[1..];
    let Some(end) = body.find(quote) else {
        return Err(format!(
            "`{key}`: a string does not end on its line - strings cannot span lines"
        ));
    };
    let text = &body[..end];
    if text.contains('\\') {
        return Err(format!(
            "`{key}`: `\\` is xl's escape character - strings cannot hold it"
        ));
    }
    Ok((text.to_owned(), &body[end + 1..]))
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
    fn strict_lines() {
        let ok = |l: &str| read_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        let assign = |k: &str, v: XlValue| XlLine::Assign {
            key: k.into(),
            value: v,
        };
        assert_eq!(ok(""), XlLine::Blank);
        assert_eq!(ok(" \t"), XlLine::Blank);
        assert_eq!(ok("  # memory = 5 ; x"), XlLine::Comment);
        assert_eq!(ok("memory=512"), assign("memory", XlValue::Number(512)));
        assert_eq!(ok("\tvcpus = 0 "), assign("vcpus", XlValue::Number(0)));
        assert_eq!(
            ok("extra = \"a # b ; c\""),
            assign("extra", XlValue::Str("a # b ; c".into()))
        );
        assert_eq!(
            ok("vif = ['bridge=xenbr0,mac=00:16:3e:00:00:01', \"bridge=b1\",]"),
            assign(
                "vif",
                XlValue::List(vec!["bridge=xenbr0,mac=00:16:3e:00:00:01".into(), "bridge=b1".into()])
            )
        );
        assert_eq!(ok("disk = [ ]"), assign("disk", XlValue::List(vec![])));
        assert_eq!(
            ok("device_tree = \"files/x\""),
            assign("device_tree", XlValue::Str("files/x".into()))
        );
        for bad in [
            "memory = 512 ; bootloader = \"/bin/sh\"",
            "memory = 512 # MB",
            "extra += \"x\"",
            "memory = 0x200",
            "memory = 010",
            "memory = 12k",
            "kernel = 'files/k'",
            "disk = ['phy:/dev/sda,xvda,w',",
            "disk = [",
            "disk = ['a' 'b']",
            "disk = [1]",
            "extra = \"a\\\"b\"",
            "extra = \"open",
            "Memory = 5",
            "_x = 5",
            "memory 5",
            "memory = ",
            "memory = five",
            "memory = 5\r",
            "\u{b}memory = 5",
            "\u{a0}memory = 5",
            "\u{3000}# x",
            "\u{a0}# comment",
            "extra = \"a\u{85}b\"",
            "name = \"x\"\u{a0}",
            "memory = 99999999999999999999999",
        ] {
            assert!(read_line(bad).is_err(), "{bad:?} accepted as {:?}", read_line(bad));
        }
    }

    #[test]
    fn prose_comments_stay_comments() {
        let c = XlConfig::parse("# set memory = more than that\n# memory = 5\n");
        assert!(c.mentions("memory"));
        assert_eq!(c.render(), "# set memory = more than that\n# memory = 5\n");
    }
}
