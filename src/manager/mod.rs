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
//! - [`run`]: external tools, always from argument vectors;
//! - [`log`]: the log file.

pub mod config;
pub mod disk;
pub mod init;
pub mod lock;
pub mod log;
pub mod net;
pub mod run;
pub mod store;
pub mod xl;

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::json;

use self::config::{Config, Paths};
use self::log::{Level, Log};
use self::run::Runner;
use self::store::{Disk, Store};
use crate::admit::{self, Candidate, Stored};
use crate::config::XlValue;
use crate::error::{Error, IoContext, Result};
use crate::image::reader::{self, Form, Opened};
use crate::image::{writer, Stage};
use crate::progress::Progress;

const ABOUT: &str = "Create, start, stop and remove Xen guests from xenguest images (run in Dom0)";

fn name_arg(required: bool) -> Arg {
    Arg::new("name")
        .value_name("NAME")
        .required(required)
        .help("Guest name")
}

fn json_arg() -> Arg {
    Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("Print JSON (schema in docs/manager.md)")
}

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
        "\nEvery action but help first checks `xl info`. Errors go to stderr and the log \
         (/var/log/xenguest); exit status 0 on success, 1 on error, 2 on usage errors, 130 when \
         SIGINT or SIGTERM stopped it (what a create had made is removed).",
    );
    s
}

/// The clap command.
pub fn command() -> Command {
    Command::new("xenguest-manager")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .after_help(after_help())
        .subcommand_value_name("ACTION")
        .subcommand_help_heading("Actions")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::Count)
                .global(true)
                .help("Log more to the log file: -v INFO, -vv VERBOSE (the terminal shows errors only)"),
        )
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .global(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Configuration file (default: $XENGUEST_MANAGER_CONF, else \
                     ROOT/etc/xenguest/xenguest-manager.conf)",
                ),
        )
        .arg(
            Arg::new("root")
                .long("root")
                .value_name("DIR")
                .global(true)
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Prefix of every host path the manager reads or writes itself: configuration, guest \
                     store, init directories, log, lock, image and disk directories (default: \
                     $XENGUEST_MANAGER_ROOT, else /; devices are not prefixed)",
                ),
        )
        .subcommand(
            Command::new("create")
                .about("Verify an image and create its guest: configuration, disk, partitions, contents")
                .arg(
                    Arg::new("file")
                        .value_name("FILE")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf))
                        .help("The image (NAME.xenguest; a symbolic link is followed)"),
                )
                .arg(name_arg(false).help("Guest name (default: FILE's name without .xenguest)"))
                .arg(
                    Arg::new("replace_disk")
                        .long("replace-disk")
                        .action(ArgAction::SetTrue)
                        .help(
                            "Replace a logical volume or disk file of the guest's name that no guest owns \
                             (left by a create that crashed); without it, create refuses to touch it",
                        ),
                ),
        )
        .subcommand(
            Command::new("remove")
                .about("Destroy the guest if it runs, remove its disk and its directory")
                .arg(name_arg(true)),
        )
        .subcommand(
            Command::new("start")
                .about("Run init.pre, create the guest paused, run init.d, unpause it, run init.post")
                .arg(name_arg(true)),
        )
        .subcommand(
            Command::new("stop")
                .visible_alias("shutdown")
                .about("Shut the guest down and wait for it (xl shutdown -w)")
                .arg(name_arg(true))
                .arg(
                    Arg::new("nowait")
                        .long("nowait")
                        .action(ArgAction::SetTrue)
                        .conflicts_with("kill")
                        .help("Do not wait for the guest to stop"),
                )
                .arg(
                    Arg::new("kill")
                        .long("kill")
                        .action(ArgAction::SetTrue)
                        .help("Destroy the guest if the shutdown fails"),
                ),
        )
        .subcommand(
            Command::new("kill")
                .visible_alias("destroy")
                .about("Destroy the guest at once (xl destroy)")
                .arg(name_arg(true)),
        )
        .subcommand(
            Command::new("list")
                .about("List the guests, one name per line")
                .arg(json_arg()),
        )
        .subcommand(
            Command::new("status")
                .about("Show `NAME Running` or `NAME Stopped` for one guest or all")
                .arg(name_arg(false))
                .arg(json_arg()),
        )
        .subcommand(Command::new("check-xen").about("Exit 0 if `xl info` succeeds (a usable Xen host)"))
        .subcommand(Command::new("boot-start").about(
            "At boot: create each XENGUEST_GUEST_DIR/*.xenguest not created yet (unless GUEST_AUTOBOOT=\"0\"), \
             then start every guest whose GUEST_AUTOBOOT is not 0",
        ))
        .subcommand(Command::new("boot-stop").about("At shutdown: `stop NAME --kill` for every running guest"))
}

