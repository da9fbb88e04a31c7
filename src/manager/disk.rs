//! Guest disks: the classic layout (an msdos partition table, partitions
//! in MB from 1 MB, 2 MB placeholders for undefined lower partitions,
//! `mkfs.FS -F` / `mkswap`, `*.img*` written raw, `*.tar*` unpacked) on a
//! logical volume or a sparse file.
//!
//! Partitions are written through a loop device of the volume or file
//! (`losetup -P --show -f`), never through a Dom0 block attach and a fixed
//! `/dev/xvdaN`: two managers cannot collide on a name, no udev is needed,
//! and parted never sees a device-mapper volume (Debian's parted would map
//! its partitions with device-mapper and hold the volume open).

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::run::{self, Runner};
use super::store::Disk;
pub use crate::admit::{is_tar, layout, Part, FIRST_START_MB, PLACEHOLDER_MB};
use crate::config::DiskConfig;
use crate::error::{Error, IoContext, Result};
use crate::image::Blob;

/// Bytes per MB of a disk size: LVM's `M` (MiB), used for files too, so
/// both backings have the same size.
const DISK_UNIT: u64 = 1024 * 1024;
/// How long partition device nodes may take to appear.
const NODE_WAIT: Duration = Duration::from_secs(20);

/// The last `.` suffix of a content name (content names are checked to
/// end in one of the lower-case suffixes `check` allows).
fn ext(content: &str) -> &str {
    content.rsplit('.').next().unwrap_or("")
}

/// The device or file a guest's disk is (what xl is given).
pub fn target(disk: &Disk, name: &str) -> Option<PathBuf> {
    match disk {
        Disk::None => None,
        Disk::Lvm { group, .. } => Some(PathBuf::from(format!("/dev/{group}/{name}"))),
        Disk::File(path) => Some(path.clone()),
    }
}

/// What a create has made so far, undone by [`Created::undo`].
#[derive(Debug, Default)]
pub struct Created {
    volume: Option<(String, String)>,
    file: Option<PathBuf>,
    loop_dev: Option<String>,
}

impl Created {
    /// Removes what was made (best effort: every step is tried, failures
    /// are logged).
    pub fn undo(&mut self, r: &Runner) {
        if let Some(dev) = self.loop_dev.take() {
            if let Err(e) = detach(r, &dev) {
                r.log().error(&format!("cleanup: {e}"));
            }
        }
        if let Some((group, name)) = self.volume.take() {
            if let Err(e) = remove_volume(r, &group, &name) {
                r.log().error(&format!("cleanup: {e}"));
            }
        }
        if let Some(file) = self.file.take() {
            if let Err(e) = fs::remove_file(&file) {
                r.log()
                    .error(&format!("cleanup: cannot remove `{}`: {e}", file.display()));
            }
        }
    }
}

