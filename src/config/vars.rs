//! `KEY="VALUE"` files sourced by bash on the host.
//!
//! `check` accepts a strict subset of what bash reads, chosen so that bash
//! provably performs the file's assignments and nothing else. A file is
//! lines ending in LF; each line is one of:
//!
//! - blank: only blanks (space and tab; no other character is a blank);
//! - a comment: blanks, then `#`, then anything but the characters below;
//! - an assignment: blanks, `KEY=` (`KEY` a letter or `_`, then letters,
//!   digits and `_`), a value, then blanks and optionally, after at least
//!   one blank, a `#` comment. The value is either `"VALUE"` (anything but
//!   `"`, `$`, backticks, `\` and the characters below) or unquoted, made
//!   of ASCII letters, digits and `_-./:,+@%` only.
//!
//! Refused anywhere: every control character but tab (NUL, CR, vertical
//! tab, form feed, escape, DEL, U+0080 to U+009F); outside a quoted value,
//! every character but the ones the rules above name (so any Unicode space
//! but space and tab, which bash does not take as blanks). Invalid UTF-8 is
//! refused when the file is read.

use std::fmt::Write as _;

use crate::rules::{Problem, Rule};

/// A file of `KEY="VALUE"` lines; other lines (comments, blank lines,
/// anything else) are kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellVars {
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// An assignment: the blanks before it, and the blanks and comment
    /// after its value, are kept as read.
    Var {
        indent: String,
        key: String,
        value: String,
        tail: String,
    },
    Other(String),
}

impl ShellVars {
    /// Parses file text. Lines in the grammar's assignment form (see the
    /// module documentation) are variables; every other line is kept
    /// verbatim.
    pub fn parse(text: &str) -> Self {
        // Split on LF only: bash ends a line at LF, and a CR is part of the
        // line (so a line holding one is not an assignment: `problems`
        // names it).
        let lines = text
            .split_terminator('\n')
            .map(|line| match scan(line) {
                Ok(Some(a)) => Line::Var {
                    indent: a.indent.to_owned(),
                    key: a.key.to_owned(),
                    value: a.value.to_owned(),
                    tail: a.tail.to_owned(),
                },
                _ => Line::Other(line.to_owned()),
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
            Line::Var { key, value, .. } => Some((key.as_str(), value.as_str())),
            Line::Other(_) => None,
        })
    }

    /// Lines that are neither blank, comments nor assignments in the
    /// grammar bash provably reads as such (see [`ShellVars::problems`]
    /// for why each one is refused).
    pub fn unparsed_lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| match line {
            Line::Other(text) if scan(text).is_err() => Some(text.as_str()),
            _ => None,
        })
    }

    /// Every line of the file as written that is outside the grammar (see
    /// the module documentation), as a [`Rule::Text`] problem with subject
    /// `FILE:LINE` naming the first offending byte or character. `file`
    /// names the file (`params.cfg`). Empty: bash reads the file as its
    /// assignments ([`ShellVars::vars`]) and runs nothing.
    pub fn problems(&self, file: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let text = render_line(line);
            if let Err(bad) = scan(&text) {
                let number = i + 1;
                out.push(Problem::new(
                    Rule::Text,
                    format!("{file}:{number}"),
                    format!(
                        "{file} line {number}: {} at column {} {} - the host sources this file with bash as root; keep to blank lines, `#` comments and KEY=\"VALUE\" lines with space or tab as blanks",
                        describe(bad.what),
                        bad.column,
                        bad.why
                    ),
                ));
            }
        }
        out
    }

    /// Whether `p` is one of [`ShellVars::problems`]'s for `params.cfg` or
    /// `disk.cfg`: a line bash would read as more than an assignment, which
    /// no writer keeps, even in an image that already had it.
    pub fn is_grammar_problem(p: &Problem) -> bool {
        p.rule == Rule::Text && ["params.cfg:", "disk.cfg:"].iter().any(|f| p.subject.starts_with(f))
    }

    /// Sets `key`: its first line is replaced, later duplicates dropped; a
    /// new key is appended. The caller has validated key and value.
    pub fn set(&mut self, key: &str, value: &str) {
        let mut seen = false;
        self.lines.retain_mut(|line| match line {
            Line::Var { key: k, value: v, .. } if k == key => {
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
                indent: String::new(),
                key: key.to_owned(),
                value: value.to_owned(),
                tail: String::new(),
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
            out.push_str(&render_line(line));
            out.push('\n');
        }
        out
    }
}

fn render_line(line: &Line) -> String {
    match line {
        Line::Var {
            indent,
            key,
            value,
            tail,
        } => {
            let mut out = String::new();
            let _ = write!(out, "{indent}{key}=\"{value}\"{tail}");
            out
        }
        Line::Other(text) => text.clone(),
    }
}

/// An assignment line, split.
struct Assignment<'a> {
    indent: &'a str,
    key: &'a str,
    value: &'a str,
    tail: &'a str,
}

