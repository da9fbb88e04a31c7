//! What an image says for `xenguest-manager update`: partitions kept
//! across updates (`DISK_PARTn_KEEP`), host health checks (`health.d/`)
//! and how long to wait for them (`GUEST_HEALTH_TIMEOUT`). Each through
//! the TOML, `build --set`, the classic options, `export`, `check`, `info`
//! and `dump-*`.

use std::fs;

use crate::support::Scratch;

const GUEST_TOML: &str = r#"[guest]
health_timeout = 300

[init]
scripts = ["in/setup.sh"]
health = ["in/ping.sh", "in/app.sh"]

[disk]
size = "2G"

[[disk.partitions]]
number = 1
size = "1G"
fs = "ext4"

[[disk.partitions]]
number = 2
size = "500M"
fs = "ext4"
keep = true
"#;

fn spec(s: &Scratch) {
    s.write("spec/guest.toml", GUEST_TOML);
    s.write("spec/in/setup.sh", "#!/bin/sh\necho setup\n");
    s.write("spec/in/ping.sh", "#!/bin/sh\nping -c1 \"$guestname\"\n");
    s.write("spec/in/app.sh", "#!/bin/sh\ntrue\n");
}

#[test]
fn toml_keep_health_and_timeout_land_in_the_image_and_export_round_trips() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "g.xenguest"]).success();
    s.run(&["check", "g.xenguest"]).success();
    let disk = s.vars("g.xenguest", "disk.cfg");
    assert_eq!(disk.get("DISK_PART2_KEEP").map(String::as_str), Some("1"));
    assert!(!disk.contains_key("DISK_PART1_KEEP"), "{disk:?}");
    let params = s.vars("g.xenguest", "params.cfg");
    assert_eq!(params.get("GUEST_HEALTH_TIMEOUT").map(String::as_str), Some("300"));
    // Executable members, directory first, as for init.d/.
    let listing = s.tar_verbose("g.xenguest");
    assert!(
        listing.contains("drwxr-xr-x") && listing.contains("./health.d/\n"),
        "{listing}"
    );
    for name in ["./health.d/app.sh", "./health.d/ping.sh"] {
        let line = listing.lines().find(|l| l.ends_with(name)).unwrap();
        assert!(line.starts_with("-rwxr-xr-x"), "{line}");
    }
    // dump-init: the init stages in run order, then the health checks.
    let dump = s.run(&["dump-init", "g.xenguest"]).success().stdout();
    let at = |needle: &str| dump.find(needle).unwrap_or_else(|| panic!("{needle} in {dump}"));
    assert!(at("=== init.post ===") < at("=== health.d ==="));
    assert!(at("--- health.d/app.sh ---") < at("--- health.d/ping.sh ---"));
    let json = s.run(&["dump-init", "--json", "g.xenguest"]).success().json();
    let stages: Vec<&str> = json["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["init.d", "health.d", "health.d"]);
    // info says which partitions are kept, and lists the health checks.
    let info = s.run(&["info", "--json", "g.xenguest"]).success().json();
    let parts = info["disk"]["partitions"].as_array().unwrap();
    assert_eq!(parts[0]["keep"], false);
    assert_eq!(parts[1]["keep"], true);
    assert!(info["init"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["stage"] == "health.d" && x["name"] == "ping.sh"));
    s.run(&["info", "g.xenguest"]).success().stdout_has(&[
        "partition 2: 500 MB, fs ext4, content , kept across updates",
        "  health.d/ping.sh",
    ]);
    let disk_json = s.run(&["dump-diskconfig", "--json", "g.xenguest"]).success().json();
    assert_eq!(disk_json["disk"]["partitions"][1]["keep"], true);

    // export writes them back; build gives the same image.
    s.run(&["export", "g.xenguest", "out"]).success();
    let toml = s.read_text("out/guest.toml");
    assert!(
        toml.contains("keep = true")
            && toml.contains("health_timeout = 300")
            && toml.contains("health = [")
            && toml.contains("\"health.d/ping.sh\""),
        "{toml}"
    );
    assert_eq!(s.mode("out/health.d/ping.sh") & 0o777, 0o755);
    s.run(&["build", "out/guest.toml", "-o", "again.xenguest"]).success();
    s.run(&["diff", "g.xenguest", "again.xenguest"])
        .success()
        .stdout_has(&["identical"]);
}

