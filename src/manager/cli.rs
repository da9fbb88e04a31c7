//! The manager's command line: options and actions, declared once with
//! clap's derive. The same definition parses the arguments, prints
//! `--help` and makes the man pages and completions
//! (`xenguest-mkimage generate`).

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, Parser, Subcommand};

use super::config;

const ABOUT: &str = "Create, start, stop and remove Xen guests from xenguest images (run in Dom0)";

fn after_help() -> String {
    let mut s = String::from("Configuration keys (KEY=\"VALUE\" lines, read without a shell):\n");
    for k in config::KEYS {
        let _ = write!(
            s,
            "  {} (default: {})\n      {}\n",
            k.name,
            if k.default.is_empty() { "empty" } else { k.default },
            k.doc
        );
    }
    s.push_str(
        "\nEvery action but help and --version needs root and first checks `xl info`. Errors go to \
         stderr and the log \
         (/var/log/xenguest); exit status 0 on success, 1 on error, 2 on usage errors, 130 when \
         SIGINT or SIGTERM stopped it (what a create had made is removed).",
    );
    s
}

// Comments, not doc comments, on the derived items: clap would turn doc
// comments into help text, which the `help` and `about` attributes give.

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(
    name = "xenguest-manager",
    version = crate::VERSION,
    about = ABOUT,
    after_help = after_help(),
    subcommand_value_name = "ACTION",
    subcommand_help_heading = "Actions",
    arg_required_else_help = true
)]
pub(super) struct Cli {
    #[arg(
        short = 'v',
        action = ArgAction::Count,
        global = true,
        help = "Log more to the log file: -v INFO, -vv VERBOSE (the terminal shows errors only)"
    )]
    pub(super) verbose: u8,
    #[arg(
        long,
        value_name = "FILE",
        global = true,
        help = "Configuration file (default: $XENGUEST_MANAGER_CONF, else \
                ROOT/etc/xenguest/xenguest-manager.conf)"
    )]
    pub(super) config: Option<PathBuf>,
    #[arg(
        long,
        value_name = "DIR",
        global = true,
        help = "Prefix of every host path the manager reads or writes itself: configuration, guest \
                store, init directories, log, lock, image and disk directories (default: \
                $XENGUEST_MANAGER_ROOT, else /; devices are not prefixed)"
    )]
    pub(super) root: Option<PathBuf>,
    #[command(subcommand)]
    pub(super) action: Action,
}

