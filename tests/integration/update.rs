//! `xenguest-manager update`, `rollback` and `history` on the manager's
//! stand-in host (`manager.rs`): every branch of the update's state
//! machine, and a kill (SIGKILL) at every step boundary followed by
//! `boot-start`, which must leave exactly one version. The block copy of
//! kept partitions runs on real loop devices in
//! `kept_partition_is_copied_on_a_real_disk`; real Xen runs the whole
//! update in tests/xen.

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use crate::manager::Host;

const LVM: &str = "XENGUEST_VOLUME_DEVICE=\"/dev/sda2\"\nXENGUEST_VOLUME_NAME=\"vg0\"\n";

/// A host with guest `g` created from version 1 and running. The
/// stand-in volumes hold no bytes, so no partition is kept data here but
/// in the layout checks; `kept_partition_is_copied_on_a_real_disk` copies
/// one on real disks.
fn running_v1() -> Host {
    running_v1_keeping(&[])
}

fn running_v1_keeping(keep: &[&str]) -> Host {
    let h = Host::new();
    h.conf(LVM);
    let v1 = version(&h, 1, &[]);
    let mut args = vec!["create", v1.to_str().unwrap(), "g"];
    for n in keep {
        args.extend(["--keep", n]);
    }
    h.run(&args).success();
    h.run(&["start", "g"]).success();
    assert_eq!(h.running(), ["g"]);
    h
}

/// Image `vN.xenguest` of guest `g`: a 100M disk, partition 1 ext4,
/// partition 3 ext4 (data), a params.cfg that says its version, a
/// health timeout of 1 s.
fn version(h: &Host, n: u32, extra: &[&str]) -> PathBuf {
    let file = format!("v{n}.xenguest");
    let param = format!("--set-param=TEST_VERSION={n}");
    let ver = format!("--image-version={n}");
    let mut opts = vec![
        "--disk-size=100M",
        "--disk-add-part=1:10M:ext4:",
        "--disk-add-part=3:20M:ext4:",
        "--set-param=GUEST_HEALTH_TIMEOUT=1",
        "--image-name=g",
        param.as_str(),
        ver.as_str(),
    ];
    opts.extend_from_slice(extra);
    h.image(&file, &opts)
}

/// The version number the active configuration says.
fn active_version(h: &Host) -> String {
    let params = fs::read_to_string(h.guest_dir("g").join("params.cfg")).unwrap();
    params
        .lines()
        .find_map(|l| l.strip_prefix("TEST_VERSION=\""))
        .map(|v| v.trim_end_matches('"').to_owned())
        .unwrap_or_default()
}

fn guests(h: &Host) -> PathBuf {
    h.root().join("etc/xenguest/guests")
}

fn volumes(h: &Host) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(h.state(""))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.strip_prefix("lv-vg0_").map(str::to_owned)
        })
        .collect();
    v.sort();
    v
}

fn healthy(h: &Host) {
    fs::write(h.state("xenstore-_local_domain_5_data_xenguest_health"), "ok\n").unwrap();
}

fn history(h: &Host) -> serde_json::Value {
    let r = h.run(&["history", "g", "--json"]);
    r.success();
    serde_json::from_str(&r.stdout()).unwrap()
}

