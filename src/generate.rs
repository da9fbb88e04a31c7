//! `xenguest-mkimage generate man DIR` and `generate completions SHELL DIR`:
//! man pages and shell completions made from the same clap command that
//! parses the command line and prints `--help` (the tool's, or the manager's),
//! so they cannot disagree with the tool. The operation is hidden (packagers
//! run it, users do not need it), as ripgrep's `--generate` is.
//!
//! `--program xenguest-manager` writes the manager's instead, from the
//! manager's own command ([`crate::manager::command`]): one native tool
//! makes both programs' pages, as a cross build needs (the target's
//! manager cannot run on the build host).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

use crate::error::{Error, IoContext, Result};
use crate::image::writer::atomic_write;

/// The programs whose pages and completions `generate` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `xenguest-mkimage`.
    Tool,
    /// `xenguest-manager`.
    Manager,
}

impl Program {
    /// The program's name (file names, synopses).
    pub fn bin(self) -> &'static str {
        match self {
            Program::Tool => "xenguest-mkimage",
            Program::Manager => "xenguest-manager",
        }
    }

    /// The program's clap command; the tool's comes from its caller (the
    /// tool's command line, which contains `generate`).
    fn command(self, tool: fn() -> Command) -> Command {
        match self {
            Program::Tool => tool(),
            Program::Manager => crate::manager::command(),
        }
    }
}

/// The hidden `generate` operation (not part of the tool's command line,
/// so it appears in neither the help nor what it generates).
pub(crate) fn command() -> Command {
    let dir = || {
        Arg::new("dir")
            .value_name("DIR")
            .required(true)
            .value_parser(clap::value_parser!(PathBuf))
            .help("Directory to write into (created if missing)")
    };
    Command::new("generate")
        .about("Write man pages or shell completions generated from the option table (for packagers)")
        .subcommand_required(true)
        .arg(
            Arg::new("program")
                .long("program")
                .value_name("PROGRAM")
                .global(true)
                .value_parser([Program::Tool.bin(), Program::Manager.bin()])
                .default_value(Program::Tool.bin())
                .help("Whose pages or completions to write"),
        )
        .subcommand(
            Command::new("man")
                .about("Write PROGRAM.1 and one PROGRAM-ACTION.1 per operation or action")
                .arg(dir()),
        )
        .subcommand(
            Command::new("completions")
                .about("Write the completion script of SHELL under its conventional name")
                .arg(
                    Arg::new("shell")
                        .value_name("SHELL")
                        .required(true)
                        .value_parser(clap::value_parser!(Shell))
                        .help("bash, zsh, fish, elvish or powershell"),
                )
                .arg(dir()),
        )
}

/// Runs `generate` with its matches.
/// `tool` gives the tool's own command.
pub(crate) fn run(m: &ArgMatches, tool: fn() -> Command) -> Result<()> {
    let (what, m) = m.subcommand().expect("subcommand_required");
    let dir = m.get_one::<PathBuf>("dir").expect("required");
    let program = match m.get_one::<String>("program").map(String::as_str) {
        Some(p) if p == Program::Manager.bin() => Program::Manager,
        _ => Program::Tool,
    };
    std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
    match what {
        "man" => {
            for (name, text) in man_pages(program, program.command(tool))? {
                write(&dir.join(name), &text)?;
            }
            Ok(())
        }
        "completions" => {
            let shell = *m.get_one::<Shell>("shell").expect("required");
            write(
                &dir.join(completion_file_name(program, shell)),
                &completions(program, shell, program.command(tool)),
            )
        }
        other => Err(Error::Usage(format!("unknown generate target `{other}`"))),
    }
}

/// Every man page of `program`: (file name, roff text). The first is the
/// program's page (operations listed), then one page per operation with
/// its options.
pub fn man_pages(program: Program, mut cmd: Command) -> Result<Vec<(String, Vec<u8>)>> {
    let bin = program.bin();
    cmd.build();
    let mut pages = vec![(format!("{bin}.1"), render(cmd.clone())?)];
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        // Names the page and its synopsis after the full command, as
        // `man xenguest-mkimage-create` expects.
        let name = format!("{bin}-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("{bin} {}", sub.get_name()));
        pages.push((format!("{name}.1"), render(sub)?));
    }
    Ok(pages)
}

fn render(cmd: Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Error::Refused(format!("cannot render the man page: {e}")))?;
    Ok(out)
}

/// The completion script of `program` for `shell`.
pub fn completions(program: Program, shell: Shell, mut cmd: Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, program.bin(), &mut out);
    out
}

/// Where each shell's completion loader looks for the script of
/// `program`: bash-completion loads `completions/NAME`, zsh `_NAME` from
/// `$fpath`, fish `NAME.fish`.
pub fn completion_file_name(program: Program, shell: Shell) -> String {
    let bin = program.bin();
    match shell {
        Shell::Bash => bin.to_owned(),
        Shell::Zsh => format!("_{bin}"),
        Shell::Fish => format!("{bin}.fish"),
        Shell::Elvish => format!("{bin}.elv"),
        Shell::PowerShell => format!("_{bin}.ps1"),
        _ => format!("{bin}.{shell}"),
    }
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write(path, |mut f| {
        f.write_all(data).with_path("cannot write", path)?;
        Ok((f, ()))
    })
}
