//! `xenguest-manager`: creates, starts and stops Xen guests from xenguest
//! images on the host (Dom0). A drop-in successor of the classic layer's
//! bash manager (same command line, configuration file, guest store, init
//! directories, log and disk layout; see docs/manager.md), built on this
//! library: images are opened by [`crate::image::reader`], judged by
//! [`crate::admit::admit`] (the function `check`, the writers and `verify`
//! use) under the host's [`config::Config::policy`], and unpacked by
//! [`crate::image::writer`].
//!
//! - [`config`]: the configuration file and every host path;
//! - [`store`]: the guest store `/etc/xenguest/guests/NAME/`;
//! - [`disk`]: logical volumes or sparse files, partitions and contents;
//! - [`init`]: the init scripts' contract;
//! - [`xl`]: Xen's toolstack;
//! - [`net`]: the guests' networks on the host;
//! - [`run`](mod@run): external tools, always from argument vectors;
//! - [`log`]: the log file.
//!
//! The command line is `cli` (one enum of actions); each action family
//! has its own file: `create`, `lifecycle` (start, stop, kill), `remove`,
//! `query` (list, status) and `boot` (boot-start, boot-stop); `classic`
//! adopts the guests the classic manager created.

mod boot;
mod classic;
mod cli;
pub mod config;
mod create;
pub mod disk;
pub mod init;
mod lifecycle;
pub mod lock;
pub mod log;
pub mod net;
mod query;
mod remove;
pub mod run;
pub mod store;
mod update;
pub mod versions;
pub mod xl;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use self::cli::{Action, Cli};
use self::config::{Config, Paths};
use self::log::{Level, Log};
use self::run::Runner;
use self::store::Store;
use crate::error::{Error, Result};

/// The clap command: what parses the command line, prints `--help` and
/// makes the man pages and completions.
pub fn command() -> clap::Command {
    cli::command()
}

/// Runs the manager with `args` (the program name first).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) if e.use_stderr() => {
            eprint!("xenguest-manager: {}", e.render());
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    crate::interrupt::install();
    let mut log_for_errors = None;
    let result = require_root().and_then(|()| Manager::new(&cli)).and_then(|m| {
        log_for_errors = Some(m.log.clone());
        m.dispatch(&cli.action)
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = e.full_message();
            if let Some(log) = log_for_errors {
                log.error(&msg);
            }
            eprintln!("xenguest-manager: error: {msg}");
            // In JSON mode a failure is a JSON document too (docs/manager.md).
            if cli.action.json() {
                println!("{}", document(cli.action.name(), json!({ "ok": false, "error": msg })));
            }
            if crate::interrupt::requested() {
                ExitCode::from(crate::interrupt::EXIT_CODE)
            } else {
                ExitCode::from(e.exit_code())
            }
        }
    }
}

/// Every action works on root's guests, devices and Xen: a user other
/// than root is told so before the manager reads its configuration or
/// runs anything (help and `--version` need no root; clap answered them
/// already). There is no way around it, for tests neither: the stand-in
/// tests run as root with `--root` prefixing the manager's own paths.
fn require_root() -> Result<()> {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "must run as root (effective user id {}): the manager creates guests' disks, runs their init \
             scripts and drives Xen - run it as root, e.g. with sudo",
            euid.as_raw()
        )))
    }
}

/// Version of the layout of the JSON documents (docs/manager.md).
pub const JSON_SCHEMA: u32 = 1;

/// A JSON document of `command`: `schema` and `command`, then `fields`.
fn document(command: &str, fields: serde_json::Value) -> serde_json::Value {
    crate::json::document(JSON_SCHEMA, command, fields)
}

/// Everything an action needs.
struct Manager {
    paths: Paths,
    config: Config,
    log: Log,
    runner: Runner,
    store: Store,
    /// The output of `xl info`, read once before each action.
    xl_info: std::cell::OnceCell<String>,
}

impl Manager {
    fn new(cli: &Cli) -> Result<Manager> {
        let root = cli
            .root
            .clone()
            .or_else(|| {
                std::env::var_os(config::ENV_ROOT)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("/"));
        let paths = Paths::new(&root);
        let explicit = cli.config.clone().or_else(|| {
            std::env::var_os(config::ENV_CONF)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let config = match &explicit {
            Some(path) => Config::load(path, true)?,
            None => Config::load(&paths.host(Path::new(config::DEFAULT_CONF)), false)?,
        };
        // The network keys are checked at once too, so a bad value fails
        // every action, naming the key.
        net::Host::from_config(&config)?;
        let verbose = match cli.verbose {
            0 => Level::Error,
            1 => Level::Info,
            _ => Level::Verbose,
        };
        let log = Log::new(paths.log.clone(), config.log_level()?.max(verbose));
        let mut env = Vec::new();
        // Without udev (a minimal Dom0), LVM must create its device nodes
        // itself instead of waiting for udev to do it.
        if std::env::var_os("DM_DISABLE_UDEV").is_none() && !paths.host(Path::new("/run/udev/control")).exists() {
            env.push((OsString::from("DM_DISABLE_UDEV"), OsString::from("1")));
        }
        let runner = Runner::new(log.clone(), env);
        let store = Store::new(paths.guests.clone());
        Ok(Manager {
            paths,
            config,
            log,
            runner,
            store,
            xl_info: std::cell::OnceCell::new(),
        })
    }

    fn dispatch(&self, action: &Action) -> Result<()> {
        self.log.info(&format!("action: {}", action.name()));
        let info = xl::check_info(&self.runner)?;
        let _ = self.xl_info.set(info);
        let _lock = if action.changes() { Some(self.lock()?) } else { None };
        // Under the lock, an update or rollback of the guest that is
        // pending was interrupted: finished or undone before anything else.
        if let Some(name) = action.guest() {
            if store::check_name(name).is_ok() {
                self.recover(name, false)?;
            }
        }
        match action {
            Action::CheckXen => Ok(()),
            Action::Create {
                file,
                name,
                replace_disk,
                keep,
            } => self.create(file, name.as_deref(), keep, *replace_disk),
            Action::Update {
                name,
                file,
                kill,
                any_name,
                no_health_check,
                keep,
            } => self.update(
                name,
                file,
                &cli::UpdateOptions {
                    kill: *kill,
                    any_name: *any_name,
                    no_health_check: *no_health_check,
                    keep: keep.clone(),
                },
            ),
            Action::Rollback { name, kill } => self.rollback(name, *kill),
            Action::History { name, json } => self.history(name, *json),
            Action::Remove { name } => self.remove(name),
            Action::Start { name } => self.start(name),
            Action::Stop { name, nowait, kill } => self.stop(name, *nowait, *kill),
            Action::Kill { name } => self.kill(name),
            Action::List { json } => self.list(*json),
            Action::Status { name, json } => self.status(name.as_deref(), *json),
            Action::BootStart => self.boot_start(),
            Action::BootStop => self.boot_stop(),
        }
    }

    /// Takes the lock every changing action holds, waiting for another
    /// manager to finish (see [`lock`]).
    fn lock(&self) -> Result<lock::Lock> {
        lock::acquire(&self.paths.lock, &self.log)
    }
}

/// Ends a loop over guests once a signal asked the manager to stop.
fn stop_if_interrupted(action: &str) -> Result<()> {
    if crate::interrupt::requested() {
        Err(Error::Refused(format!("{action}: interrupted by a signal")))
    } else {
        Ok(())
    }
}

fn stdout_error(e: io::Error) -> Error {
    Error::io("cannot write to", "standard output", e)
}