fn states(h: &Host) -> Vec<(u64, String)> {
    history(h)["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_u64().unwrap(), v["state"].as_str().unwrap().to_owned()))
        .collect()
}

fn st(v: &[(u64, &str)]) -> Vec<(u64, String)> {
    v.iter().map(|(n, s)| (*n, (*s).to_owned())).collect()
}

#[test]
fn a_healthy_update_is_committed_and_keeps_the_old_version() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    healthy(&h);
    h.clear_calls();
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "2");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    let calls = h.calls();
    let at = |c: &str| {
        calls
            .iter()
            .position(|l| l.starts_with(c))
            .unwrap_or_else(|| panic!("no `{c}` in {calls:#?}"))
    };
    // Installed beside the running version, then the switch.
    assert!(at("lvcreate -y -L 100M -n g..next vg0") < at("xl shutdown -w g"));
    assert!(at("xl shutdown -w g") < at("lvrename vg0 g g..prev"));
    assert!(at("lvrename vg0 g g..prev") < at("lvrename vg0 g..next g"));
    assert!(at("lvrename vg0 g..next g") < at("xl create"));
    assert!(at("xl create") < at("xenstore-read /local/domain/5/data/xenguest/health"));
    // The new configuration names the active volume, not the slot.
    let xl = fs::read_to_string(h.guest_dir("g").join("xl.cfg")).unwrap();
    assert!(xl.contains("phy:/dev/vg0/g,xvda,w"), "{xl}");
    assert!(guests(&h).join(".g.versions/prev/guest.cfg").is_file());
    assert_eq!(states(&h), st(&[(1, "previous"), (2, "active")]));
    let doc = history(&h);
    let v2e = &doc["versions"][1];
    assert_eq!(v2e["image"]["version"], "2");
    assert_eq!(v2e["image"]["sha256"].as_str().unwrap().len(), 64);
    assert!(v2e["image"]["signer"].is_null());
    assert!(doc["pending"].is_null());
    let list: serde_json::Value = serde_json::from_str(&h.run(&["list", "--json"]).success().stdout()).unwrap();
    assert_eq!(list["guests"][0]["version"], 2);
    assert_eq!(list["guests"][0]["rollback"], true);
    assert_eq!(list["guests"][0]["pending"], false);
    // The text form too.
    h.run(&["history", "g"])
        .success()
        .stdout_has(&["1 previous", "2 active", "unsigned"]);

    // A third version replaces the rollback target.
    let v3 = version(&h, 3, &[]);
    h.run(&["update", "g", v3.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "3");
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    assert_eq!(states(&h), st(&[(1, "retired"), (2, "previous"), (3, "active")]));
}

#[test]
fn an_unconfirmed_update_rolls_back_and_restarts_the_old_version() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    let r = h.run(&["update", "g", v2.to_str().unwrap()]);
    r.failure(
        1,
        &[
            "no health confirmation within GUEST_HEALTH_TIMEOUT=1 s",
            "rolled back",
            "runs again",
        ],
    );
    assert_eq!(active_version(&h), "1");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(volumes(&h), ["g"]);
    assert!(!guests(&h).join(".g.versions/next").exists());
    assert!(!guests(&h).join(".g.versions/pending.json").exists());
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed")]));
    let doc = history(&h);
    assert!(doc["versions"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("GUEST_HEALTH_TIMEOUT"));
    // The old version was started again from its own configuration.
    let created = fs::read_to_string(h.state("created-g.cfg")).unwrap();
    assert!(created.contains("phy:/dev/vg0/g,xvda,w"), "{created}");
    // Nothing to roll back to: the failed version was discarded.
    h.run(&["rollback", "g"]).failure(1, &["no previous version"]);
}

#[test]
fn a_guest_that_reports_a_failure_or_crashes_is_rolled_back_at_once() {
    let h = running_v1();
    fs::write(
        h.state("xenstore-_local_domain_5_data_xenguest_health"),
        "failed: no db\n",
    )
    .unwrap();
    let v2 = version(&h, 2, &["--set-param=GUEST_HEALTH_TIMEOUT=600"]);
    h.run(&["update", "g", v2.to_str().unwrap()])
        .failure(1, &["reported `failed: no db`", "rolled back"]);
    assert_eq!(active_version(&h), "1");
    assert_eq!(h.running(), ["g"]);

    // The new domain dies as soon as it is unpaused: a crash.
    fs::remove_file(h.state("xenstore-_local_domain_5_data_xenguest_health")).unwrap();
    let hook = h.state("on-xl");
    fs::write(
        &hook,
        "#!/bin/bash\n[ \"$1\" = unpause ] && [ -e \"$STANDIN_STATE/crash\" ] && rm \"$STANDIN_STATE/crash\" && \
         (sleep 0.2; grep -vxF g \"$STANDIN_STATE/running\" > \"$STANDIN_STATE/r\"; mv \"$STANDIN_STATE/r\" \"$STANDIN_STATE/running\") &\nexit 0\n",
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(&mut fs::metadata(&hook).unwrap().permissions(), 0o755);
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fs::write(h.state("crash"), "").unwrap();
    h.run(&["update", "g", v2.to_str().unwrap()])
        .failure(1, &["stopped before it confirmed its health", "rolled back"]);
    assert_eq!(active_version(&h), "1");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed"), (3, "failed")]));
}

#[test]
fn a_failing_xl_list_while_waiting_for_health_is_asked_again() {
    let h = running_v1();
    let v2 = version(&h, 2, &["--set-param=GUEST_HEALTH_TIMEOUT=20"]);
    // The first `xl list` after the new version's start crashes; the
    // guest confirms its health at the next poll.
    let hook = h.state("on-xl");
    fs::write(
        &hook,
        r#"#!/bin/bash
s=$STANDIN_STATE
if [ "$1" = unpause ]; then touch "$s/armed"; fi
if [ "$1" = list ] && [ -e "$s/armed" ]; then
    rm "$s/armed"
    echo ok > "$s/xenstore-_local_domain_5_data_xenguest_health"
    echo 'xl: Segmentation fault' >&2
    exit 1
fi
exit 0
"#,
    )
    .unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "2");
    assert!(h.log().contains("asking again"), "{}", h.log());
}