/// Why a line is outside the grammar: the first offending character, its
/// 1-based column, and what bash would do instead.
#[derive(Debug, PartialEq, Eq)]
struct Offense {
    what: Option<char>,
    column: usize,
    why: &'static str,
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Control characters refused anywhere: all but tab (the line's LF is
/// not part of it).
fn is_refused_control(c: char) -> bool {
    c.is_control() && c != '\t'
}

fn is_unquoted(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:,+@%".contains(c)
}

/// Reads one line (without its LF) by the grammar: `Ok(None)` for a blank
/// or comment line, `Ok(Some)` for an assignment.
fn scan(line: &str) -> Result<Option<Assignment<'_>>, Offense> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let offense = |i: usize, why| Offense {
        what: chars.get(i).map(|&(_, c)| c),
        column: i + 1,
        why,
    };
    if let Some(i) = chars.iter().position(|&(_, c)| is_refused_control(c)) {
        return Err(offense(i, "(control characters are refused everywhere)"));
    }
    let at = |i: usize| chars.get(i).map_or(line.len(), |&(b, _)| b);
    let mut i = chars.iter().position(|&(_, c)| !is_blank(c)).unwrap_or(chars.len());
    let indent_end = i;
    match chars.get(i).map(|&(_, c)| c) {
        None => return Ok(None),
        Some('#') => return comment(&chars, i + 1).map(|()| None),
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        Some(c) if c.is_whitespace() => {
            return Err(offense(
                i,
                "(bash takes only space and tab as blanks, so it would read the line as a command)",
            ))
        }
        Some(_) => return Err(offense(i, "(a line starts with KEY=, `#` or blanks)")),
    }
    while chars
        .get(i)
        .is_some_and(|&(_, c)| c.is_ascii_alphanumeric() || c == '_')
    {
        i += 1;
    }
    match chars.get(i).map(|&(_, c)| c) {
        Some('=') => {}
        None => return Err(offense(i, "(end of line: an assignment needs `=` after the name)")),
        Some(_) => {
            return Err(offense(
                i,
                "(a name holds only ASCII letters, digits and `_`, and `=` follows it directly; bash would read the line as a command)",
            ))
        }
    }
    let key_end = i;
    i += 1;
    let quoted = chars.get(i).map(|&(_, c)| c) == Some('"');
    let (value_start, value_end);
    if quoted {
        i += 1;
        value_start = i;
        loop {
            match chars.get(i).map(|&(_, c)| c) {
                None => {
                    return Err(offense(
                        i,
                        "(the quoted value does not end on this line; bash would continue it on the next)",
                    ))
                }
                Some('"') => break,
                Some('$' | '`' | '\\') => {
                    return Err(offense(
                        i,
                        "(bash expands `$`, backticks and `\\` inside double quotes)",
                    ))
                }
                Some(_) => i += 1,
            }
        }
        value_end = i;
        i += 1;
    } else {
        value_start = i;
        while chars.get(i).is_some_and(|&(_, c)| is_unquoted(c)) {
            i += 1;
        }
        value_end = i;
    }
    let tail_start = i;
    while chars.get(i).is_some_and(|&(_, c)| is_blank(c)) {
        i += 1;
    }
    match chars.get(i).map(|&(_, c)| c) {
        None => {}
        Some('#') if i > tail_start => comment(&chars, i + 1)?,
        Some(_) if i == tail_start && !quoted => {
            return Err(offense(
                i,
                "(an unquoted value holds only ASCII letters, digits and `_-./:,+@%`; quote it with \"\")",
            ))
        }
        Some(_) => {
            return Err(offense(
                i,
                "(after the value only blanks and, after a blank, a `#` comment may follow; bash would read more of the line)",
            ))
        }
    }
    Ok(Some(Assignment {
        indent: &line[..at(indent_end)],
        key: &line[at(indent_end)..at(key_end)],
        value: &line[at(value_start)..at(value_end)],
        tail: &line[at(tail_start)..],
    }))
}

