//! `params.cfg` and `disk.cfg` as bash reads them: the host sources both
//! as root, so `check` accepts only lines bash provably reads as
//! assignments, comments or blank lines.
//!
//! `tests/bash_grammar/run.py` generates the files (every Unicode
//! whitespace and control character at every interesting position, CR,
//! NUL, invalid UTF-8, command substitutions, separators, trailing
//! commands, multi-line quotes, random valid files), runs each through
//! `check` and, when the tool accepts it, sources it with real bash and
//! compares what bash did with the assignments the tool parsed.

use crate::hostile::{Tar, DISK, GUEST};
use crate::support::{python_differential, Scratch};

#[test]
fn bash_performs_exactly_the_assignments_check_accepts() {
    let stdout = python_differential("tests/bash_grammar/run.py", "bash and the tool disagree");
    // The reported lines: blanks that are no blanks to bash.
    for file in ["params.cfg", "disk.cfg"] {
        for (c, name) in [
            ("000B", "vertical tab"),
            ("00A0", "no-break space"),
            ("3000", "ideographic space"),
        ] {
            let case = format!("ok   {file}: U+{c} line start, before #: refused (");
            let line = stdout.lines().find(|l| l.starts_with(&case));
            let line = line.unwrap_or_else(|| panic!("missing: {case}"));
            assert!(
                line.contains(&format!("{file} line 3: ")) && line.contains(name),
                "{line}"
            );
        }
    }
    assert!(stdout.contains("ok   harness self-check"));
    // Both sides ran: a generator that makes only refused (or only
    // accepted) files proves nothing.
    let accepted = stdout.lines().filter(|l| l.contains(": accepted, ")).count();
    let refused = stdout.lines().filter(|l| l.contains(": refused (")).count();
    assert!(
        accepted >= 300 && refused >= 3000,
        "{accepted} accepted, {refused} refused"
    );
}

/// A line starting with a vertical tab, a no-break space or an
/// ideographic space before `#` was a comment to the tool (Rust's
/// Unicode-aware `trim`) and a command to bash: `check` refuses it,
/// naming the file, the line and the character.
#[test]
fn check_refuses_blanks_bash_does_not_take_as_blanks() {
    for (file, lead, name) in [
        ("params.cfg", "\u{b}", "byte 0x0b (vertical tab) at column 1"),
        ("params.cfg", "\u{a0}", "character U+00A0 (no-break space) at column 1"),
        (
            "disk.cfg",
            "\u{3000}",
            "character U+3000 (ideographic space) at column 1",
        ),
    ] {
        let text = format!("A=\"1\"\n{lead}# touch pwned\n");
        let (params, disk) = if file == "params.cfg" {
            (text.clone(), DISK.to_owned())
        } else {
            ("GUEST_AUTOBOOT=\"1\"\n".to_owned(), format!("{DISK}{text}"))
        };
        let line = if file == "params.cfg" { 2 } else { 4 };
        let bytes = Tar::default()
            .dir("./")
            .file("./disk.cfg", disk)
            .file("./guest.cfg", GUEST)
            .file("./params.cfg", params)
            .finish();
        let s = Scratch::new();
        s.write("g.xenguest", &bytes);
        s.run(&["check", "g.xenguest"])
            .failure(1, &[&format!("{file} line {line}: {name}")]);
    }
}

/// `update` refuses to keep a line of `params.cfg` that `check` refuses in
/// a new image, although a directory update otherwise lets through what
/// the image had wrong before it.
#[test]
fn update_keeps_no_line_bash_would_run() {
    for (line, why) in [
        ("\u{b}# touch pwned", "params.cfg line 2: byte 0x0b (vertical tab)"),
        ("touch pwned", "params.cfg line 2: a space at column 6"),
    ] {
        let s = Scratch::new();
        s.mkdir("dir");
        s.run(&["create", "dir"]).success();
        std::fs::remove_file(s.join("dir/manifest.sha256")).unwrap();
        s.write("dir/params.cfg", format!("GUEST_AUTOBOOT=\"1\"\n{line}\n"));
        s.run(&["update", "dir", "--set-param=A=1"])
            .failure(1, &["not writing", why]);
        assert_eq!(s.read_text("dir/params.cfg"), format!("GUEST_AUTOBOOT=\"1\"\n{line}\n"));
        // With the line gone, the same update goes through.
        s.write("dir/params.cfg", "GUEST_AUTOBOOT=\"1\"\n");
        s.run(&["update", "dir", "--set-param=A=1"]).success();
        assert!(s.read_text("dir/params.cfg").ends_with("A=\"1\"\n"));
    }
}
