//! Command-line parsing: clap builds the parser and the help from the
//! declarations ([`crate::ops::options`], which includes every
//! [`crate::settings::SETTINGS`] row); image-modifying options are
//! then put back in command-line order and lowered to [`Op`]s.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::commands::{self, Dump, Global};
use crate::error::{Error, Result};
use crate::image::writer::Compression;
use crate::ops::{options, Arity, Op};
use crate::signature::{SigningKey, TrustedKeys};
use crate::spec::GuestSpec;

const ABOUT: &str = "Create, modify, check and reproducibly build xenguest images for Xen guests";

const AFTER_HELP: &str = "\
Usage stays compatible with the classic tool: xenguest-mkimage OPERATION XENGUEST [ARGS].
Use `xenguest-mkimage OPERATION --help` for the options of one operation.";

fn image_arg(help: &'static str) -> Arg {
    Arg::new("image")
        .value_name("XENGUEST")
        .required(true)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

fn path_arg(id: &'static str, value_name: &'static str, help: &'static str) -> Arg {
    Arg::new(id)
        .value_name(value_name)
        .required(true)
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

fn json_arg() -> Arg {
    Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("Print one JSON document instead of text (layout: docs/json.md); errors too are JSON on stdout")
}

/// `-v`: only on operations that write something, since only writing has
/// anything more to report.
fn verbose_arg() -> Arg {
    Arg::new("verbose")
        .short('v')
        .long("verbose")
        .action(ArgAction::SetTrue)
        .conflicts_with("quiet")
        .help("Also report what was written (each image file with its size and sha256)")
}

fn epoch_arg() -> Arg {
    Arg::new("source-date-epoch")
        .long("source-date-epoch")
        .value_name("SECONDS")
        .value_parser(clap::value_parser!(u64))
        .help("Time stamp of every member (default: $SOURCE_DATE_EPOCH, else 2000-01-01T00:00:00Z)")
}

fn sign_key_arg(help: &'static str) -> Arg {
    Arg::new("sign-key")
        .long("sign-key")
        .value_name("KEY.pem")
        .value_parser(clap::value_parser!(PathBuf))
        .help(help)
}

fn with_ops(cmd: Command) -> Command {
    let mut cmd = cmd.after_help("All options are applied in command-line order.");
    for def in options() {
        let arg = Arg::new(def.name)
            .long(def.name)
            .help(def.help)
            .help_heading(def.heading);
        let arg = match def.arity {
            // Occurrences of a flag are counted; their positions give the order.
            Arity::Flag => arg.action(ArgAction::Count),
            Arity::Value => arg
                .action(ArgAction::Append)
                .num_args(1)
                .require_equals(true)
                .allow_hyphen_values(true)
                .value_name(def.value_name),
        };
        cmd = cmd.arg(arg);
    }
    cmd.arg(epoch_arg()).arg(verbose_arg())
}

/// The clap command (also used to generate documentation).
pub fn command() -> Command {
    Command::new("xenguest-mkimage")
        .version(crate::VERSION)
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand_value_name("OPERATION")
        .subcommand_help_heading("Operations")
        .arg(
            Arg::new("quiet")
                .short('q')
                .long("quiet")
                .global(true)
                .action(ArgAction::SetTrue)
                .help("Print only errors and requested output (no progress, no warnings)"),
        )
        .subcommand(with_ops(
            Command::new("create")
                .about("Create a xenguest image: a tar file, or XENGUEST itself if it is an existing empty directory")
                .arg(image_arg("Image file to create (must not exist) or empty directory"))
                .arg(sign_key_arg(
                    "Sign the image file with this PEM private key (PKCS#8, unencrypted): Ed25519, ECDSA P-256 or RSA",
                )),
        ))
        .subcommand(with_ops(
            Command::new("update")
                .about("Modify a xenguest image file or directory in place (atomically)")
                .arg(image_arg("Image file or directory"))
                .arg(sign_key_arg(
                    "Sign the updated image with this PEM private key (PKCS#8); without it, an update drops the image's signature",
                )),
        ))
        .subcommand(with_ops(
            Command::new("partial")
                .about("Modify a partial image directory (created if missing; config files may be missing)")
                .arg(image_arg("Directory")),
        ))
        .subcommand(
            Command::new("pack")
                .about("Pack a xenguest image directory into an image file")
                .arg(image_arg("Image directory"))
                .arg(path_arg("dest", "DESTFILE", "Image file to write (must not exist)"))
                .arg(epoch_arg())
                .arg(sign_key_arg(
                    "Sign the image file with this PEM private key (PKCS#8, unencrypted): Ed25519, ECDSA P-256 or RSA",
                ))
                .arg(verbose_arg()),
        )
        .subcommand(
            Command::new("check")
                .about("Check that XENGUEST is a valid, safe xenguest image (and its manifest, if any); -q: no \"Image is OK\"")
                .arg(image_arg("Image file or directory"))
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("info")
                .about("Show what an image is and what it needs: metadata, signature, manifest, members, disk, xl settings, init scripts, host permissions, SBOM")
                .arg(image_arg("Image file or directory"))
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("verify")
                .about("Verify an image file or directory: its signature (with --key or --trust), its embedded manifest and (for a file) its .sha256 sidecar")
                .arg(image_arg("Image file or directory"))
                .arg(
                    Arg::new("key")
                        .long("key")
                        .value_name("PUB.pem")
                        .action(ArgAction::Append)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Require a signature by this public key (PEM SPKI or X.509 certificate; repeatable: any of them)"),
                )
                .arg(
                    Arg::new("trust")
                        .long("trust")
                        .value_name("DIR")
                        .action(ArgAction::Append)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Require a signature by any of the public keys DIR/*.pem (repeatable)"),
                )
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("sign")
                .about("Sign an image file: add (or replace) the signature of its manifest and rewrite its sidecar, atomically")
                .arg(image_arg("Image file"))
                .arg(
                    Arg::new("key")
                        .long("key")
                        .value_name("KEY.pem")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("PEM private key (PKCS#8, unencrypted): Ed25519, ECDSA P-256 or RSA (2048-4096 bits)"),
                )
                .arg(
                    Arg::new("source-date-epoch")
                        .long("source-date-epoch")
                        .value_name("SECONDS")
                        .value_parser(clap::value_parser!(u64))
                        .help("Time stamp of every member (default: $SOURCE_DATE_EPOCH, else the time the image's members have)"),
                )
                .arg(verbose_arg()),
        )
        .subcommand(
            Command::new("diff")
                .about("List members added, removed and changed between two images, with line diffs of text files (exit 0: identical, 1: different, 2: trouble; -q: print nothing, as cmp -s)")
                .arg(path_arg("a", "A", "First image"))
                .arg(path_arg("b", "B", "Second image"))
                .arg(json_arg())
                .arg(
                    Arg::new("exit-code")
                        .long("exit-code")
                        .action(ArgAction::SetTrue)
                        .help("Accepted for compatibility; diff always exits 1 when the images differ"),
                ),
        )
        .subcommand(
            Command::new("extract")
                .about("Extract an image file into an existing directory")
                .arg(image_arg("Image file"))
                .arg(path_arg("dest", "DESTDIR", "Existing directory"))
                .arg(verbose_arg()),
        )
        .subcommand(
            Command::new("extract-config")
                .about("Extract everything but the disk files (disk/) into an existing directory")
                .arg(image_arg("Image file"))
                .arg(path_arg("dest", "DESTDIR", "Existing directory"))
                .arg(verbose_arg()),
        )
        .subcommand(
            Command::new("extract-disk-file")
                .about("Write disk file DISKFILE (a member of disk/) to standard output")
                .arg(image_arg("Image file or directory"))
                .arg(Arg::new("name").value_name("DISKFILE").required(true).help("Name under disk/")),
        )
        .subcommand(
            Command::new("dump-xenconfig")
                .about("Print the xen configuration: guest.cfg, then each guest.d file under a line naming it")
                .arg(image_arg("Image file or directory"))
                .arg(
                    Arg::new("merged")
                        .long("merged")
                        .action(ArgAction::SetTrue)
                        .conflicts_with("json")
                        .help("Print only the configuration xl gets on the host (guest.cfg followed by the guest.d files, no header)"),
                )
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("dump-diskconfig")
                .about("Print the disk configuration (disk.cfg)")
                .arg(image_arg("Image file or directory"))
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("dump-paramsconfig")
                .about("Print the guest parameters (params.cfg)")
                .arg(image_arg("Image file or directory"))
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("dump-init")
                .about("Print the init scripts in the order the host runs them (init.pre, init.d, init.post), then the health checks (health.d, when there are any), each under its name")
                .arg(image_arg("Image file or directory"))
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("build")
                .about("Build an image file from a per-guest TOML description and/or --set values, reproducibly")
                .arg(
                    Arg::new("spec")
                        .value_name("GUEST.toml")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Guest description; relative paths in it are relative to its directory (optional with --set)"),
                )
                .arg(
                    Arg::new("output")
                        .short('o')
                        .long("output")
                        .value_name("OUT")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("Image file to write (default: GUEST.xenguest in the current directory); OUT.sha256 is written beside it"),
                )
                .arg(
                    Arg::new("define")
                        .short('D')
                        .long("define")
                        .value_name("NAME=VALUE")
                        .action(ArgAction::Append)
                        .help("Replace ${NAME} in the TOML's strings with VALUE (repeatable; the environment is never read)"),
                )
                .arg(
                    Arg::new("force")
                        .short('f')
                        .long("force")
                        .action(ArgAction::SetTrue)
                        .help("Replace OUT if it exists (without it, an existing OUT is an error)"),
                )
                .arg(
                    Arg::new("set")
                        .long("set")
                        .value_name("KEY=VALUE")
                        .action(ArgAction::Append)
                        .allow_hyphen_values(true)
                        .help(format!(
                            "Give TOML key KEY the value VALUE, checked as the TOML's would be (repeatable). A setting (guest.memory=512) replaces the TOML's value; params.NAME=VALUE sets a parameter (empty: removes it); a list key ({}) takes one item in its option's syntax and adds it. Values are literal (no ${{NAME}}); relative paths are relative to the current directory",
                            crate::ops::LIST_KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                        )),
                )
                .arg(
                    Arg::new("print-inputs")
                        .long("print-inputs")
                        .action(ArgAction::SetTrue)
                        .help("Print the input files the description reads, one per line, and write nothing"),
                )
                .arg(epoch_arg())
                .arg(verbose_arg())
                .arg(
                    Arg::new("compress")
                        .long("compress")
                        .value_name("METHOD")
                        .value_parser(["none", "gzip"])
                        .default_value("none")
                        .help("Compress the image file (gzip: deterministic, no name or time in the header)"),
                )
                .arg(sign_key_arg(
                    "Sign the image with this PEM private key (PKCS#8, unencrypted): Ed25519, ECDSA P-256 or RSA",
                )),
        )
        .subcommand(
            Command::new("export")
                .about("Write a guest.toml and the files it names, from which `build` makes an equivalent image")
                .arg(image_arg("Image file or directory"))
                .arg(path_arg("dest", "DIR", "Directory to write (created if missing; must be empty)"))
                .arg(verbose_arg()),
        )
}

/// Runs the tool with `args` (including the program name) and returns the
/// exit code: 0 success, 1 error, 2 usage error.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    // The classic tool read `OPERATION help` and `OPERATION -?` as a
    // request for help, not as an image called `help`.
    if args.len() >= 3 && (args[2] == "help" || args[2] == "-?") {
        args[2] = "--help".into();
    }
    // `--json` asks for JSON also when the command line itself is wrong.
    let json_usage = args.iter().skip(2).any(|a| a == "--json");
    let named = args
        .get(1)
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let matches = match command()
        .subcommand(crate::generate::command())
        .try_get_matches_from(args)
    {
        Ok(m) => m,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // No operation at all: the help, as a usage error.
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) if e.use_stderr() => {
            // Same prefix as every other error (clap's text starts `error:`).
            let text = e.render().to_string();
            eprint!("xenguest-mkimage: {text}");
            if json_usage {
                let first = text.lines().next().unwrap_or_default();
                commands::print_json_error(&named, first.strip_prefix("error: ").unwrap_or(first));
            }
            return ExitCode::from(2);
        }
        Err(e) => {
            // --help, --version: not an error.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    crate::interrupt::install();
    let (name, json) = matches.subcommand().map_or(("", false), |(name, sub)| {
        (
            name,
            sub.try_get_one::<bool>("json").ok().flatten().copied().unwrap_or(false),
        )
    });
    match dispatch(&matches) {
        Ok(code) => ExitCode::from(code),
        Err(_) if crate::interrupt::requested() => {
            eprintln!("xenguest-mkimage: interrupted; nothing was left half-written");
            if json {
                commands::print_json_error(name, "interrupted");
            }
            ExitCode::from(crate::interrupt::EXIT_CODE)
        }
        // A reader that stopped reading (`dump-init IMG | head -1`): no
        // message, and the status of a tool that SIGPIPE ends (128 + 13).
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(141),
        Err(e) => {
            commands::report(&e);
            if json {
                commands::print_json_error(name, &e.full_message());
            }
            // diff, like diff(1) and cmp(1), keeps 1 for "different".
            ExitCode::from(if name == "diff" { 2 } else { e.exit_code() })
        }
    }
}

/// The image-modifying options of `m`, in command-line order, as ops.
pub fn ordered_ops(m: &ArgMatches) -> Result<Vec<Op>> {
    let mut found: Vec<(usize, &str, Option<String>)> = Vec::new();
    for def in options() {
        let Some(indices) = m.indices_of(def.name) else {
            continue;
        };
        match def.arity {
            // A count has a default (0) with an index of its own: only
            // occurrences on the command line count.
            Arity::Flag if m.get_count(def.name) == 0 => {}
            Arity::Flag => found.extend(indices.map(|i| (i, def.name, None))),
            Arity::Value => {
                let values = m.get_raw(def.name).into_iter().flatten();
                for (index, raw) in indices.zip(values) {
                    let value = raw.to_str().ok_or_else(|| {
                        Error::invalid(format!("--{}", def.name), raw.to_string_lossy(), "not valid UTF-8")
                    })?;
                    found.push((index, def.name, Some(value.to_owned())));
                }
            }
        }
    }
    found.sort_by_key(|(i, _, _)| *i);
    found
        .into_iter()
        .map(|(_, name, value)| Op::parse(name, value.as_deref()))
        .collect()
}

fn source_date_epoch(m: &ArgMatches) -> Result<u64> {
    Ok(explicit_source_date_epoch(m)?.unwrap_or(crate::image::writer::DEFAULT_MTIME))
}

/// The signing key named by option `id`, loaded before any image is opened.
fn sign_key(m: &ArgMatches, id: &str) -> Result<Option<Arc<SigningKey>>> {
    m.try_get_one::<PathBuf>(id)
        .ok()
        .flatten()
        .map(|p| SigningKey::load(p, &format!("--{id}")).map(Arc::new))
        .transpose()
}

/// `--source-date-epoch`, else `SOURCE_DATE_EPOCH`, else `None`.
fn explicit_source_date_epoch(m: &ArgMatches) -> Result<Option<u64>> {
    // Larger times need base-256 header fields: GNU tar on the host then
    // fails (`out of time_t range`) and busybox cannot read them.
    const MAX_OCTAL_MTIME: u64 = 0o777_7777_7777;
    let (source, value) = if let Some(v) = m.try_get_one::<u64>("source-date-epoch").ok().flatten() {
        ("--source-date-epoch", *v)
    } else {
        match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => (
                "SOURCE_DATE_EPOCH",
                v.parse()
                    .map_err(|_| Error::invalid("SOURCE_DATE_EPOCH", v, "not a number of seconds since 1970"))?,
            ),
            _ => return Ok(None),
        }
    };
    if value > MAX_OCTAL_MTIME {
        return Err(Error::invalid(
            source,
            value.to_string(),
            format!("after {MAX_OCTAL_MTIME} (year 2242), the largest time a tar header holds in octal"),
        ));
    }
    Ok(Some(value))
}

fn path<'a>(m: &'a ArgMatches, id: &str) -> &'a PathBuf {
    m.get_one::<PathBuf>(id).expect("required argument")
}

fn dispatch(matches: &ArgMatches) -> Result<u8> {
    let (name, m) = matches.subcommand().expect("subcommand_required");
    if name == "generate" {
        return crate::generate::run(m, command).map(|()| 0);
    }
    let g = Global {
        quiet: m.get_flag("quiet"),
        verbose: m
            .try_get_one::<bool>("verbose")
            .ok()
            .flatten()
            .copied()
            .unwrap_or(false),
        json: m.try_get_one::<bool>("json").ok().flatten().copied().unwrap_or(false),
    };
    match name {
        "create" | "update" | "partial" => {
            let ops = ordered_ops(m)?;
            let mtime = source_date_epoch(m)?;
            let image = path(m, "image");
            match name {
                "create" => commands::create(g, image, &ops, mtime, sign_key(m, "sign-key")?.as_ref()),
                "update" => commands::update(g, image, &ops, mtime, sign_key(m, "sign-key")?.as_ref()),
                _ => commands::partial(g, image, &ops),
            }
            .map(|()| 0)
        }
        "pack" => commands::pack(
            g,
            path(m, "image"),
            path(m, "dest"),
            source_date_epoch(m)?,
            sign_key(m, "sign-key")?.as_ref(),
        )
        .map(|()| 0),
        "check" => commands::check(g, path(m, "image")).map(|ok| u8::from(!ok)),
        "info" => commands::info(g, path(m, "image")).map(|()| 0),
        "verify" => {
            let files: Vec<PathBuf> = m.get_many::<PathBuf>("key").into_iter().flatten().cloned().collect();
            let dirs: Vec<PathBuf> = m.get_many::<PathBuf>("trust").into_iter().flatten().cloned().collect();
            let trusted = TrustedKeys::load(&files, &dirs)?;
            commands::verify(g, path(m, "image"), &trusted).map(|ok| u8::from(!ok))
        }
        "sign" => {
            let key = sign_key(m, "key")?.expect("required argument");
            commands::sign(g, path(m, "image"), &key, explicit_source_date_epoch(m)?).map(|()| 0)
        }
        // Like diff(1) and cmp(1): 0 identical, 1 different (errors: 2).
        "diff" => commands::diff(g, path(m, "a"), path(m, "b")).map(|same| u8::from(!same)),
        "extract" => commands::extract(g, path(m, "image"), path(m, "dest"), false).map(|()| 0),
        "extract-config" => commands::extract(g, path(m, "image"), path(m, "dest"), true).map(|()| 0),
        "extract-disk-file" => {
            commands::extract_disk_file(path(m, "image"), m.get_one::<String>("name").expect("required")).map(|()| 0)
        }
        "dump-xenconfig" | "dump-diskconfig" | "dump-paramsconfig" | "dump-init" => {
            let what = match name {
                "dump-xenconfig" => Dump::Xen {
                    merged: m.get_flag("merged"),
                },
                "dump-diskconfig" => Dump::Disk,
                "dump-paramsconfig" => Dump::Params,
                _ => Dump::Init,
            };
            commands::dump(g, what, path(m, "image")).map(|()| 0)
        }
        "build" => {
            let mut defines = BTreeMap::new();
            for d in m.get_many::<String>("define").into_iter().flatten() {
                let (k, v) = d
                    .split_once('=')
                    .ok_or_else(|| Error::Usage(format!("`--define {d}`: expected NAME=VALUE")))?;
                if k.is_empty() {
                    return Err(Error::Usage(format!("`--define {d}`: the name is empty")));
                }
                defines.insert(k.to_owned(), v.to_owned());
            }
            let spec_path = m.get_one::<PathBuf>("spec");
            let mut spec = match spec_path {
                Some(p) => GuestSpec::load(p)?,
                None => GuestSpec::default(),
            };
            for assignment in m.get_many::<String>("set").into_iter().flatten() {
                spec.set(assignment)?;
            }
            // Messages about a description given only by --set name it so.
            let shown = spec_path.map_or_else(|| PathBuf::from("--set"), PathBuf::clone);
            if m.get_flag("print-inputs") {
                let out = &mut std::io::stdout().lock();
                for input in spec.inputs(&shown, &defines)? {
                    std::io::Write::write_all(out, format!("{}\n", input.display()).as_bytes())
                        .map_err(|e| Error::io("cannot write to", "standard output", e))?;
                }
                return Ok(0);
            }
            let output = m.get_one::<PathBuf>("output").map(PathBuf::as_path);
            if spec_path.is_none() && output.is_none() {
                return Err(Error::Usage(
                    "`build` without GUEST.toml needs `-o OUT`: there is no file name to derive it from".into(),
                ));
            }
            let compression = match m.get_one::<String>("compress").map(String::as_str) {
                Some("gzip") => Compression::Gzip,
                _ => Compression::None,
            };
            let output = commands::BuildOutput {
                path: output,
                force: m.get_flag("force"),
            };
            let options =
                commands::file_options(g, source_date_epoch(m)?, compression, sign_key(m, "sign-key")?.as_ref());
            commands::build(g, &spec, &shown, &output, &defines, &options).map(|()| 0)
        }
        "export" => commands::export(g, path(m, "image"), path(m, "dest")).map(|()| 0),
        other => Err(Error::Usage(format!("unknown operation `{other}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(args: &[&str]) -> Result<Vec<Op>> {
        let m = command()
            .try_get_matches_from(args)
            .map_err(|e| Error::Usage(e.to_string()))?;
        ordered_ops(m.subcommand().unwrap().1)
    }

    #[test]
    fn options_keep_command_line_order() {
        let got = ops(&[
            "x",
            "create",
            "img",
            "--xen-extra=a",
            "--xen-clean-extra",
            "--xen-memory=12",
            "--xen-extra=b",
            "--xen-name=",
        ])
        .unwrap();
        assert_eq!(
            got,
            vec![
                Op::XenExtra("a".into()),
                Op::XenCleanExtra,
                Op::parse("xen-memory", Some("12")).unwrap(),
                Op::XenExtra("b".into()),
                Op::parse("xen-name", Some("")).unwrap(),
            ]
        );
    }

    #[test]
    fn missing_and_extra_values_are_usage_errors() {
        assert!(matches!(
            ops(&["x", "update", "img", "--xen-memory"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            ops(&["x", "update", "img", "--xen-clean-extra=1"]),
            Err(Error::Usage(_))
        ));
        assert!(ops(&["x", "update", "img", "--no-such-option"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
