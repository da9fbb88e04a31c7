//! `xenguest-mkimage generate man DIR` and `generate completions SHELL DIR`:
//! man pages and shell completions made from the same clap command that
//! parses the command line and prints `--help` ([`crate::cli::command`]),
//! so they cannot disagree with the tool. The operation is hidden (packagers
//! run it, users do not need it), as ripgrep's `--generate` is.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

use crate::error::{Error, IoContext, Result};
use crate::image::writer::atomic_write;

/// Name of the program in man pages and completion scripts.
const BIN: &str = "xenguest-mkimage";

/// The hidden `generate` operation (not part of [`crate::cli::command`],
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
        .subcommand(
            Command::new("man")
                .about("Write xenguest-mkimage.1 and one xenguest-mkimage-OPERATION.1 per operation")
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
pub(crate) fn run(m: &ArgMatches) -> Result<()> {
    let (what, m) = m.subcommand().expect("subcommand_required");
    let dir = m.get_one::<PathBuf>("dir").expect("required");
    std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
    match what {
        "man" => {
            for (name, text) in man_pages()? {
                write(&dir.join(name), &text)?;
            }
            Ok(())
        }
        "completions" => {
            let shell = *m.get_one::<Shell>("shell").expect("required");
            write(&dir.join(completion_file_name(shell)), &completions(shell))
        }
        other => Err(Error::Usage(format!("unknown generate target `{other}`"))),
    }
}

/// Every man page: (file name, roff text). The first is the tool's page
/// (operations listed), then one page per operation with its options.
pub fn man_pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut pages = vec![(format!("{BIN}.1"), render(cmd.clone())?)];
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        // Names the page and its synopsis after the full command, as
        // `man xenguest-mkimage-create` expects.
        let name = format!("{BIN}-{}", sub.get_name());
        let sub = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("{BIN} {}", sub.get_name()));
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

/// The completion script of `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut cmd = crate::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    out
}

/// Where each shell's completion loader looks for the script of `BIN`:
/// bash-completion loads `completions/NAME`, zsh `_NAME` from `$fpath`,
/// fish `NAME.fish`.
pub fn completion_file_name(shell: Shell) -> String {
    match shell {
        Shell::Bash => BIN.to_owned(),
        Shell::Zsh => format!("_{BIN}"),
        Shell::Fish => format!("{BIN}.fish"),
        Shell::Elvish => format!("{BIN}.elv"),
        Shell::PowerShell => format!("_{BIN}.ps1"),
        _ => format!("{BIN}.{shell}"),
    }
}

fn write(path: &Path, data: &[u8]) -> Result<()> {
    atomic_write(path, |mut f| {
        f.write_all(data).with_path("cannot write", path)?;
        Ok((f, ()))
    })
}
