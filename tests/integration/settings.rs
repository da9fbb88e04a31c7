//! One declaration per setting: `build --set`, `--print-inputs`, TOML
//! errors in TOML words, and the rules every writer and `check` share.

use crate::support::Scratch;

fn inputs(s: &Scratch) {
    s.write("in/Image", b"KERNEL");
    s.write("in/setup.sh", "#!/bin/sh\necho setup\n");
    s.write("in/rootfs.tar.gz", b"\x1f\x8b not really");
}

const TOML: &str = r#"
[guest]
memory = 256
vcpus = 2
autoboot = false
kernel = "in/Image"

[params]
XENGUEST_NETWORK_TYPE = "nat"

[init]
scripts = ["in/setup.sh"]

[disk]
size = "2G"

[disk.files]
"rootfs.tar.gz" = "in/rootfs.tar.gz"

[[disk.partitions]]
number = 1
size = "1G"
fs = "ext4"
content = "rootfs.tar.gz"
"#;

const SETS: &[&str] = &[
    "--set=guest.memory=256",
    "--set=guest.vcpus=2",
    "--set=guest.autoboot=0",
    "--set=guest.kernel=in/Image",
    "--set=params.XENGUEST_NETWORK_TYPE=nat",
    "--set=init.scripts=in/setup.sh",
    "--set=disk.size=2G",
    "--set=disk.files=in/rootfs.tar.gz",
    "--set=disk.partitions=1:1G:ext4:rootfs.tar.gz",
];

#[test]
fn set_alone_builds_what_the_toml_builds() {
    let s = Scratch::new();
    inputs(&s);
    s.write("g.toml", TOML);
    s.run(&["build", "g.toml", "-o", "a.xenguest"]).success();
    let mut args = vec!["build", "-o", "b.xenguest"];
    args.extend_from_slice(SETS);
    s.run(&args).success();
    assert_eq!(s.read("a.xenguest"), s.read("b.xenguest"));
    // Over a TOML, a setting's --set replaces its value.
    s.run(&["build", "g.toml", "--set=guest.memory=300", "-o", "c.xenguest"])
        .success();
    assert_eq!(s.xl("c.xenguest")["memory"], "300");
    // Without a TOML there is no name to derive the output from.
    s.run(&["build", "--set=guest.memory=1"]).failure(2, &["-o OUT"]);
}

#[test]
fn print_inputs_lists_what_is_read_and_writes_nothing() {
    let s = Scratch::new();
    inputs(&s);
    s.write("g.toml", TOML);
    let r = s.run(&["build", "g.toml", "--print-inputs", "--set=xen.config=in/setup.sh"]);
    r.success();
    let lines: Vec<String> = r.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines, ["in/Image", "in/setup.sh", "in/rootfs.tar.gz"], "{lines:?}");
    assert!(!s.exists("g.xenguest"));
    // It checks the whole description: a missing input fails it.
    s.run(&["build", "g.toml", "--print-inputs", "--set=guest.kernel=nope"])
        .failure(1, &["--set guest.kernel", "nope", "no such file"]);
}

#[test]
fn set_values_go_through_the_declarations() {
    let s = Scratch::new();
    for (set, needles) in [
        ("guest.memory=lots", &["--set guest.memory", "lots"][..]),
        ("guest.autoboot=yes", &["--set guest.autoboot", "1 or 0"]),
        ("params.GUEST_AUTOBOOT=yes", &["--set params.GUEST_AUTOBOOT", "1, 0"]),
        ("params.XENGUEST_NETWORK_TYPE=brdge", &["bridge, nat, none"]),
        (
            "disk.partitions=1:9G:ext4:",
            &["--set disk.partitions", "--set disk.size"],
        ),
        ("guest.memroy=1", &["guest.memroy", "not a key", "guest.memory"]),
        ("nonsense", &["KEY=VALUE"]),
    ] {
        s.run(&["build", &format!("--set={set}"), "-o", "g.xenguest"])
            .error(needles);
        assert!(!s.exists("g.xenguest"), "{set}");
    }
}

#[test]
fn toml_errors_speak_toml() {
    let s = Scratch::new();
    inputs(&s);
    // The issue's example: a partition larger than the disk.
    s.write(
        "g.toml",
        "[disk]\nsize = \"1G\"\n\n[[disk.partitions]]\nnumber = 1\nsize = \"9G\"\nfs = \"ext4\"\n",
    );
    let r = s.run(&["build", "g.toml", "-o", "g.xenguest"]);
    r.failure(1, &["g.toml", "line 4", "disk.partitions #1", "disk.size"]);
    assert!(!r.stderr().contains("--"), "{}", r.stderr());
    // Two partitions with one number: an error naming both.
    s.write(
        "g.toml",
        "[disk]\nsize = \"4G\"\n[[disk.partitions]]\nnumber = 1\nsize = \"1G\"\nfs = \"swap\"\n[[disk.partitions]]\nnumber = 1\nsize = \"1G\"\nfs = \"ext4\"\n",
    );
    s.run(&["build", "g.toml", "-o", "g.xenguest"]).failure(
        1,
        &[
            "line 7",
            "disk.partitions #2",
            "number = 1",
            "disk.partitions #1",
            "line 3",
        ],
    );
    // One value given twice.
    s.write(
        "g.toml",
        "[guest]\nautoboot = true\n\n[params]\nGUEST_AUTOBOOT = \"0\"\n",
    );
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["line 5", "params.GUEST_AUTOBOOT", "guest.autoboot", "line 2"]);
    // Known parameter values.
    s.write("g.toml", "[params]\nXENGUEST_NETWORK_TYPE = \"brdge\"\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["line 2", "params.XENGUEST_NETWORK_TYPE", "bridge, nat, none"]);
    // Not UTF-8: the line and the byte offset.
    s.write("g.toml", b"[guest]\nmemory = 1\n# caf\xe9\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["g.toml", "line 3", "column 6", "byte offset 24", "not UTF-8"]);
    // An unknown [guest] key lists the declared ones.
    s.write("g.toml", "[guest]\nmemroy = 1\n");
    s.run(&["build", "g.toml", "-o", "g.xenguest"])
        .failure(1, &["line 2", "guest.memroy", "memory"]);
    assert!(!s.exists("g.xenguest"));
}

#[test]
fn known_parameter_values_are_one_rule_for_writers_and_check() {
    let s = Scratch::new();
    for bad in ["GUEST_AUTOBOOT=yes", "XENGUEST_NETWORK_TYPE=brdge"] {
        s.run(&["create", "g.xenguest", &format!("--set-param={bad}")])
            .failure(1, &["--set-param", bad]);
        assert!(!s.exists("g.xenguest"), "{bad}");
    }
    // An image made elsewhere: `check` refuses what the writers refuse.
    s.mkdir("d");
    s.run(&["create", "d", "--set-param=XENGUEST_NETWORK_TYPE=nat"])
        .success();
    let params = s.read_text("d/params.cfg").replace("\"nat\"", "\"brdge\"");
    s.write("d/params.cfg", params);
    s.run(&["check", "d"])
        .error(&["XENGUEST_NETWORK_TYPE=brdge", "bridge, nat, none"]);
}

#[test]
fn help_shows_every_declared_option() {
    let s = Scratch::new();
    for op in ["create", "update", "partial"] {
        let r = s.run(&[op, "--help"]);
        r.success();
        for def in xenguest_mkimage::ops::options() {
            r.stdout_has(&[&format!("--{}", def.name)]);
        }
    }
    let r = s.run(&["build", "--help"]);
    r.success().stdout_has(&["--set", "--print-inputs"]);
}
