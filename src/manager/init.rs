//! Init scripts: `init.pre/` (before the guest is created), `init.d/`
//! (created, paused) and `init.post/` (running), host-wide ones from
//! `/etc/xenguest/init.*` first, then the guest's own, each directory in
//! name order.
//!
//! The contract is the classic manager's: each script is *sourced* by bash
//! in its own process, from the guest directory, after `params.cfg`, so it
//! sees the parameters, `guestname`, `guestdir`, `guestcfgfile`, and the
//! functions `log [LEVEL] TEXT` and `log_command [LEVEL] "COMMAND"`. A
//! script that is not executable, or that fails, stops the start.
//!
//! The bash text below is constant: every value (paths, the guest's name,
//! the log file and level) reaches it as a positional argument, so nothing
//! from an image or a configuration is ever parsed as shell code by the
//! manager itself (a script is, of course, code the image's author wrote).
//! Those values are held in read-only variables before `params.cfg` is
//! sourced, and bash starts with a clean environment, so neither a stored
//! `params.cfg`, an earlier script nor the manager's caller can change
//! which file is sourced or from where.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::log::Log;
use super::run::Runner;
use crate::error::{Error, IoContext, Result};
use crate::image::Stage;

/// The bash program that sources one script. Arguments: `$1` script,
/// `$2` guest name, `$3` guest directory, `$4` xl configuration file,
/// `$5` log file, `$6` log level.
///
/// Every argument is copied into a read-only `__xenguest_*` variable and
/// the arguments are shifted away *before* `params.cfg` is sourced, so an
/// assignment in `params.cfg` (even one `check` would refuse, written into
/// the store by hand) cannot change which script runs or from where:
/// bash refuses to assign a read-only variable. After `params.cfg`, the
/// names the manager hands to scripts are set again from those copies,
/// `PATH` and `IFS` are reset, and the variables that steer bash itself
/// are removed.
const SOURCE_SCRIPT: &str = r#"
readonly __xenguest_script="$1" __xenguest_name="$2" __xenguest_dir="$3" \
    __xenguest_cfg="$4" __xenguest_logfile="$5" __xenguest_log_level="$6" \
    __xenguest_path="$PATH"
shift 6
cd -- "$__xenguest_dir" || exit 1
. ./params.cfg || exit 1
PATH=$__xenguest_path
IFS=$' \t\n'
unset -v CDPATH GLOBIGNORE BASH_ENV ENV POSIXLY_CORRECT TMOUT 2>/dev/null
guestname=$__xenguest_name guestdir=$__xenguest_dir guestcfgfile=$__xenguest_cfg
LOGFILE=$__xenguest_logfile LOG_LEVEL=$__xenguest_log_level
log() {
    local level=INFO n=1 max=0 stamp line
    case "${1:-}" in ERROR|INFO|VERBOSE) level=$1; shift ;; esac
    case "$level" in ERROR) n=0 ;; VERBOSE) n=2 ;; esac
    case "$__xenguest_log_level" in INFO) max=1 ;; VERBOSE) max=2 ;; esac
    [ "$level" != ERROR ] || printf 'xenguest-manager: error: %s\n' "$*" >&2
    [ "$n" -le "$max" ] || return 0
    stamp=$(date -u '+%d-%m-%Y %H:%M:%S')
    while IFS= read -r line; do
        printf '%s [%s]    %s\n' "$stamp" "$level" "$line" >> "$__xenguest_logfile"
    done <<< "$*"
    return 0
}
log_command() {
    local level=VERBOSE out rc
    case "${1:-}" in ERROR|INFO|VERBOSE) level=$1; shift ;; esac
    log "$level" "Running: $*"
    out=$(eval "$*" 2>&1)
    rc=$?
    [ -z "$out" ] || log "$level" "$out"
    return $rc
}
cd -- "$__xenguest_dir" || exit 1
. "$__xenguest_script"
"#;

/// The `PATH` init scripts run with: fixed, whatever the manager's caller
/// had.
pub const SCRIPT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The scripts of `stage`: host-wide (`base/STAGE/*`) then the guest's
/// (`guest_dir/STAGE/*`), each directory in name order; dot files are
/// skipped, as bash's `*` skips them.
pub fn scripts(base: &Path, guest_dir: &Path, stage: Stage) -> Result<Vec<PathBuf>> {
    let mut out = scripts_in(&base.join(stage.dir()))?;
    out.extend(scripts_in(&guest_dir.join(stage.dir()))?);
    Ok(out)
}

/// The scripts in `dir` in name order (none when it does not exist); dot
/// files are skipped, as bash's `*` skips them.
pub fn scripts_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut names: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()
            .with_path("cannot list", dir)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    names.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| !n.starts_with('.'))
    });
    names.sort();
    Ok(names)
}

/// Fails unless every script is an executable regular file (checked for
/// all stages before the guest is touched).
pub fn check_executable(scripts: &[PathBuf]) -> Result<()> {
    for s in scripts {
        let meta = fs::metadata(s).with_path("cannot read", s)?;
        if !meta.is_file() {
            return Err(Error::Refused(format!(
                "init script `{}` is not a regular file",
                s.display()
            )));
        }
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(Error::Refused(format!(
                "init script `{}` is not executable - make it executable (chmod +x) or remove it",
                s.display()
            )));
        }
    }
    Ok(())
}

/// What a script is told about its guest.
#[derive(Debug, Clone, Copy)]
pub struct Guest<'a> {
    /// The guest's name.
    pub name: &'a str,
    /// Its directory in the store.
    pub dir: &'a Path,
    /// The xl configuration the start uses.
    pub cfg: &'a Path,
}

/// Sources each of `scripts` in turn, stopping at the first that fails.
///
/// Each runs in `bash --norc --noprofile` with a clean environment: only
/// [`SCRIPT_PATH`] as `PATH` and `HOME=/root`, so nothing the manager's
/// caller exported (`BASH_ENV`, `SHELLOPTS`, exported functions, …)
/// reaches it.
pub fn run_scripts(r: &Runner, log: &Log, guest: Guest<'_>, scripts: &[PathBuf]) -> Result<()> {
    let dir = absolute(guest.dir)?;
    let cfg = absolute(guest.cfg)?;
    let log_file = absolute(log.path())?;
    for script in scripts {
        let script = absolute(script)?;
        log.info(&format!("running init script {}", script.display()));
        let args: Vec<&std::ffi::OsStr> = vec![
            "--norc".as_ref(),
            "--noprofile".as_ref(),
            "-c".as_ref(),
            SOURCE_SCRIPT.as_ref(),
            "xenguest-init".as_ref(),
            script.as_os_str(),
            guest.name.as_ref(),
            dir.as_os_str(),
            cfg.as_os_str(),
            log_file.as_os_str(),
            log.level().name().as_ref(),
        ];
        let shown = format!(
            "bash --norc --noprofile -c SOURCE-SCRIPT xenguest-init {}",
            script.display()
        );
        let mut cmd = r.command_shown("bash", &args, &shown);
        cmd.env_clear()
            .env("PATH", SCRIPT_PATH)
            .env("HOME", "/root")
            .current_dir(&dir);
        let out = r.output(cmd)?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Refused(format!(
                "init script `{}` failed ({}){}{}",
                script.display(),
                out.status,
                if stderr.trim().is_empty() { "" } else { ": " },
                stderr.trim()
            )));
        }
    }
    Ok(())
}

/// `path` made absolute (from the current directory): scripts run from the
/// guest directory, where a relative path would name another file.
fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        let cwd = std::env::current_dir().with_path("cannot resolve", path)?;
        Ok(cwd.join(path))
    }
}
