//! `KEY="VALUE"` files sourced by bash on the host.

use std::fmt::Write as _;

/// A file of `KEY="VALUE"` lines; other lines (comments, blank lines,
/// anything else) are kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellVars {
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Var { key: String, value: String },
    Other(String),
}

impl ShellVars {
    /// Parses file text. `KEY="VALUE"` and `KEY=VALUE` (no quotes, no
    /// spaces) are variables; every other line is kept verbatim.
    pub fn parse(text: &str) -> Self {
        // Split on LF only, keeping a CR that ends a line: `render` ends
        // lines with LF, so with `str::lines` (which drops CR only before
        // LF) a `KEY="V"\r` at the end of a file would be an unparsed line
        // before an update and a variable after it.
        let lines = text
            .split_terminator('\n')
            .map(|line| match parse_assignment(line) {
                Some((key, value)) => Line::Var { key, value },
                None => Line::Other(line.to_owned()),
            })
            .collect();
        ShellVars { lines }
    }

    /// The value of `key` (the last assignment wins, as in bash).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars().filter(|(k, _)| *k == key).map(|(_, v)| v).last()
    }

    /// Every variable in file order.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|line| match line {
            Line::Var { key, value } => Some((key.as_str(), value.as_str())),
            Line::Other(_) => None,
        })
    }

    /// Lines that are neither blank, comments nor assignments.
    pub fn unparsed_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| match line {
            Line::Other(text) if !text.trim().is_empty() && !text.trim_start().starts_with('#') => Some(text.as_str()),
            _ => None,
        })
    }

    /// Sets `key`: its first line is replaced, later duplicates dropped; a
    /// new key is appended. The caller has validated key and value.
    pub fn set(&mut self, key: &str, value: &str) {
        let mut seen = false;
        self.lines.retain_mut(|line| match line {
            Line::Var { key: k, value: v } if k == key => {
                if seen {
                    return false;
                }
                seen = true;
                value.clone_into(v);
                true
            }
            _ => true,
        });
        if !seen {
            self.lines.push(Line::Var {
                key: key.to_owned(),
                value: value.to_owned(),
            });
        }
    }

    /// Removes every assignment of `key`.
    pub fn remove(&mut self, key: &str) {
        self.lines
            .retain(|line| !matches!(line, Line::Var { key: k, .. } if k == key));
    }

    /// The file text, each line ending in a newline.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Var { key, value } => {
                    let _ = writeln!(out, "{key}=\"{value}\"");
                }
                Line::Other(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
            }
        }
        out
    }
}

fn parse_assignment(line: &str) -> Option<(String, String)> {
    // CRLF files: the CR belongs to the line ending, not to the value.
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (key, rest) = line.split_once('=')?;
    let key_ok = key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !key_ok {
        return None;
    }
    let value = if let Some(inner) = rest.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        if inner.contains(['"', '\\', '$', '`']) {
            return None;
        }
        inner
    } else {
        if !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,+@%".contains(&b))
        {
            return None;
        }
        rest
    };
    Some((key.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_set_remove_render() {
        let mut v = ShellVars::parse("# head\nA=\"1\"\nB=plain\nweird line\nA=\"2\"\n");
        assert_eq!(v.get("A"), Some("2"));
        assert_eq!(v.get("B"), Some("plain"));
        assert_eq!(v.unparsed_lines().collect::<Vec<_>>(), ["weird line"]);
        v.set("A", "3");
        v.set("C", "x y");
        assert_eq!(v.render(), "# head\nA=\"3\"\nB=\"plain\"\nweird line\nC=\"x y\"\n");
        v.remove("B");
        assert_eq!(v.get("B"), None);
    }

    #[test]
    fn render_then_parse_is_stable() {
        for text in ["A=\"x\"\r", "A=\"x\"\r\nB=1\r\n", "junk\r", "x\r\r\n", "A=\"x\"\r\r"] {
            let once = ShellVars::parse(text);
            let twice = ShellVars::parse(&once.render());
            assert_eq!(once, twice, "{text:?}");
        }
        assert_eq!(ShellVars::parse("A=\"1\"\r\n").get("A"), Some("1"));
    }

    #[test]
    fn unsafe_lines_are_not_variables() {
        let v = ShellVars::parse("A=\"$(id)\"\nB=$(id)\nC=\"a\"b\"\n");
        assert_eq!(v.vars().count(), 0);
    }
}