#[test]
fn build_set_gives_the_same_keys() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "toml.xenguest"]).success();
    s.run(&[
        "build",
        "--set=guest.health_timeout=300",
        "--set=init.scripts=spec/in/setup.sh",
        "--set=init.health=spec/in/ping.sh",
        "--set=init.health=spec/in/app.sh",
        "--set=disk.size=2G",
        "--set=disk.partitions=1:1G:ext4:",
        "--set=disk.partitions=2:500M:ext4:",
        "--set=disk.keep=2",
        "-o",
        "set.xenguest",
    ])
    .success();
    s.run(&["diff", "toml.xenguest", "set.xenguest"])
        .success()
        .stdout_has(&["identical"]);
    // A --set clears the TOML's mark; a partition nobody defines is refused.
    s.run(&[
        "build",
        "spec/guest.toml",
        "--set=disk.keep=2:0",
        "-o",
        "clear.xenguest",
    ])
    .success();
    assert!(!s.vars("clear.xenguest", "disk.cfg").contains_key("DISK_PART2_KEEP"));
    s.run(&["build", "spec/guest.toml", "--set=disk.keep=3", "-o", "bad.xenguest"])
        .error(&["--set disk.keep", "no partition 3"]);
    assert!(!s.exists("bad.xenguest"));
}

#[test]
fn the_toml_refuses_bad_values_naming_the_key() {
    let s = Scratch::new();
    spec(&s);
    for (from, to, needles) in [
        (
            "health_timeout = 300",
            "health_timeout = 0",
            &["guest.health_timeout", "between 1 and 86400"][..],
        ),
        (
            "health_timeout = 300",
            "health_timeout = \"300\"",
            &["guest.health_timeout", "a whole number"],
        ),
        ("keep = true", "keep = \"yes\"", &["line 20", "bool"]),
        ("health = [", "healthy = [", &["healthy"]),
    ] {
        s.write("spec/bad.toml", GUEST_TOML.replace(from, to));
        s.run(&["build", "spec/bad.toml", "-o", "bad.xenguest"]).error(needles);
        assert!(!s.exists("bad.xenguest"));
    }
}

#[test]
fn classic_options_mark_and_clear_keep_and_add_health_checks() {
    let s = Scratch::new();
    s.write("ping.sh", "#!/bin/sh\ntrue\n");
    s.create(
        "g.xenguest",
        &[
            "--disk-size=4G",
            "--disk-add-part=1:1G:ext4:",
            "--disk-add-part=2:1G:ext4:",
            "--disk-keep-part=2",
            "--init-health=ping.sh",
            "--guest-health-timeout=60",
        ],
    );
    s.run(&["check", "g.xenguest"]).success();
    assert_eq!(s.vars("g.xenguest", "disk.cfg")["DISK_PART2_KEEP"], "1");
    assert_eq!(s.vars("g.xenguest", "params.cfg")["GUEST_HEALTH_TIMEOUT"], "60");
    assert!(s.has_member("g.xenguest", "health.d/ping.sh"));
    // Options apply in order: a partition must exist when it is marked.
    s.run(&["update", "g.xenguest", "--disk-keep-part=3", "--disk-add-part=3:1G::"])
        .error(&["--disk-keep-part", "no partition 3", "--disk-add-part"]);
    s.update("g.xenguest", &["--disk-add-part=3:1G::", "--disk-keep-part=3:1"]);
    assert_eq!(s.vars("g.xenguest", "disk.cfg")["DISK_PART3_KEEP"], "1");
    // `:0` clears the mark; --disk-rm-part removes it with the partition.
    s.update("g.xenguest", &["--disk-keep-part=2:0", "--disk-rm-part=3"]);
    let disk = s.vars("g.xenguest", "disk.cfg");
    assert!(
        !disk.contains_key("DISK_PART2_KEEP") && !disk.contains_key("DISK_PART3_KEEP"),
        "{disk:?}"
    );
    assert!(!disk.contains_key("DISK_PART3"));
    // An empty timeout removes it (the manager's default applies).
    s.update("g.xenguest", &["--guest-health-timeout="]);
    assert!(!s.vars("g.xenguest", "params.cfg").contains_key("GUEST_HEALTH_TIMEOUT"));
    for (option, needles) in [
        ("--disk-keep-part=5", &["--disk-keep-part", "between 1 and 4"][..]),
        ("--disk-keep-part=1:yes", &["--disk-keep-part", "ID:0"]),
        (
            "--guest-health-timeout=0",
            &["--guest-health-timeout", "between 1 and 86400"],
        ),
        (
            "--guest-health-timeout=2m",
            &["--guest-health-timeout", "not a whole number"],
        ),
        (
            "--set-param=GUEST_HEALTH_TIMEOUT=86401",
            &["GUEST_HEALTH_TIMEOUT=86401", "1 to 86400"],
        ),
    ] {
        let before = s.read("g.xenguest");
        let r = s.run(&["update", "g.xenguest", option]);
        assert_ne!(r.code(), 0, "{option}");
        assert!(
            needles.iter().all(|n| r.stderr().contains(n)),
            "{option}: {}",
            r.stderr()
        );
        assert_eq!(s.read("g.xenguest"), before, "{option} changed the image");
    }
}