/// An action and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub(super) enum Action {
    #[command(about = "Verify an image and create its guest: configuration, disk, partitions, contents")]
    Create {
        #[arg(value_name = "FILE", help = "The image (NAME.xenguest; a symbolic link is followed)")]
        file: PathBuf,
        #[arg(value_name = "NAME", help = "Guest name (default: FILE's name without .xenguest)")]
        name: Option<String>,
        #[arg(
            long,
            help = "Replace a logical volume or disk file of the guest's name that no guest owns \
                    (left by a create that crashed); without it, create refuses to touch it"
        )]
        replace_disk: bool,
        #[arg(
            long = "keep",
            value_name = "N",
            value_parser = clap::value_parser!(u8).range(1..=4),
            help = "Mark partition N as kept data (DISK_PARTn_KEEP=\"1\"): updates carry its content \
                    over instead of re-imaging it (repeatable)"
        )]
        keep: Vec<u8>,
    },
    #[command(
        about = "Install a new image of a guest beside the running version, switch to it and keep it \
                 only if it confirms its health; otherwise go back to the previous version"
    )]
    Update {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
        #[arg(value_name = "FILE", help = "The new image (verified as create verifies)")]
        file: PathBuf,
        #[arg(long, help = "Destroy the running version if its shutdown fails (as stop --kill)")]
        kill: bool,
        #[arg(
            long,
            help = "Install an image whose metadata names another guest than the installed one"
        )]
        any_name: bool,
        #[arg(
            long,
            help = "Commit once the new version has started, without waiting for its health"
        )]
        no_health_check: bool,
        #[arg(
            long = "keep",
            value_name = "N",
            value_parser = clap::value_parser!(u8).range(1..=4),
            help = "Also carry partition N over as kept data (repeatable)"
        )]
        keep: Vec<u8>,
    },
    #[command(about = "Go back to the version before the last update (its disk as it was then)")]
    Rollback {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
        #[arg(long, help = "Destroy the running version if its shutdown fails (as stop --kill)")]
        kill: bool,
    },
    #[command(about = "List a guest's versions: image digest, signer, dates, state")]
    History {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
        #[arg(long, help = "Print JSON (schema in docs/json.md)")]
        json: bool,
    },
    #[command(about = "Destroy the guest if it runs, remove its disk and its directory")]
    Remove {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
    },
    #[command(about = "Run init.pre, create the guest paused, run init.d, unpause it, run init.post")]
    Start {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
    },
    #[command(
        visible_alias = "shutdown",
        about = "Shut the guest down and wait for it (xl shutdown -w)"
    )]
    Stop {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
        #[arg(long, conflicts_with = "kill", help = "Do not wait for the guest to stop")]
        nowait: bool,
        #[arg(long, help = "Destroy the guest if the shutdown fails")]
        kill: bool,
    },
    #[command(visible_alias = "destroy", about = "Destroy the guest at once (xl destroy)")]
    Kill {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: String,
    },
    #[command(about = "List the guests, one name per line")]
    List {
        #[arg(long, help = "Print JSON (schema in docs/manager.md)")]
        json: bool,
    },
    #[command(about = "Show `NAME Running` or `NAME Stopped` for one guest or all")]
    Status {
        #[arg(value_name = "NAME", help = "Guest name")]
        name: Option<String>,
        #[arg(long, help = "Print JSON (schema in docs/manager.md)")]
        json: bool,
    },
    #[command(about = "Exit 0 if `xl info` succeeds (a usable Xen host)")]
    CheckXen,
    #[command(about = "At boot: create each XENGUEST_GUEST_DIR/*.xenguest not created yet, \
                 then start every guest whose GUEST_AUTOBOOT is not 0")]
    BootStart,
    #[command(about = "At shutdown: `stop NAME --kill` for every running guest")]
    BootStop,
}

impl Action {
    /// The action's name on the command line (log lines, JSON documents).
    pub(super) fn name(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Remove { .. } => "remove",
            Action::Start { .. } => "start",
            Action::Stop { .. } => "stop",
            Action::Kill { .. } => "kill",
            Action::Update { .. } => "update",
            Action::Rollback { .. } => "rollback",
            Action::History { .. } => "history",
            Action::List { .. } => "list",
            Action::Status { .. } => "status",
            Action::CheckXen => "check-xen",
            Action::BootStart => "boot-start",
            Action::BootStop => "boot-stop",
        }
    }

    /// Whether the action prints JSON (`--json`).
    pub(super) fn json(&self) -> bool {
        matches!(
            self,
            Action::List { json: true } | Action::Status { json: true, .. } | Action::History { json: true, .. }
        )
    }

    /// The guest a changing action works on: an interrupted update or
    /// rollback of it is finished or undone first.
    pub(super) fn guest(&self) -> Option<&str> {
        match self {
            Action::Remove { name }
            | Action::Start { name }
            | Action::Stop { name, .. }
            | Action::Kill { name }
            | Action::Update { name, .. }
            | Action::Rollback { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Whether the action changes guests and so holds the lock.
    pub(super) fn changes(&self) -> bool {
        !matches!(
            self,
            Action::List { .. } | Action::Status { .. } | Action::History { .. } | Action::CheckXen
        )
    }
}

/// The clap command (help, man pages, completions).
pub(super) fn command() -> clap::Command {
    Cli::command()
}

/// What `update` was asked beyond the guest and the image.
#[derive(Debug, Clone, Default)]
pub(super) struct UpdateOptions {
    /// Destroy the old version if its shutdown fails (as `stop --kill`).
    pub(super) kill: bool,
    /// Accept an image whose metadata names another guest.
    pub(super) any_name: bool,
    /// Commit once the new version started, without waiting for health.
    pub(super) no_health_check: bool,
    /// Partitions to mark as kept data (`--keep N`).
    pub(super) keep: Vec<u8>,
}