#[test]
fn a_failing_start_of_the_new_version_rolls_back() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    healthy(&h);
    h.fail("xl-unpause");
    h.run(&["update", "g", v2.to_str().unwrap()]).failure(
        1,
        &[
            "rolled back to the previous version, but starting it failed",
            "xl unpause g",
        ],
    );
    assert_eq!(active_version(&h), "1");
    assert_eq!(volumes(&h), ["g"]);
    // The old version could not be started either (unpause fails): the
    // error says so, and the old version is still the installed one.
    fs::remove_file(h.state("fail-xl-unpause")).unwrap();
    h.run(&["start", "g"]).success();
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed")]));
}

#[test]
fn rollback_goes_back_to_the_previous_version_once() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    healthy(&h);
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    h.clear_calls();
    h.run(&["rollback", "g"]).success();
    assert_eq!(active_version(&h), "1");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(volumes(&h), ["g"]);
    let calls = h.calls();
    assert!(calls.contains(&"lvrename vg0 g g..next".to_owned()), "{calls:#?}");
    assert!(calls.contains(&"lvrename vg0 g..prev g".to_owned()), "{calls:#?}");
    assert!(calls.contains(&"lvremove -f vg0/g..next".to_owned()), "{calls:#?}");
    assert_eq!(states(&h), st(&[(1, "active"), (2, "rolled-back")]));
    h.run(&["rollback", "g"]).failure(1, &["no previous version"]);
}

#[test]
fn a_stopped_guest_is_updated_without_starting_it() {
    let h = running_v1();
    h.run(&["stop", "g"]).success();
    let v2 = version(&h, 2, &[]);
    h.clear_calls();
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "2");
    assert!(h.running().is_empty());
    assert!(
        !h.calls().iter().any(|c| c.starts_with("xl create")),
        "{:#?}",
        h.calls()
    );
    assert_eq!(states(&h), st(&[(1, "previous"), (2, "active")]));
}

#[test]
fn layouts_that_cannot_carry_the_kept_data_are_refused_before_anything_changes() {
    let h = running_v1_keeping(&["3"]);
    // Partition 3 gone.
    let gone = h.image(
        "gone.xenguest",
        &["--disk-size=100M", "--disk-add-part=1:10M:ext4:", "--image-name=g"],
    );
    // Partition 3 smaller.
    let small = h.image(
        "small.xenguest",
        &[
            "--disk-size=100M",
            "--disk-add-part=1:10M:ext4:",
            "--disk-add-part=3:10M:ext4:",
            "--image-name=g",
        ],
    );
    // Partition 3 with another file system.
    let other = h.image(
        "other.xenguest",
        &[
            "--disk-size=100M",
            "--disk-add-part=1:10M:ext4:",
            "--disk-add-part=3:20M:vfat:",
            "--image-name=g",
        ],
    );
    // Another guest's image.
    let stranger = h.image(
        "stranger.xenguest",
        &[
            "--disk-size=100M",
            "--disk-add-part=1:10M:ext4:",
            "--disk-add-part=3:20M:ext4:",
            "--image-name=web",
        ],
    );
    h.clear_calls();
    for (img, says) in [
        (&gone, "has no partition 3"),
        (&small, "cannot shrink"),
        (&other, "formats it as `vfat`"),
        (&stranger, "is an image of `web`, but guest `g` runs `g`"),
    ] {
        h.run(&["update", "g", img.to_str().unwrap()]).failure(1, &[says]);
    }
    // Only reads happened.
    let changes: Vec<String> = h
        .calls()
        .into_iter()
        .filter(|c| !c.starts_with("xl info") && !c.starts_with("xl list"))
        .collect();
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(states(&h), st(&[(1, "active")]));
    assert_eq!(h.running(), ["g"]);
    // --any-name would install another guest's image: it gets as far as
    // the copy of the kept partition (the stand-in volume has no bytes).
    healthy(&h);
    h.run(&["update", "g", stranger.to_str().unwrap(), "--any-name"])
        .failure(1, &["cannot open", "/dev/vg0/g", "rolled back"]);
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed")]));
    // --keep on an image without that partition.
    let v2 = version(&h, 2, &[]);
    h.run(&["update", "g", v2.to_str().unwrap(), "--keep", "2"])
        .failure(1, &["--keep", "there is no partition 2 to keep"]);
}