/// Runs the manager with `args` (the program name first).
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
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
    let result = Manager::new(&matches).and_then(|m| {
        log_for_errors = Some(m.log.clone());
        m.dispatch(&matches)
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
            if let Some((action, sub)) = matches.subcommand() {
                if sub.try_get_one::<bool>("json").ok().flatten() == Some(&true) {
                    println!("{}", document(action, json!({ "ok": false, "error": msg })));
                }
            }
            if crate::interrupt::requested() {
                ExitCode::from(crate::interrupt::EXIT_CODE)
            } else {
                ExitCode::from(e.exit_code())
            }
        }
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
}

impl Manager {
    fn new(m: &ArgMatches) -> Result<Manager> {
        let root = m
            .get_one::<PathBuf>("root")
            .cloned()
            .or_else(|| {
                std::env::var_os(config::ENV_ROOT)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("/"));
        let paths = Paths::new(&root);
        let explicit = m.get_one::<PathBuf>("config").cloned().or_else(|| {
            std::env::var_os(config::ENV_CONF)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let config = match &explicit {
            Some(path) => Config::load(path, true)?,
            None => Config::load(&paths.host(Path::new(config::DEFAULT_CONF)), false)?,
        };
        let verbose = match m.get_count("verbose") {
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
        })
    }

    fn dispatch(&self, m: &ArgMatches) -> Result<()> {
        let (action, sub) = m.subcommand().expect("clap requires an action");
        self.log.info(&format!("action: {action}"));
        if !xl::info(&self.runner)? {
            return Err(Error::Refused(
                "Xen environment is not valid: `xl info` failed - run the manager in a Xen control domain (Dom0) with the toolstack started".into(),
            ));
        }
        let name = || sub.get_one::<String>("name").map(String::as_str);
        let json = || sub.get_flag("json");
        match action {
            "check-xen" => Ok(()),
            "create" => {
                let _lock = self.lock()?;
                let file = sub.get_one::<PathBuf>("file").expect("required");
                self.create(file, name(), sub.get_flag("replace_disk"))
            }
            "remove" => {
                let _lock = self.lock()?;
                self.remove(name().expect("required"))
            }
            "start" => {
                let _lock = self.lock()?;
                self.start(name().expect("required"))
            }
            "stop" => {
                let _lock = self.lock()?;
                self.stop(name().expect("required"), sub.get_flag("nowait"), sub.get_flag("kill"))
            }
            "kill" => {
                let _lock = self.lock()?;
                self.kill(name().expect("required"))
            }
            "list" => self.list(json()),
            "status" => self.status(name(), json()),
            "boot-start" => {
                let _lock = self.lock()?;
                self.boot_start()
            }
            "boot-stop" => {
                let _lock = self.lock()?;
                self.boot_stop()
            }
            other => unreachable!("unknown action {other}"),
        }
    }

    /// Takes the lock every changing action holds, waiting for another
    /// manager to finish (see [`lock`]).
    fn lock(&self) -> Result<lock::Lock> {
        lock::acquire(&self.paths.lock, &self.log)
    }

    /// The keys of `XENGUEST_TRUSTED_KEYS` (`None` when unset).
    fn trusted_keys(&self) -> Result<Option<crate::signature::TrustedKeys>> {
        let configured = self.config.trusted_keys();
        if configured.is_empty() {
            return Ok(None);
        }
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        for p in configured {
            let host = self.paths.host(&p);
            if host.is_dir() {
                dirs.push(host);
            } else {
                files.push(host);
            }
        }
        crate::signature::TrustedKeys::load(&files, &dirs)
            .map(Some)
            .map_err(|e| Error::Refused(format!("{}: {e}", config::TRUSTED_KEYS)))
    }

    /// Opens `file` and judges it before anything is created, with the one
    /// admission function `check` and `verify` use ([`admit::admit`]) under
    /// this host's policy ([`Config::policy`]): every rule `check` applies,
    /// the host permissions, the signature (by a trusted key when
    /// `XENGUEST_TRUSTED_KEYS` is set), the manifest and the sidecar.
    fn open_verified(&self, file: &Path) -> Result<Opened> {
        // One read of the file into a private, unlinked copy: everything
        // below verifies that copy, and `create` uses nothing else.
        let opened = reader::open_private(file, &self.private_dir()?)?;
        if opened.form == Form::Dir {
            return Err(Error::Refused(format!(
                "`{}` is a directory - create takes an image file",
                file.display()
            )));
        }
        let policy = self.config.policy()?;
        let trusted = self.trusted_keys()?;
        let stored = Stored {
            opened: &opened,
            trusted: trusted.as_ref(),
            sidecar: true,
            progress: Progress::default(),
        };
        let report = admit::admit(Candidate::Stored(stored), &policy)?;
        if !report.admitted() {
            let reason = report
                .problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            // A valid image this host has not allowed (what `check` lists
            // as needed permissions) is refused as such.
            if report.image_problems().next().is_none() {
                return Err(Error::Refused(format!(
                    "`{}` needs host permissions this host does not grant: {reason}",
                    file.display()
                )));
            }
            return Err(Error::NotAnImage {
                path: file.to_path_buf(),
                reason,
            });
        }
        self.log.info(&format!(
            "{}: verified ({}{}, {})",
            file.display(),
            match &report.signature {
                admit::Signature::Trusted(s) => format!("signed by trusted key {} ({}), ", s.fingerprint, s.algorithm),
                _ => String::new(),
            },
            if opened.image.manifest.is_some() {
                "manifest"
            } else {
                "no manifest"
            },
            if report.integrity.sidecar_checked {
                "sidecar"
            } else {
                "no sidecar"
            }
        ));
        Ok(opened)
    }

    /// Where `create` keeps its private copy of an image (an unlinked file,
    /// gone when the manager exits): the guest store, the manager's own
    /// directory, on the file system that receives the guest's files.
    fn private_dir(&self) -> Result<PathBuf> {
        let dir = self.store.dir();
        fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        Ok(dir.to_path_buf())
    }

    /// Where a guest's disk goes, from its disk.cfg and the configuration.
    fn disk_for(&self, name: &str, disk_cfg: &crate::config::DiskConfig) -> Result<Disk> {
        if disk_cfg.size_mb()? == 0 {
            return Ok(Disk::None);
        }
        let own = disk_cfg.0.get("DISK_DEVICE").unwrap_or("");
        Ok(if !own.is_empty() {
            Disk::Lvm {
                device: own.to_owned(),
                group: config::default_group(own),
            }
        } else if let Some(dev) = self.config.volume_device() {
            Disk::Lvm {
                device: dev.to_owned(),
                group: self.config.volume_group(dev),
            }
        } else {
            let dir = self.paths.host(Path::new(self.config.get(config::DISK_DIR)));
            Disk::File(dir.join(format!("{name}.img")))
        })
    }

    fn create(&self, file: &Path, name: Option<&str>, replace_disk: bool) -> Result<()> {
        if fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink()) && !file.exists() {
            return Err(Error::Refused(format!(
                "`{}` is a broken symbolic link",
                file.display()
            )));
        }
        let real = fs::canonicalize(file).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotAnImage {
                path: file.to_path_buf(),
                reason: "no such file".into(),
            },
            _ => Error::io("cannot read", file, e),
        })?;
        let default_name = file
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".xenguest").to_owned())
            .unwrap_or_default();
        let name = name.unwrap_or(&default_name);
        store::check_name(name)?;
        let dir = self.store.guest_dir(name);
        if self.store.exists(name) {
            return Err(Error::Refused(format!(
                "guest `{name}` already exists (`{}`) - remove it first",
                dir.display()
            )));
        }
        if dir.exists() {
            return Err(Error::Refused(format!(
                "`{}` exists but holds no guest.cfg - remove it first",
                dir.display()
            )));
        }
        self.log.info(&format!("creating guest {name} from {}", real.display()));
        let opened = self.open_verified(&real)?;
        // Admitted: a DISK_DEVICE other than the host's volume device was
        // allowed by XENGUEST_ALLOW_IMAGE_DEVICE (see `admit`).
        let disk_cfg = opened.image.disk.clone().unwrap_or_default();
        let disk = self.disk_for(name, &disk_cfg)?;
        // The host's policy, under which the image was admitted: what it
        // may set in the configuration `xl create` gets.
        let xl_policy = self.config.policy()?;
        let mut image = opened.image.clone();
        image.disk_files.clear();
        // The keys the manager owns, written into guest.cfg as the classic
        // manager's `update --xen-name=NAME --xen-disk=DEV` did: they
        // replace the image's lines. The image's own `disk` entries, when
        // this host allows them, follow the managed disk.
        let managed = match &disk {
            Disk::None => None,
            Disk::Lvm { group, .. } => {
                let dev = format!("/dev/{group}/{name}");
                crate::validate::xl_list_item("xen-disk", &dev)?;
                Some(format!("phy:{dev},xvda,w"))
            }
            Disk::File(path) => {
                let target = path.to_string_lossy();
                crate::validate::xl_list_item(config::DISK_DIR, &target)?;
                Some(format!("format=raw,vdev=xvda,access=rw,target={target}"))
            }
        };
        let image_disks = if xl_policy.allow_xl_keys.contains(crate::xl_policy::PERMIT_DISK) {
            crate::xl_policy::image_disks(&image)
        } else {
            Vec::new()
        };
        let entries: Vec<String> = managed.into_iter().chain(image_disks).collect();
        crate::validate::xl_string("NAME", name)?;
        let cfg = image.guest_cfg.get_or_insert_with(Default::default);
        cfg.set("name", &XlValue::Str(name.to_owned()));
        if entries.is_empty() {
            cfg.disable("disk");
        } else {
            cfg.set("disk", &XlValue::List(entries));
        }
        let network = net::configure(&self.config, &self.store, &mut image, &xl_policy)?;
        fs::create_dir_all(self.store.dir()).with_path("cannot create directory", self.store.dir())?;
        let staging = self.store.dir().join(format!(".{name}.creating"));
        if staging.exists() {
            fs::remove_dir_all(&staging).with_path("cannot remove", &staging)?;
        }
        fs::create_dir(&staging).with_path("cannot create directory", &staging)?;
        let mut created = disk::Created::default();
        let result = (|| {
            writer::write_dir(&image, &staging, &[])?;
            let state = staging.join(store::STATE_FILE);
            fs::write(&state, store::state_text(&disk)?).with_path("cannot write", &state)?;
            let net_state = staging.join(net::STATE_FILE);
            fs::write(&net_state, &network).with_path("cannot write", &net_state)?;
            disk::create(
                &self.runner,
                &disk,
                name,
                &disk_cfg,
                &opened.image.disk_files,
                replace_disk,
                &mut created,
            )?;
            let merged = staging.join(store::MERGED_CFG);
            fs::write(&merged, store::merged_xl(&staging, &dir, &xl_policy)?).with_path("cannot write", &merged)?;
            fs::rename(&staging, &dir).with_path("cannot create", &dir)
        })();
        if let Err(e) = result {
            // Undone even when a signal stopped the create.
            let _cleanup = crate::interrupt::cleanup();
            self.log.error(&format!(
                "create {name} failed, removing what it made: {}",
                e.full_message()
            ));
            created.undo(&self.runner);
            if let Err(e) = fs::remove_dir_all(&staging) {
                if e.kind() != io::ErrorKind::NotFound {
                    self.log
                        .error(&format!("cleanup: cannot remove `{}`: {e}", staging.display()));
                }
            }
            return Err(e);
        }
        self.log.info(&format!("guest {name} created"));
        Ok(())
    }

    fn remove(&self, name: &str) -> Result<()> {
        let dir = self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            self.log.info(&format!("destroying running guest {name}"));
            xl::destroy_if_present(&self.runner, name)?;
        }
        let disk = if let Some(d) = self.store.disk(name)? {
            d
        } else {
            // A guest made by the classic manager: its disk is the logical
            // volume the classic manager would have made (it had no files).
            let path = dir.join("disk.cfg");
            let text = fs::read_to_string(&path).unwrap_or_default();
            match self.disk_for(name, &crate::config::DiskConfig::parse(&text))? {
                Disk::File(_) => Disk::None,
                d => d,
            }
        };
        net::down(&self.runner, &self.paths, name)?;
        disk::remove(&self.runner, &disk, name)?;
        fs::remove_dir_all(&dir).with_path("cannot remove", &dir)?;
        self.log.info(&format!("guest {name} removed"));
        Ok(())
    }

    fn start(&self, name: &str) -> Result<()> {
        let dir = self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            return Err(Error::Refused(format!("guest `{name}` is already running")));
        }
        let mut stages = Vec::new();
        for stage in Stage::ALL {
            let scripts = init::scripts(&self.paths.base, &dir, stage)?;
            init::check_executable(&scripts)?;
            stages.push(scripts);
        }
        let merged_text = store::merged_xl(&dir, &dir, &self.config.policy()?)?;
        // Replaced atomically: `xl create` may be reading the old one.
        writer::write_file_member(
            &dir.join(store::MERGED_CFG),
            crate::image::MODE_FILE,
            &crate::image::Blob::bytes(merged_text.clone()),
            store::MERGED_CFG,
        )?;
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .suffix(".cfg")
            .rand_bytes(6)
            .tempfile_in(&dir)
            .with_path("cannot create a temporary file in", &dir)?;
        tmp.write_all(merged_text.as_bytes())
            .and_then(|()| tmp.flush())
            .with_path("cannot write", tmp.path())?;
        let guest = init::Guest {
            name,
            dir: &dir,
            cfg: tmp.path(),
        };
        self.log.info(&format!("starting guest {name}"));
        init::run_scripts(&self.runner, &self.log, guest, &stages[0])?;
        net::up(&self.runner, &self.paths, &self.config, name, &dir)?;
        xl::create_paused(&self.runner, tmp.path(), &dir).map_err(|e| net::undo(&self.runner, &self.paths, name, e))?;
        let running = init::run_scripts(&self.runner, &self.log, guest, &stages[1])
            .and_then(|()| xl::unpause(&self.runner, name));
        if let Err(e) = running {
            let _cleanup = crate::interrupt::cleanup();
            self.log
                .error(&format!("start {name} failed, destroying the paused guest"));
            if let Err(d) = xl::destroy(&self.runner, name) {
                self.log.error(&format!("cleanup: {}", d.full_message()));
            }
            return Err(net::undo(&self.runner, &self.paths, name, e));
        }
        init::run_scripts(&self.runner, &self.log, guest, &stages[2]).map_err(|e| {
            Error::Refused(format!(
                "guest `{name}` is running, but an init.post script failed: {}",
                e.full_message()
            ))
        })?;
        self.log.info(&format!("guest {name} started"));
        Ok(())
    }

    fn require_running(&self, name: &str) -> Result<()> {
        self.store.require(name)?;
        if xl::is_running(&self.runner, name)? {
            Ok(())
        } else {
            Err(Error::Refused(format!("guest `{name}` is not running")))
        }
    }

    fn stop(&self, name: &str, nowait: bool, kill: bool) -> Result<()> {
        self.require_running(name)?;
        self.log.info(&format!("stopping guest {name}"));
        match xl::shutdown(&self.runner, name, !nowait) {
            Ok(()) => {}
            Err(e) if kill => {
                self.log.info(&format!(
                    "shutdown of {name} failed ({}), destroying it",
                    e.full_message()
                ));
                xl::destroy_if_present(&self.runner, name)?;
            }
            Err(e) => return Err(e),
        }
        // `xl shutdown -w` returns while Xen still lists the dying domain
        // for a moment; a `start` or `remove` right after must not see it.
        if !nowait && !xl::wait_gone(&self.runner, name)? {
            self.log
                .info(&format!("guest {name} has shut down but Xen still lists it"));
        }
        if nowait {
            Ok(())
        } else {
            net::down(&self.runner, &self.paths, name)
        }
    }

    fn kill(&self, name: &str) -> Result<()> {
        self.require_running(name)?;
        self.log.info(&format!("destroying guest {name}"));
        xl::destroy_if_present(&self.runner, name)?;
        net::down(&self.runner, &self.paths, name)
    }

    fn list(&self, json: bool) -> Result<()> {
        let names = self.store.list()?;
        let mut out = io::stdout().lock();
        if json {
            let mut guests = Vec::new();
            for name in &names {
                let disk = self.store.disk(name)?;
                let (kind, path) = match &disk {
                    Some(Disk::Lvm { .. }) => ("lvm", disk::target(disk.as_ref().expect("some"), name)),
                    Some(Disk::File(p)) => ("file", Some(p.clone())),
                    Some(Disk::None) => ("none", None),
                    None => ("unknown", None),
                };
                guests.push(json!({
                    "name": name,
                    "autoboot": self.store.autoboot(name)?,
                    "dir": self.store.guest_dir(name),
                    "xl_config": self.store.guest_dir(name).join(store::MERGED_CFG),
                    "disk": { "kind": kind, "path": path },
                }));
            }
            writeln!(out, "{}", document("list", json!({ "ok": true, "guests": guests }))).map_err(stdout_error)
        } else {
            for name in names {
                writeln!(out, "{name}").map_err(stdout_error)?;
            }
            Ok(())
        }
    }

    fn status(&self, name: Option<&str>, json: bool) -> Result<()> {
        let names = match name {
            Some(n) => {
                self.store.require(n)?;
                vec![n.to_owned()]
            }
            None => self.store.list()?,
        };
        let running = xl::running(&self.runner)?;
        let mut out = io::stdout().lock();
        let states: Vec<(String, bool)> = names
            .into_iter()
            .map(|n| {
                let r = running.contains(&n);
                (n, r)
            })
            .collect();
        if json {
            let guests: Vec<_> = states
                .iter()
                .map(|(n, r)| json!({ "name": n, "running": r, "state": if *r { "running" } else { "stopped" } }))
                .collect();
            writeln!(out, "{}", document("status", json!({ "ok": true, "guests": guests }))).map_err(stdout_error)
        } else {
            for (n, r) in states {
                writeln!(out, "{n} {}", if r { "Running" } else { "Stopped" }).map_err(stdout_error)?;
            }
            Ok(())
        }
    }

    /// The images `boot-start` creates: `XENGUEST_GUEST_DIR/*.xenguest`,
    /// in name order.
    fn boot_images(&self) -> Result<Vec<PathBuf>> {
        let dir = self.paths.host(Path::new(self.config.get(config::GUEST_DIR)));
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.log.info(&format!("no guest image directory {}", dir.display()));
                return Ok(Vec::new());
            }
            Err(e) => return Err(Error::io("cannot list", &dir, e)),
        };
        let mut images: Vec<PathBuf> = entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()
            .with_path("cannot list", &dir)?
            .into_iter()
            .filter(|p| p.extension() == Some(OsStr::new("xenguest")))
            .collect();
        images.sort();
        Ok(images)
    }

    fn boot_start(&self) -> Result<()> {
        let mut failed = Vec::new();
        for image in self.boot_images()? {
            stop_if_interrupted("boot-start")?;
            let name = image
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if self.store.exists(&name) {
                continue;
            }
            let autoboot = reader::open(&image, false).map(|o| o.image.params.as_ref().map_or(true, store::autoboot));
            match autoboot {
                Ok(false) => {
                    self.log
                        .info(&format!("{}: GUEST_AUTOBOOT=\"0\", not created", image.display()));
                    continue;
                }
                Ok(true) => {}
                Err(e) => {
                    self.report_boot_error(&mut failed, &name, &e);
                    continue;
                }
            }
            if let Err(e) = self.create(&image, Some(&name), false) {
                self.report_boot_error(&mut failed, &name, &e);
            }
        }
        let running = xl::running(&self.runner)?;
        net::sweep(&self.runner, &self.paths, &running);
        for name in self.store.list()? {
            stop_if_interrupted("boot-start")?;
            if !self.store.autoboot(&name)? || running.contains(&name) {
                continue;
            }
            if let Err(e) = self.start(&name) {
                self.report_boot_error(&mut failed, &name, &e);
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!("boot-start failed for: {}", failed.join(", "))))
        }
    }

    fn report_boot_error(&self, failed: &mut Vec<String>, name: &str, e: &Error) {
        let msg = format!("{name}: {}", e.full_message());
        self.log.error(&msg);
        eprintln!("xenguest-manager: error: {msg}");
        failed.push(name.to_owned());
    }

    fn boot_stop(&self) -> Result<()> {
        let running = xl::running(&self.runner)?;
        let mut failed = Vec::new();
        for name in self.store.list()? {
            stop_if_interrupted("boot-stop")?;
            if running.contains(&name) {
                if let Err(e) = self.stop(&name, false, true) {
                    self.report_boot_error(&mut failed, &name, &e);
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Refused(format!("boot-stop failed for: {}", failed.join(", "))))
        }
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
