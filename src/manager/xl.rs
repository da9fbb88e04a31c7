//! Xen's `xl` toolstack, run as the classic manager runs it.

use std::path::Path;
use std::time::{Duration, Instant};

use super::run::{self, Runner};
use crate::error::{Error, Result};

/// The output of `xl info` (`KEY : VALUE` lines, see [`host`]); an error
/// unless it succeeds (a Xen control domain with its toolstack), with
/// xl's own reason: what it printed on stderr (else on stdout) and its
/// exit status.
pub fn check_info(r: &Runner) -> Result<String> {
    let out = r.output(r.command("xl", &["info"]))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = if stderr.trim().is_empty() {
        stdout.trim()
    } else {
        stderr.trim()
    };
    // The last lines say why; a whole dump would bury it.
    let lines: Vec<&str> = said.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let reason = lines[lines.len().saturating_sub(3)..].join(" / ");
    Err(Error::Refused(format!(
        "Xen environment is not valid: `xl info` failed ({}){}{} - run the manager as root in a Xen control \
         domain (Dom0) with the toolstack started (xencommons)",
        out.status,
        if reason.is_empty() { "" } else { ": " },
        reason
    )))
}

/// The host as `xl info` describes it (`KEY : VALUE` lines): its
/// `machine` and `xen_version`.
pub fn host(info: &str) -> crate::rules::XenHost {
    let field = |key: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_owned())
        })
    };
    crate::rules::XenHost {
        machine: field("machine"),
        xen_version: field("xen_version"),
    }
}

/// Names of the running domains: the first column of `xl list` below its
/// header line.
pub fn running(r: &Runner) -> Result<Vec<String>> {
    Ok(domains(r)?.into_iter().map(|(name, _)| name).collect())
}

/// The domains of `xl list` below its header line: name and state
/// column (`-b----`, `--c---` for a crashed one, …).
fn domains(r: &Runner) -> Result<Vec<(String, String)>> {
    let out = r.run("xl", &["list"])?;
    Ok(out
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let name = cols.first()?;
            Some(((*name).to_owned(), cols.get(4).copied().unwrap_or("").to_owned()))
        })
        .collect())
}

/// Whether domain `name` is running.
pub fn is_running(r: &Runner, name: &str) -> Result<bool> {
    Ok(running(r)?.iter().any(|n| n == name))
}

/// The state column of domain `name` in `xl list`, `None` when it is not
/// listed.
pub fn domain_state(r: &Runner, name: &str) -> Result<Option<String>> {
    Ok(domains(r)?.into_iter().find(|(n, _)| n == name).map(|(_, state)| state))
}

/// The value of `key` under the xenstore home of domain `name`
/// (`/local/domain/DOMID/KEY`: what the guest may write itself), read
/// with `xl domid` and `xenstore-read`; `None` when it is not set.
pub fn read_guest_key(r: &Runner, name: &str, key: &str) -> Result<Option<String>> {
    let domid = r.run("xl", &["domid", name])?;
    let domid = domid.trim();
    if domid.is_empty() || !domid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Refused(format!(
            "`xl domid {name}` printed `{}`, not a domain id",
            domid.escape_debug()
        )));
    }
    let path = format!("/local/domain/{domid}/{key}");
    let out = r.output(r.command("xenstore-read", &[path.as_str()]))?;
    if out.status.success() {
        Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    } else {
        Ok(None)
    }
}

/// `xl create -p CFG` from `dir` (relative paths in the configuration,
/// such as `kernel = "files/kernel"`, resolve there): created, paused.
pub fn create_paused(r: &Runner, cfg: &Path, dir: &Path) -> Result<()> {
    let args = [std::ffi::OsStr::new("create"), "-p".as_ref(), cfg.as_os_str()];
    let mut cmd = r.command("xl", &args);
    cmd.current_dir(dir);
    let out = r.output(cmd)?;
    run::check("xl", &args, &out)
}

/// `xl unpause NAME`.
pub fn unpause(r: &Runner, name: &str) -> Result<()> {
    r.run("xl", &["unpause", name]).map(drop)
}

/// `xl shutdown [-w] NAME`.
pub fn shutdown(r: &Runner, name: &str, wait: bool) -> Result<()> {
    if wait {
        r.run("xl", &["shutdown", "-w", name]).map(drop)
    } else {
        r.run("xl", &["shutdown", name]).map(drop)
    }
}

/// `xl destroy NAME`.
pub fn destroy(r: &Runner, name: &str) -> Result<()> {
    r.run("xl", &["destroy", name]).map(drop)
}

/// `xl destroy NAME`, successful too when the domain went away by itself
/// meanwhile (a guest that was shutting down: xl then reports an invalid
/// domain).
pub fn destroy_if_present(r: &Runner, name: &str) -> Result<()> {
    match destroy(r, name) {
        Err(e) if !is_running(r, name)? => {
            r.log().info(&format!("{name} was gone before it was destroyed ({e})"));
            Ok(())
        }
        other => other,
    }
}

/// How long a stopped domain may stay listed.
const GONE_WAIT: Duration = Duration::from_secs(30);

/// Waits until `xl list` no longer lists `name` (at most `GONE_WAIT`);
/// returns whether it is gone.
pub fn wait_gone(r: &Runner, name: &str) -> Result<bool> {
    let start = Instant::now();
    loop {
        if !is_running(r, name)? {
            return Ok(true);
        }
        if start.elapsed() > GONE_WAIT {
            return Ok(false);
        }
        crate::interrupt::check().map_err(|e| crate::error::Error::io("interrupted while waiting for", name, e))?;
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xl_info_gives_machine_and_version() {
        let text = "host                   : dom0\nrelease                : 6.6.0\nmachine                : aarch64\n\
                    xen_major              : 4\nxen_version            : 4.18.0\nxen_caps               : xen-3.0-aarch64\n";
        let h = host(text);
        assert_eq!(h.machine.as_deref(), Some("aarch64"));
        assert_eq!(h.xen_version.as_deref(), Some("4.18.0"));
        assert_eq!(host("host : standin\n"), crate::rules::XenHost::default());
    }
}