/// Creates the disk of guest `name` and fills its partitions from
/// `contents` (the image's `disk/` files). Records what it made in
/// `created` so that a failure can be undone.
///
/// A logical volume or disk file of that name that already exists belongs
/// to no guest of this manager (the caller checked that no guest `name`
/// exists): it is refused, naming it, unless `replace` (`create
/// --replace-disk`, for what a crashed create left behind). A disk file
/// larger than the free space of its file system is refused before
/// anything is written.
///
/// The partitions in `carry` are made but neither formatted nor filled:
/// an update copies them from the previous version's disk.
#[allow(clippy::too_many_arguments)]
pub fn create(
    r: &Runner,
    disk: &Disk,
    name: &str,
    config: &DiskConfig,
    contents: &std::collections::BTreeMap<String, Blob>,
    carry: &BTreeSet<u8>,
    replace: bool,
    created: &mut Created,
) -> Result<()> {
    let size = config.size_mb()?;
    let Some(target) = target(disk, name) else {
        return Ok(());
    };
    match disk {
        Disk::None => return Ok(()),
        Disk::Lvm { device, group } => {
            prepare_group(r, device, group)?;
            let lv = format!("{group}/{name}");
            if exists(r, disk, name)? {
                if !replace {
                    return Err(Error::Refused(format!(
                        "logical volume `{lv}` already exists and no guest of this manager owns it - \
                         remove it (`lvremove {lv}`) if nothing needs it, or run `create --replace-disk` to replace it"
                    )));
                }
                r.log()
                    .info(&format!("replacing the existing logical volume {lv} (--replace-disk)"));
                release_volume(r, group, name)?;
                remove_volume(r, group, name)?;
            }
            let size_arg = format!("{size}M");
            r.run("lvcreate", &["-y", "-L", size_arg.as_str(), "-n", name, group.as_str()])?;
            created.volume = Some((group.clone(), name.to_owned()));
        }
        Disk::File(path) => {
            let existing = match fs::symlink_metadata(path) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("cannot read", path, e)),
            };
            let mut reclaimed = 0;
            if let Some(meta) = &existing {
                if !replace {
                    return Err(Error::Refused(format!(
                        "disk file `{}` already exists and no guest of this manager owns it - \
                         remove it if nothing needs it, or run `create --replace-disk` to replace it",
                        path.display()
                    )));
                }
                if !meta.is_file() {
                    return Err(Error::Refused(format!(
                        "`{}` is not a regular file - --replace-disk replaces only a disk file; remove it by hand",
                        path.display()
                    )));
                }
                reclaimed = std::os::unix::fs::MetadataExt::blocks(meta).saturating_mul(512);
            }
            let bytes = size.saturating_mul(DISK_UNIT);
            check_free_space(path, bytes, reclaimed)?;
            if let Some(parent) = path.parent() {
                // 0755 whatever the umask: check_disk_dir refuses more.
                std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o755)
                    .create(parent)
                    .with_path("cannot create directory", parent)?;
                check_disk_dir(parent)?;
            }
            if existing.is_some() {
                r.log().info(&format!(
                    "replacing the existing disk file {} (--replace-disk)",
                    path.display()
                ));
                fs::remove_file(path).with_path("cannot remove", path)?;
            }
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .with_path("cannot create", path)?;
            created.file = Some(path.clone());
            // Sparse: only what the partitions' contents write takes room.
            file.set_len(size * DISK_UNIT).with_path("cannot size", path)?;
        }
    }
    let loop_dev = attach(r, &target)?;
    created.loop_dev = Some(loop_dev.clone());
    r.run("parted", &["-s", loop_dev.as_str(), "mklabel", "msdos"])?;
    let parts = layout(config)?;
    for p in &parts {
        let (start, end) = (p.start_mb.to_string(), p.end_mb.to_string());
        r.run(
            "parted",
            &[
                "-s",
                loop_dev.as_str(),
                "unit",
                "MB",
                "mkpart",
                "primary",
                start.as_str(),
                end.as_str(),
            ],
        )?;
    }
    for p in &parts {
        let dev = partition_node(&loop_dev, p.number);
        wait_for(&dev)?;
        if carry.contains(&p.number) {
            r.log().info(&format!(
                "partition {}: kept data, copied from the previous version",
                p.number
            ));
        } else {
            fill(r, p, &dev, contents)?;
        }
    }
    detach(r, &loop_dev)?;
    created.loop_dev = None;
    Ok(())
}

/// Attaches `target` to a free loop device (`losetup -P --show -f`);
/// returns the device.
fn attach(r: &Runner, target: &Path) -> Result<String> {
    let target = target.to_string_lossy();
    let out = r.run("losetup", &["-P", "--show", "-f", &target])?;
    let loop_dev = out.trim().to_owned();
    if !loop_dev.starts_with('/') {
        return Err(Error::Refused(format!(
            "`losetup --show` printed `{}`, not a device",
            loop_dev.escape_debug()
        )));
    }
    Ok(loop_dev)
}

/// Whether the disk of `disk` named `volume` (a logical volume in its
/// group, or its file) exists.
pub fn exists(r: &Runner, disk: &Disk, volume: &str) -> Result<bool> {
    match disk {
        Disk::None => Ok(false),
        Disk::Lvm { group, .. } => {
            let lv = format!("{group}/{volume}");
            r.succeeds("lvs", &["--noheadings", lv.as_str()])
        }
        Disk::File(path) => Ok(fs::symlink_metadata(path).is_ok()),
    }
}