/// A comment from `from` to the end of the line: control characters were
/// refused already; Unicode spaces other than space and tab are refused
/// too (they are not blanks to bash anywhere).
fn comment(chars: &[(usize, char)], from: usize) -> Result<(), Offense> {
    match chars[from.min(chars.len())..]
        .iter()
        .position(|&(_, c)| c.is_whitespace() && !is_blank(c))
    {
        Some(k) => Err(Offense {
            what: Some(chars[from + k].1),
            column: from + k + 1,
            why: "(only space and tab are blanks, also in comments)",
        }),
        None => Ok(()),
    }
}

/// Names a character for a message: `byte 0x0b (vertical tab)`,
/// `character U+00A0 (no-break space)`, `` `;` ``.
fn describe(c: Option<char>) -> String {
    let Some(c) = c else {
        return "the end of the line".to_owned();
    };
    let name = match c {
        '\0' => "NUL",
        '\u{b}' => "vertical tab",
        '\u{c}' => "form feed",
        '\r' => "carriage return",
        '\u{1b}' => "escape",
        '\u{7f}' => "delete",
        '\u{85}' => "next line",
        '\u{a0}' => "no-break space",
        '\u{1680}' => "ogham space mark",
        '\u{2000}'..='\u{200a}' => "Unicode space",
        '\u{2028}' => "line separator",
        '\u{2029}' => "paragraph separator",
        '\u{202f}' => "narrow no-break space",
        '\u{205f}' => "medium mathematical space",
        '\u{3000}' => "ideographic space",
        '\u{feff}' => "byte order mark",
        c if c.is_control() => "control character",
        ' ' => return "a space".to_owned(),
        '`' => return "a backtick".to_owned(),
        c if c.is_ascii_graphic() => return format!("`{c}`"),
        c if c.is_whitespace() => "Unicode space",
        _ => return format!("character U+{:04X} `{c}`", u32::from(c)),
    };
    if c.is_ascii() {
        format!("byte {:#04x} ({name})", u32::from(c))
    } else {
        format!("character U+{:04X} ({name})", u32::from(c))
    }
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
        for text in [
            "A=\"x\"\r",
            "A=\"x\"\r\nB=1\r\n",
            "junk\r",
            "x\r\r\n",
            "A=\"x\"\r\r",
            " A=1 # c\n\tB=\"\"\t\n",
        ] {
            let once = ShellVars::parse(text);
            let twice = ShellVars::parse(&once.render());
            assert_eq!(once, twice, "{text:?}");
        }
        // A CR is part of the line to bash: not an assignment.
        assert_eq!(ShellVars::parse("A=\"1\"\r\n").get("A"), None);
    }

    #[test]
    fn unsafe_lines_are_not_variables() {
        let v = ShellVars::parse("A=\"$(id)\"\nB=$(id)\nC=\"a\"b\"\nD=\"x\" cmd\nE=x;id\nF=\"a\nG=1 H=2\n");
        assert_eq!(v.vars().count(), 0);
        assert_eq!(v.problems("params.cfg").len(), 7);
    }

    #[test]
    fn blanks_and_comments_bash_reads_alike() {
        let v = ShellVars::parse(" \t# c\n\n\t A=\"x y\" \t# c \"$`\nB=a/b:c@d%e+f,g-h.i_j\t\nC=\nD=\"\" #\n");
        assert_eq!(
            v.vars().collect::<Vec<_>>(),
            [("A", "x y"), ("B", "a/b:c@d%e+f,g-h.i_j"), ("C", ""), ("D", "")]
        );
        assert!(v.problems("params.cfg").is_empty());
        // Unicode spaces are kept inside quotes, as bash keeps them.
        let v = ShellVars::parse("A=\"\u{a0}\u{3000}\u{2028}\"\n");
        assert_eq!(v.get("A"), Some("\u{a0}\u{3000}\u{2028}"));
        assert!(v.problems("params.cfg").is_empty());
        // Layout survives an edit of the value.
        let mut v = ShellVars::parse("  A=1  # keep\n");
        v.set("A", "2");
        assert_eq!(v.render(), "  A=\"2\"  # keep\n");
    }

    /// The lines bash runs as commands while a `trim()`-based reader took
    /// them for comments or assignments.
    #[test]
    fn every_other_blank_or_control_is_refused_with_line_and_character() {
        let cases = [
            ("\u{b}# x\n", "byte 0x0b (vertical tab) at column 1"),
            ("\u{c}# x\n", "byte 0x0c (form feed) at column 1"),
            ("\u{a0}# x\n", "character U+00A0 (no-break space) at column 1"),
            ("\u{3000}# x\n", "character U+3000 (ideographic space) at column 1"),
            ("\u{85}# x\n", "character U+0085 (next line) at column 1"),
            ("\u{2028}A=1\n", "character U+2028 (line separator) at column 1"),
            ("A=1\u{a0}# x\n", "character U+00A0 (no-break space) at column 4"),
            ("A=\"1\"\u{a0}\n", "character U+00A0 (no-break space) at column 6"),
            ("# a\u{a0}b\n", "character U+00A0 (no-break space) at column 4"),
            ("# a\u{1b}[2J\n", "byte 0x1b (escape) at column 4"),
            ("A=\"a\u{0}b\"\n", "byte 0x00 (NUL) at column 5"),
            ("A=\"1\"\r\n", "byte 0x0d (carriage return) at column 6"),
            ("A=\"x\" id\n", "`i` at column 7"),
            ("A=\"x\"#c\n", "`#` at column 6"),
            ("A=x#c\n", "`#` at column 4"),
            ("A=~\n", "`~` at column 3"),
            ("A=*\n", "`*` at column 3"),
            ("A=\"`id`\"\n", "a backtick at column 4"),
            ("A=\"x\n", "the end of the line at column 5"),
            ("export A=1\n", "a space at column 7"),
            ("\u{feff}A=1\n", "character U+FEFF (byte order mark) at column 1"),
        ];
        for (text, want) in cases {
            let v = ShellVars::parse(&format!("B=\"ok\"\n{text}"));
            let problems = v.problems("params.cfg");
            assert_eq!(problems.len(), 1, "{text:?}: {problems:?}");
            let p = &problems[0];
            assert_eq!(p.subject, "params.cfg:2", "{text:?}");
            assert_eq!(p.rule, Rule::Text);
            assert!(
                p.message.starts_with(&format!("params.cfg line 2: {want} ")),
                "{text:?}: {}",
                p.message
            );
            assert_eq!(v.vars().collect::<Vec<_>>(), [("B", "ok")], "{text:?}");
        }
    }

    #[test]
    fn set_values_are_judged_as_written() {
        let mut v = ShellVars::default();
        v.set("A", "a\u{b}b");
        assert_eq!(v.problems("disk.cfg")[0].subject, "disk.cfg:1");
    }
}