#[test]
fn remove_takes_every_version_with_it() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    healthy(&h);
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    h.run(&["remove", "g"]).success();
    assert!(volumes(&h).is_empty(), "{:?}", volumes(&h));
    assert!(
        h.s.ls("root/etc/xenguest/guests").is_empty(),
        "{:?}",
        h.s.ls("root/etc/xenguest/guests")
    );
    // A new guest of that name starts a new history.
    let v1 = h.s.join("v1.xenguest");
    h.run(&["create", v1.to_str().unwrap(), "g"]).success();
    assert_eq!(states(&h), st(&[(1, "active")]));
}

/// Runs the manager with `args`, asking it to kill itself at `point`
/// (`XENGUEST_MANAGER_TEST_KILL_AT`), and checks that it died there.
fn run_killed(h: &Host, args: &[&str], point: &str) {
    let out = h
        .cmd(args)
        .env("XENGUEST_MANAGER_TEST_KILL_AT", point)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(9),
        "{point}: the manager was not killed there: {out:?}"
    );
}

/// Kills the manager at `point` during an update (or a rollback), then
/// runs `boot-start` as the next boot would; returns the active version.
fn kill_at(point: &str, healthy_v2: bool) -> (Host, String) {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    if healthy_v2 {
        healthy(&h);
    }
    let rollback = point.starts_with("rollback:");
    if rollback {
        h.run(&["update", "g", v2.to_str().unwrap()]).success();
    }
    let args: Vec<&str> = if rollback {
        vec!["rollback", "g"]
    } else {
        vec!["update", "g", v2.to_str().unwrap()]
    };
    run_killed(&h, &args, point);
    assert!(
        guests(&h).join(".g.versions/pending.json").is_file(),
        "{point}: nothing pending after the kill"
    );
    // History and status read, but do not touch, an interrupted update.
    h.run(&["history", "g"]).success().stdout_has(&["interrupted"]);
    // The next boot: Dom0's domains are gone, boot-start recovers.
    fs::write(h.state("running"), "").unwrap();
    let boot = h.run(&["boot-start"]);
    boot.success();
    assert!(!guests(&h).join(".g.versions/pending.json").exists(), "{point}");
    assert!(!guests(&h).join(".g.versions/next").exists(), "{point}");
    assert!(h.guest_dir("g").join("guest.cfg").is_file(), "{point}");
    assert_eq!(h.running(), ["g"], "{point}: boot-start starts the one version");
    let active = active_version(&h);
    // Exactly one version is active, and its disk is `g`.
    let hist = states(&h);
    assert_eq!(
        hist.iter().filter(|(_, s)| s == "active").count(),
        1,
        "{point}: {hist:?}"
    );
    assert!(volumes(&h).contains(&"g".to_owned()), "{point}: {:?}", volumes(&h));
    assert!(
        !volumes(&h).contains(&"g..next".to_owned()),
        "{point}: {:?}",
        volumes(&h)
    );
    (h, active)
}