/// Renames a disk: logical volume `from` to `to` in the group of `disk`
/// (`lvrename`), or the file `from_disk`'s path to `to_disk`'s.
pub fn rename(r: &Runner, from_disk: &Disk, from: &str, to_disk: &Disk, to: &str) -> Result<()> {
    match (from_disk, to_disk) {
        (Disk::None, Disk::None) => Ok(()),
        (Disk::Lvm { group, .. }, Disk::Lvm { .. }) => {
            release_volume(r, group, from)?;
            r.run("lvrename", &[group.as_str(), from, to]).map(drop)
        }
        (Disk::File(a), Disk::File(b)) => {
            fs::rename(a, b).with_path("cannot rename", a)?;
            super::versions::sync_dir(b.parent().unwrap_or(Path::new(".")))
        }
        _ => Err(Error::Refused(format!(
            "cannot rename disk `{from}` to `{to}`: they are not of one kind"
        ))),
    }
}

/// Copies partitions `numbers` block by block from one disk to another:
/// `from` (disk, volume) into `to`, each partition where the disk's own
/// partition table puts it (read from its MBR: what parted wrote, with
/// its rounding), refusing one that would not fit. Neither disk is
/// attached: the logical volume or file is read and written directly.
pub fn copy_partitions(r: &Runner, from: (&Disk, &str), to: (&Disk, &str), numbers: &[u8]) -> Result<()> {
    if numbers.is_empty() {
        return Ok(());
    }
    let (Some(src), Some(dst)) = (target(from.0, from.1), target(to.0, to.1)) else {
        return Err(Error::Refused("kept partitions need a disk on both versions".into()));
    };
    let mut input = fs::File::open(&src).with_path("cannot open", &src)?;
    let mut output = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dst)
        .with_path("cannot open", &dst)?;
    let old_table = mbr_partitions(&mut input).with_path("cannot read the partition table of", &src)?;
    let new_table = mbr_partitions(&mut output).with_path("cannot read the partition table of", &dst)?;
    for &n in numbers {
        let (Some(&(a_start, a_len)), Some(&(b_start, b_len))) =
            (old_table.get(usize::from(n) - 1), new_table.get(usize::from(n) - 1))
        else {
            return Err(Error::Refused(format!("kept partition {n} is not on both disks")));
        };
        if a_len == 0 || b_len == 0 {
            return Err(Error::Refused(format!("kept partition {n} is not on both disks")));
        }
        if a_len > b_len {
            return Err(Error::Refused(format!(
                "kept partition {n} would not fit: {a_len} bytes into {b_len}"
            )));
        }
        r.log().info(&format!(
            "partition {n}: copying kept data ({a_len} bytes) from {} to {}",
            src.display(),
            dst.display()
        ));
        input
            .seek(io::SeekFrom::Start(a_start))
            .with_path("cannot read", &src)?;
        output
            .seek(io::SeekFrom::Start(b_start))
            .with_path("cannot write", &dst)?;
        let mut limited = io::Read::take(&mut input, a_len);
        let copied = copy_limited(&mut limited, &mut output, a_len)
            .map_err(|e| Error::Refused(format!("cannot copy kept partition {n}: {e}")))?;
        if copied != a_len {
            return Err(Error::Refused(format!(
                "kept partition {n}: read {copied} of its {a_len} bytes from {}",
                src.display()
            )));
        }
    }
    output.sync_all().with_path("cannot sync", &dst)
}

/// The four primary partitions of an msdos partition table as (byte
/// offset, byte length); (0, 0) for an unused entry.
fn mbr_partitions(f: &mut fs::File) -> io::Result<[(u64, u64); 4]> {
    use std::io::Read;
    let mut mbr = [0u8; 512];
    f.seek(io::SeekFrom::Start(0))?;
    f.read_exact(&mut mbr)?;
    if mbr[510..512] != [0x55, 0xAA] {
        return Err(io::Error::other("no msdos partition table (no 55 AA signature)"));
    }
    let mut out = [(0, 0); 4];
    for (i, slot) in out.iter_mut().enumerate() {
        let e = &mbr[446 + 16 * i..446 + 16 * (i + 1)];
        let word = |o: usize| u64::from(u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]));
        if e[4] != 0 {
            *slot = (word(8) * 512, word(12) * 512);
        }
    }
    Ok(out)
}