/// A directory image edited by hand, as another tool might leave it.
fn hand_edited(s: &Scratch, file: &str, line: &str) -> String {
    let dir = format!("dir-{}", s.ls("").len());
    s.mkdir(&dir);
    s.run(&["create", &dir, "--disk-size=2G", "--disk-add-part=1:1G:ext4:", "-q"])
        .success();
    fs::remove_file(s.join(&format!("{dir}/manifest.sha256"))).unwrap();
    let path = s.join(&format!("{dir}/{file}"));
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str(line);
    fs::write(&path, text).unwrap();
    dir
}

#[test]
fn check_and_writers_refuse_bad_keep_marks_and_timeouts() {
    let s = Scratch::new();
    let ok = hand_edited(&s, "disk.cfg", "DISK_PART1_KEEP=\"1\"\n");
    s.run(&["check", &ok]).success();
    for (file, line, needles) in [
        (
            "disk.cfg",
            "DISK_PART2_KEEP=\"1\"\n",
            &["DISK_PART2_KEEP", "no partition 2"][..],
        ),
        ("disk.cfg", "DISK_PART1_KEEP=\"yes\"\n", &["DISK_PART1_KEEP", "use 1"]),
        (
            "params.cfg",
            "GUEST_HEALTH_TIMEOUT=\"0\"\n",
            &["GUEST_HEALTH_TIMEOUT=0", "1 to 86400"],
        ),
        (
            "params.cfg",
            "GUEST_HEALTH_TIMEOUT=\"soon\"\n",
            &["GUEST_HEALTH_TIMEOUT=soon"],
        ),
    ] {
        let dir = hand_edited(&s, file, line);
        s.run(&["check", &dir]).failure(1, needles);
        let json = s.run(&["check", "--json", &dir]).json();
        assert_eq!(json["findings"][0]["rule"], "model", "{json}");
        // A writer refuses to make an image file of it, in check's words.
        let out = format!("{dir}.xenguest");
        s.run(&["pack", &dir, &out]).failure(1, needles);
        assert!(!s.exists(&out));
    }
}

#[test]
fn gnu_tar_and_bash_read_the_new_members_as_a_classic_host_does() {
    let s = Scratch::new();
    spec(&s);
    s.run(&["build", "spec/guest.toml", "-o", "g.xenguest"]).success();
    s.mkdir("x");
    let out = s.ext("tar", &["-C", "x", "-xf", "g.xenguest"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(s.mode("x/health.d/ping.sh") & 0o111, 0o111);
    // The classic manager sources both files; the new keys are plain
    // assignments it ignores.
    let out = s.ext(
        "bash",
        &[
            "-c",
            "cd x && . ./disk.cfg && . ./params.cfg && echo \"$DISK_PART2_KEEP $GUEST_HEALTH_TIMEOUT $DISK_PART2\"",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 300 500M:ext4:\n");
}