#[test]
fn an_update_killed_at_any_step_is_undone_or_finished_at_boot() {
    let mut points: Vec<String> = ["stage", "stop", "copy", "start", "health"]
        .iter()
        .map(|s| format!("update:{s}"))
        .collect();
    for n in 0..=4 {
        points.push(format!("update:switch:{n}"));
    }
    for point in &points {
        let (h, active) = kill_at(point, true);
        // Never confirmed: undone, the old version is back with its disk.
        assert_eq!(active, "1", "{point}");
        assert_eq!(volumes(&h), ["g"], "{point}");
        assert_eq!(states(&h), st(&[(1, "active"), (2, "failed")]), "{point}");
        let reason = history(&h)["versions"][1]["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("interrupted at step"), "{point}: {reason}");
    }
    // Killed once the new version was confirmed: finished.
    let (h, active) = kill_at("update:commit", true);
    assert_eq!(active, "2");
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    assert_eq!(states(&h), st(&[(1, "previous"), (2, "active")]));
    // Killed while undoing an unconfirmed update: the undo is finished.
    let (h, active) = kill_at("update:undo", false);
    assert_eq!(active, "1");
    assert_eq!(volumes(&h), ["g"]);
}

/// An update of a guest that has a rollback target, killed at `point`,
/// then `boot-start`: returns the host.
fn kill_second_update_at(point: &str) -> Host {
    let h = running_v1();
    healthy(&h);
    let v2 = version(&h, 2, &[]);
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    let v3 = version(&h, 3, &[]);
    run_killed(&h, &["update", "g", v3.to_str().unwrap()], point);
    fs::write(h.state("running"), "").unwrap();
    h.run(&["boot-start"]).success();
    assert!(!guests(&h).join(".g.versions/pending.json").exists(), "{point}");
    assert!(!guests(&h).join(".g.versions/parked").exists(), "{point}");
    h
}

#[test]
fn an_interrupted_update_keeps_the_rollback_target() {
    let mut points: Vec<String> = ["stage", "stop", "copy", "start", "health"]
        .iter()
        .map(|s| format!("update:{s}"))
        .collect();
    for n in 0..=4 {
        points.push(format!("update:switch:{n}"));
    }
    for point in &points {
        let h = kill_second_update_at(point);
        assert_eq!(active_version(&h), "2", "{point}");
        assert_eq!(volumes(&h), ["g", "g..prev"], "{point}");
        assert_eq!(
            states(&h),
            st(&[(1, "previous"), (2, "active"), (3, "failed")]),
            "{point}"
        );
        // The target is whole: a rollback reaches version 1.
        h.run(&["rollback", "g"]).success();
        assert_eq!(active_version(&h), "1", "{point}");
    }
    let h = kill_second_update_at("update:commit");
    assert_eq!(active_version(&h), "3");
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    assert_eq!(states(&h), st(&[(1, "retired"), (2, "previous"), (3, "active")]));
}

#[test]
fn a_rollback_killed_at_any_step_is_finished_at_boot() {
    let mut points = vec!["rollback:stop".to_owned(), "rollback:commit".to_owned()];
    for n in 0..=4 {
        points.push(format!("rollback:switch:{n}"));
    }
    for point in &points {
        let (h, active) = kill_at(point, true);
        assert_eq!(active, "1", "{point}");
        assert_eq!(volumes(&h), ["g"], "{point}");
        assert_eq!(states(&h), st(&[(1, "active"), (2, "rolled-back")]), "{point}");
    }
}

#[test]
fn any_changing_action_on_the_guest_recovers_it_first() {
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    run_killed(&h, &["update", "g", v2.to_str().unwrap()], "update:switch:3");
    // In the middle of the switch guests/g is gone; status says so, and
    // start finishes the undo first, then starts version 1.
    assert!(!h.guest_dir("g").join("guest.cfg").exists());
    h.run(&["start", "g"]).success();
    assert_eq!(active_version(&h), "1");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed")]));

    // A create of the same name while guests/g is away: it recovers the
    // guest first, and then refuses to replace it.
    run_killed(&h, &["update", "g", v2.to_str().unwrap()], "update:switch:3");
    assert!(!h.guest_dir("g").exists());
    let v1 = h.s.join("v1.xenguest");
    h.run(&["create", v1.to_str().unwrap(), "g"])
        .failure(1, &["guest `g` already exists"]);
    assert_eq!(active_version(&h), "1");
    assert_eq!(states(&h), st(&[(1, "active"), (2, "failed"), (3, "failed")]));
    assert_eq!(volumes(&h), ["g"]);
}

/// The byte offset of partition `n` of disk file `file`, read by sfdisk.
fn partition_offset(file: &std::path::Path, n: usize) -> u64 {
    let out = std::process::Command::new("sfdisk")
        .arg("--json")
        .arg(file)
        .output()
        .expect("sfdisk");
    assert!(out.status.success(), "{out:?}");
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let parts = table["partitiontable"]["partitions"].as_array().unwrap();
    let part = parts
        .iter()
        .find(|p| p["node"].as_str().unwrap().ends_with(&n.to_string()))
        .unwrap_or_else(|| panic!("no partition {n}: {parts:?}"));
    part["start"].as_u64().unwrap() * 512
}

fn debugfs(file: &std::path::Path, n: usize, request: &str, write: bool) -> String {
    let at = format!("{}?offset={}", file.display(), partition_offset(file, n));
    let mut cmd = std::process::Command::new("debugfs");
    if write {
        cmd.arg("-w");
    }
    let out = cmd.args(["-R", request, &at]).output().expect("debugfs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The kept partition's bytes move to the new disk on real loop devices
/// (losetup, parted, mkfs as the manager runs them; sfdisk and debugfs
/// read the result); the old disk stays as it was for a rollback.
#[test]
fn kept_partition_is_copied_on_a_real_disk() {
    let uid = String::from_utf8(std::process::Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    assert_eq!(
        uid.trim(),
        "0",
        "this test needs root to attach loop devices (CI runs as root)"
    );
    let h = Host::with_tools(&["xl", "xenstore-read"]);
    let opts = |n: &str| {
        vec![
            "--disk-size=40M".to_owned(),
            "--disk-add-part=1:10M:ext4:".to_owned(),
            "--disk-add-part=3:10M:ext4:".to_owned(),
            "--image-name=g".to_owned(),
            format!("--set-param=TEST_VERSION={n}"),
        ]
    };
    let v1_opts = opts("1");
    let v1 = h.image("v1.xenguest", &v1_opts.iter().map(String::as_str).collect::<Vec<_>>());
    h.run(&["create", v1.to_str().unwrap(), "g", "--keep", "3"]).success();
    let disks = h.root().join("var/lib/xenguest/disks");
    let file = disks.join("g.img");
    // The guest writes its data.
    let marker = h.s.join("marker");
    fs::write(&marker, "data of version 1\n").unwrap();
    debugfs(&file, 3, &format!("write {} marker", marker.display()), true);
    debugfs(&file, 1, &format!("write {} only-v1", marker.display()), true);
    h.run(&["start", "g"]).success();
    healthy(&h);
    let v2_opts = opts("2");
    let v2 = h.image("v2.xenguest", &v2_opts.iter().map(String::as_str).collect::<Vec<_>>());
    h.run(&["-vv", "update", "g", v2.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "2");
    // Partition 3 carried, partition 1 made anew from the new image.
    assert_eq!(debugfs(&file, 3, "cat marker", false), "data of version 1\n");
    assert!(!debugfs(&file, 1, "ls", false).contains("only-v1"));
    let prev = disks.join("g..prev.img");
    assert!(debugfs(&prev, 1, "ls", false).contains("only-v1"));
    // Nothing stays attached.
    let out = std::process::Command::new("losetup").arg("-a").output().unwrap();
    let attached = String::from_utf8_lossy(&out.stdout);
    assert!(!attached.contains(&disks.display().to_string()), "{attached}");
    // Version 2 writes too; a rollback brings version 1's disk back as it
    // was before the update.
    fs::write(&marker, "data of version 2\n").unwrap();
    debugfs(&file, 3, &format!("write {} marker2", marker.display()), true);
    h.run(&["rollback", "g"]).success();
    assert_eq!(active_version(&h), "1");
    assert!(debugfs(&file, 1, "ls", false).contains("only-v1"));
    assert!(!debugfs(&file, 3, "ls", false).contains("marker2"));
    assert!(!prev.exists() && !disks.join("g..next.img").exists());
    h.run(&["remove", "g"]).success();
    assert!(!file.exists());
}

#[test]
fn health_d_checks_confirm_or_refuse_the_new_version() {
    let h = running_v1();
    let ok = h.s.join("ok.sh");
    // Sourced like an init script: it sees params.cfg and `guestname`.
    fs::write(
        &ok,
        "#!/bin/bash\n[ \"$TEST_VERSION\" = 2 ] && [ \"$guestname\" = g ]\n",
    )
    .unwrap();
    let bad = h.s.join("bad.sh");
    fs::write(&bad, "#!/bin/bash\necho 'service not answering' >&2\nexit 1\n").unwrap();
    let ok_arg = format!("--init-health={}", ok.display());
    let bad_arg = format!("--init-health={}", bad.display());
    // No xenstore key: the image's own host-side check confirms it.
    let v2 = version(&h, 2, &[ok_arg.as_str()]);
    h.run(&["update", "g", v2.to_str().unwrap()]).success();
    assert_eq!(active_version(&h), "2");
    assert!(h.guest_dir("g").join("health.d/ok.sh").is_file());
    // A check that keeps failing: rolled back once the timeout passes,
    // saying what the check said.
    let v3 = version(&h, 3, &[bad_arg.as_str()]);
    h.run(&["update", "g", v3.to_str().unwrap()])
        .failure(1, &["GUEST_HEALTH_TIMEOUT=1", "service not answering", "rolled back"]);
    assert_eq!(active_version(&h), "2");
    // A failed update keeps the rollback target.
    assert_eq!(states(&h), st(&[(1, "previous"), (2, "active"), (3, "failed")]));
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    h.run(&["rollback", "g"]).success();
    assert_eq!(active_version(&h), "1");
}

#[test]
fn a_failure_at_each_step_before_the_start_is_undone() {
    // stage: the new volume cannot be made.
    let h = running_v1();
    let v2 = version(&h, 2, &[]);
    healthy(&h);
    h.fail("lvcreate");
    h.run(&["update", "g", v2.to_str().unwrap()])
        .failure(1, &["lvcreate", "rolled back"]);
    assert_eq!(h.running(), ["g"], "the old version never stopped");
    assert_eq!(active_version(&h), "1");
    assert_eq!(volumes(&h), ["g"]);
    fs::remove_file(h.state("fail-lvcreate")).unwrap();

    // stop: the old version does not shut down; without --kill the update
    // stops there and the old version runs on.
    h.fail("xl-shutdown");
    h.clear_calls();
    h.run(&["update", "g", v2.to_str().unwrap()])
        .failure(1, &["xl shutdown", "rolled back"]);
    assert_eq!(h.running(), ["g"]);
    assert_eq!(volumes(&h), ["g"]);
    assert!(!h.calls().iter().any(|c| c.starts_with("lvrename")), "{:#?}", h.calls());
    // With --kill it is destroyed and the update goes on.
    h.run(&["update", "g", v2.to_str().unwrap(), "--kill"]).success();
    assert_eq!(active_version(&h), "2");
    fs::remove_file(h.state("fail-xl-shutdown")).unwrap();

    // switch: the rename of the new volume into place fails; the rename
    // before it is undone and the old version runs again.
    let v3 = version(&h, 3, &[]);
    let hook = h.state("on-lvrename");
    fs::write(
        &hook,
        "#!/bin/bash\n[ \"$2 $3\" != \"g..next g\" ] || { echo 'lvrename failed' >&2; exit 1; }\n",
    )
    .unwrap();
    fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    h.run(&["update", "g", v3.to_str().unwrap()])
        .failure(1, &["lvrename", "rolled back", "runs again"]);
    assert_eq!(active_version(&h), "2");
    assert_eq!(h.running(), ["g"]);
    assert_eq!(volumes(&h), ["g", "g..prev"]);
    assert_eq!(
        states(&h),
        st(&[
            (1, "previous"),
            (2, "failed"),
            (3, "failed"),
            (4, "active"),
            (5, "failed")
        ])
    );
    // The rollback target survived all of it.
    fs::remove_file(&hook).unwrap();
    h.run(&["rollback", "g"]).success();
    assert_eq!(active_version(&h), "1");
}