/// Refuses a disk directory another user could write to: between the
/// creation of `NAME.img` and `losetup`, that user could put a link to a
/// host device in its place, and the manager would partition it.
fn check_disk_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(dir).with_path("cannot read", dir)?;
    let me = rustix::process::geteuid().as_raw();
    let mode = meta.mode() & 0o7777;
    if meta.uid() != me || mode & 0o022 != 0 {
        return Err(Error::Refused(format!(
            "disk directory `{}` (XENGUEST_DISK_DIR) is writable by other users (owner {}, mode {mode:04o}), who could swap a guest's disk file for a link to a host device - make it owned by the manager's user and `chmod go-w` it",
            dir.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Refuses a disk file of `bytes` at `path` when the file system it goes
/// on (that of its nearest existing directory) has less free space (for
/// an unprivileged user, as statvfs counts it), plus `reclaimed` bytes a
/// replaced file frees. The file is sparse, but its partitions' contents
/// and the guest fill it: a full Dom0 file system breaks the host.
fn check_free_space(path: &Path, bytes: u64, reclaimed: u64) -> Result<()> {
    let mut dir = path.parent().unwrap_or(Path::new("."));
    while !dir.exists() {
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p,
            _ => {
                dir = Path::new(".");
                break;
            }
        }
    }
    let st = rustix::fs::statvfs(dir).map_err(|e| Error::io("cannot read the free space of", dir, e.into()))?;
    let free = st.f_bavail.saturating_mul(st.f_frsize).saturating_add(reclaimed);
    if bytes > free {
        return Err(Error::Refused(format!(
            "the disk file `{}` would be {bytes} bytes ({} MiB, DISK_SIZE) but its file system (`{}`) has {free} bytes ({} MiB) free - free space or use a smaller DISK_SIZE",
            path.display(),
            bytes / DISK_UNIT,
            dir.display(),
            free / DISK_UNIT
        )));
    }
    Ok(())
}

/// The device node of partition `n` of a loop device.
pub fn partition_node(loop_dev: &str, n: u8) -> String {
    format!("{loop_dev}p{n}")
}

fn wait_for(dev: &str) -> Result<()> {
    let start = Instant::now();
    while !Path::new(dev).exists() {
        if start.elapsed() > NODE_WAIT {
            return Err(Error::Refused(format!(
                "partition device `{dev}` did not appear within {} s",
                NODE_WAIT.as_secs()
            )));
        }
        crate::interrupt::check().map_err(|e| Error::io("interrupted while waiting for", dev, e))?;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The classic manager's first disk steps: the device becomes an LVM
/// physical volume (unless it already is one; a device holding a file
/// system is refused), then the group is created if missing.
fn prepare_group(r: &Runner, device: &str, group: &str) -> Result<()> {
    if !r.succeeds("pvs", &["--noheadings", device])? {
        let fstype = r.run("lsblk", &["-n", "-o", "FSTYPE", device])?;
        if !fstype.trim().is_empty() {
            return Err(Error::Refused(format!(
                "`{device}` holds a `{}` file system - refusing to make it an LVM physical volume",
                fstype.trim()
            )));
        }
        r.run("pvcreate", &["-f", device])?;
    }
    if !r.succeeds("vgs", &["--noheadings", group])? {
        r.run("vgcreate", &[group, device])?;
    }
    Ok(())
}

/// Formats partition `p` (device `dev`) and writes its content.
fn fill(r: &Runner, p: &Part, dev: &str, contents: &std::collections::BTreeMap<String, Blob>) -> Result<()> {
    match p.fs.as_str() {
        "" => {}
        "swap" => drop(r.run("mkswap", &[dev])?),
        // mkfs.vfat reads `-F` as the FAT size: it needs no force flag.
        "vfat" => drop(r.run("mkfs.vfat", &[dev])?),
        fs => drop(r.run(&format!("mkfs.{fs}"), &["-F", dev])?),
    }
    if p.content.is_empty() {
        return Ok(());
    }
    let blob = contents
        .get(&p.content)
        .ok_or_else(|| Error::Refused(format!("partition {}: the image has no `disk/{}`", p.number, p.content)))?;
    r.log().info(&format!("partition {}: writing {}", p.number, p.content));
    if is_tar(&p.content) {
        unpack(r, p, dev, blob)
    } else {
        write_raw(r, p, dev, blob)
    }
}

/// Writes an `*.img`, `*.img.gz` or `*.img.bz2` content to `dev`; what it
/// unpacks to may not exceed the partition (the copy stops with an error
/// at the partition's size, whatever the device would accept).
fn write_raw(r: &Runner, p: &Part, dev: &str, blob: &Blob) -> Result<()> {
    let mut out = OpenOptions::new().write(true).open(dev).with_path("cannot open", dev)?;
    let what = format!("disk/{}", p.content);
    let limit = p.bytes();
    if crate::admit::is_plain_raw(&p.content) {
        copy_limited(&mut blob.open()?, &mut out, limit).map_err(|e| {
            Error::Refused(format!(
                "cannot write `{what}` to partition {} (`{dev}`): {e}",
                p.number
            ))
        })?;
    } else {
        let tool = if ext(&p.content) == "gz" { "gzip" } else { "bzip2" };
        let mut cmd = r.command(tool, &["-dc"]);
        cmd.stdout(Stdio::piped());
        pipe_into(r, cmd, tool, &["-dc"], blob, &what, Some((&mut out, limit, p.number)))?;
    }
    out.sync_all().with_path("cannot sync", dev)
}

/// Copies `from` into `to`, failing (before writing past it) when there is
/// more than `limit` bytes, or when a signal asks the manager to stop.
fn copy_limited(from: &mut impl io::Read, to: &mut impl Write, limit: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        if crate::interrupt::stopping() {
            return Err(io::Error::other("interrupted by a signal"));
        }
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if total.saturating_add(n as u64) > limit {
            return Err(io::Error::other(format!(
                "it holds more than the partition's {limit} bytes"
            )));
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Mounts `dev`, unpacks a tar content into it with GNU tar (owners and
/// modes kept: the manager runs as root), and unmounts it.
fn unpack(r: &Runner, p: &Part, dev: &str, blob: &Blob) -> Result<()> {
    let mnt = tempfile::Builder::new()
        .prefix("xenguest-manager-mnt.")
        .tempdir()
        .map_err(|e| Error::io("cannot create a mount point in", std::env::temp_dir(), e))?
        // Never removed recursively: if unmounting fails, the guest's
        // files are still below it.
        .into_path();
    let mnt_path = mnt.to_string_lossy().into_owned();
    if let Err(e) = r.run("mount", &[dev, mnt_path.as_str()]) {
        let _ = fs::remove_dir(&mnt);
        return Err(e);
    }
    let flag = match ext(&p.content) {
        "gz" => Some("-z"),
        "bz2" => Some("-j"),
        "xz" => Some("-J"),
        _ => None,
    };
    let mut args = vec!["-C", mnt_path.as_str(), "-x", "-p", "--numeric-owner"];
    args.extend(flag);
    args.extend(["-f", "-"]);
    let mut cmd = r.command("tar", &args);
    cmd.stdout(Stdio::piped());
    let result = pipe_into(r, cmd, "tar", &args, blob, &format!("disk/{}", p.content), None);
    r.run("umount", &[mnt_path.as_str()])?;
    fs::remove_dir(&mnt).with_path("cannot remove", &mnt)?;
    result
}

/// Runs `cmd` (stdout piped by the caller) with the content of `blob`
/// on its stdin. With `sink` (device, limit, partition number), what the
/// tool writes to stdout goes to the device, at most `limit` bytes;
/// without, it is only logged. A signal stops the tool ([`run::wait`]).
fn pipe_into(
    r: &Runner,
    mut cmd: std::process::Command,
    prog: &str,
    args: &[&str],
    blob: &Blob,
    what: &str,
    sink: Option<(&mut fs::File, u64, u8)>,
) -> Result<()> {
    cmd.stdin(Stdio::piped()).stderr(Stdio::piped());
    let mut child = run::spawn(&mut cmd).map_err(|e| run::spawn_error(prog, &e))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = if sink.is_some() { child.stdout.take() } else { None };
    // Feed stdin on one thread (and copy stdout to the device on another)
    // while this one drains what is left: a tool that prints a lot (tar
    // warns per member) would otherwise block on a full pipe.
    let (fed, written, out) = std::thread::scope(|scope| {
        let feeder = scope.spawn(move || -> io::Result<()> {
            io::copy(&mut blob.open().map_err(io::Error::other)?, &mut stdin)?;
            stdin.flush()
        });
        let copier = match (sink, stdout) {
            (Some((dev, limit, number)), Some(mut stdout)) => Some(scope.spawn(move || {
                copy_limited(&mut stdout, dev, limit)
                    .map(drop)
                    .map_err(|e| Error::Refused(format!("cannot write `{what}` to partition {number}: {e}")))
            })),
            _ => None,
        };
        let out = run::wait(child, prog);
        let written = copier.map_or(Ok(()), |c| {
            c.join()
                .unwrap_or_else(|_| Err(Error::Refused("the copying thread failed".into())))
        });
        let fed = feeder
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the feeding thread failed")));
        (fed, written, out)
    });
    // The partition limit first: the tool then dies of a broken pipe.
    written?;
    let out = out?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        r.log().verbose(&format!("{prog} stderr:\n{}", stderr.trim_end()));
    }
    run::check(prog, args, &out)?;
    fed.map_err(|e| Error::Refused(format!("cannot feed `{what}` to `{prog}`: {e}")))
}

/// `losetup -d DEV`.
fn detach(r: &Runner, dev: &str) -> Result<()> {
    r.run("losetup", &["-d", dev]).map(drop)
}

/// The device-mapper name of logical volume `group/name` (LVM doubles the
/// `-` of both names and joins them with one).
pub fn dm_name(group: &str, name: &str) -> String {
    format!("{}-{}", group.replace('-', "--"), name.replace('-', "--"))
}

/// Removes device-mapper mappings of the partitions of volume
/// `group/name` (`NAME1`, `NAMEp1`, …). Debian's parted makes them when it
/// partitions a volume directly, as the classic manager did; they hold the
/// volume open, so neither a guest nor `lvremove` could use it. This
/// manager partitions through a loop device and makes none; a guest the
/// classic manager created may still have them. Without `dmsetup` there is
/// nothing to do.
fn release_volume(r: &Runner, group: &str, name: &str) -> Result<()> {
    let Ok(out) = r.output(r.command("dmsetup", &["ls"])) else {
        r.log().verbose("no dmsetup: no partition mappings to remove");
        return Ok(());
    };
    if !out.status.success() {
        return Ok(());
    }
    let base = dm_name(group, name);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(mapping) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = mapping.strip_prefix(&base) else {
            continue;
        };
        let digits = rest.strip_prefix('p').unwrap_or(rest);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            r.log()
                .info(&format!("removing the partition mapping {mapping} of {group}/{name}"));
            r.run("dmsetup", &["remove", mapping])?;
        }
    }
    Ok(())
}

/// `lvremove -f GROUP/NAME`.
fn remove_volume(r: &Runner, group: &str, name: &str) -> Result<()> {
    let lv = format!("{group}/{name}");
    r.run("lvremove", &["-f", lv.as_str()]).map(drop)
}

/// Removes the disk of guest `name`: its logical volume (if it exists)
/// or its file.
pub fn remove(r: &Runner, disk: &Disk, name: &str) -> Result<()> {
    match disk {
        Disk::None => Ok(()),
        Disk::Lvm { group, .. } => {
            if exists(r, disk, name)? {
                release_volume(r, group, name)?;
                remove_volume(r, group, name)
            } else {
                r.log().info(&format!("no logical volume {group}/{name} to remove"));
                Ok(())
            }
        }
        Disk::File(path) => match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("cannot remove", path, e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_classic() {
        let d =
            DiskConfig::parse("DISK_SIZE=\"4000M\"\nDISK_PART3=\"1G:ext4:rootfs.tar.gz\"\nDISK_PART1=\"100M:vfat:\"\n");
        let parts = layout(&d).unwrap();
        let spans: Vec<(u8, u64, u64, &str)> = parts
            .iter()
            .map(|p| (p.number, p.start_mb, p.end_mb, p.fs.as_str()))
            .collect();
        assert_eq!(spans, [(1, 1, 101, "vfat"), (2, 101, 103, ""), (3, 103, 1103, "ext4")]);
    }

    #[test]
    fn device_mapper_names() {
        assert_eq!(dm_name("vg-xen-sda2", "web-1"), "vg--xen--sda2-web--1");
        assert_eq!(dm_name("vg0", "g"), "vg0-g");
    }
}
