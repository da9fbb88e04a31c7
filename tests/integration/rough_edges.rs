//! What a new user met: `diff -q`, closed pipes, a missing directory,
//! errors in TOML words, the listed operations and help texts, empty
//! numeric knobs and `--print-inputs`.

use std::fmt::Write as _;
use std::process::Command;

use crate::support::{bin, Scratch};

/// Two images that differ in a large text member: their diff is far
/// larger than a pipe's buffer.
fn two_images(s: &Scratch) {
    // Every fifth line differs: a diff of about the size of the file
    // (200 KB), quick to compute.
    let big = |c: char| {
        let mut text = String::new();
        for i in 0..5_000 {
            let mark = if i % 5 == 0 { c } else { '-' };
            let _ = writeln!(text, "# line {i:05} {mark} of the configuration");
        }
        text
    };
    s.write("a/big.cfg", big('a'));
    s.write("b/big.cfg", big('b'));
    s.create("a.xenguest", &["--xen-append=a/big.cfg", "--init-script=a/big.cfg"]);
    s.create("b.xenguest", &["--xen-append=b/big.cfg"]);
}

#[test]
fn diff_q_prints_nothing_and_exits_like_cmp_s() {
    let s = Scratch::new();
    two_images(&s);
    let r = s.run(&["diff", "-q", "a.xenguest", "b.xenguest"]);
    assert_eq!((r.code(), r.stdout(), r.stderr()), (1, String::new(), String::new()));
    let r = s.run(&["diff", "-q", "a.xenguest", "a.xenguest"]);
    assert_eq!((r.code(), r.stdout(), r.stderr()), (0, String::new(), String::new()));
    // Without -q the differences are printed.
    s.run(&["diff", "a.xenguest", "b.xenguest"])
        .failure(1, &[])
        .stdout_has(&["changed: ./guest.d/big.cfg"]);
}

/// `OP | head -1`: the reader stops early; the tool ends without a
/// message, `diff` with its usual status.
#[test]
fn a_closed_pipe_ends_quietly() {
    let s = Scratch::new();
    two_images(&s);
    for (op, status) in [("diff a.xenguest b.xenguest", "1"), ("dump-init a.xenguest", "141")] {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "\"$0\" {op} 2>err | head -n 1 >/dev/null; echo \"${{PIPESTATUS[0]}}\"; cat err"
            ))
            .arg(bin())
            .current_dir(s.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(text, format!("{status}\n"), "{op}");
    }
}

#[test]
fn writing_into_a_missing_directory_names_the_directory() {
    let s = Scratch::new();
    let r = s.run(&["create", "nowhere/g.xenguest"]);
    r.error(&["`nowhere`", "does not exist"]);
    assert!(!r.stderr().contains(".tmp"), "{}", r.stderr());
    s.write("g.toml", "[guest]\nmemory = 64\n");
    s.run(&["build", "g.toml", "-o", "nowhere/g.xenguest"])
        .error(&["`nowhere`", "does not exist"]);
}

#[test]
fn a_missing_partition_content_is_named_in_toml_words() {
    let s = Scratch::new();
    s.write(
        "g.toml",
        "[disk]\nsize = \"1G\"\n\n[[disk.partitions]]\nnumber = 1\nsize = \"500M\"\nfs = \"ext4\"\ncontent = \"rootfs.tar.gz\"\n",
    );
    let r = s.run(&["build", "g.toml", "-o", "g.xenguest"]);
    r.error(&["line 4", "disk.partitions #1", "[disk.files]", "\"rootfs.tar.gz\" = "]);
    assert!(!r.stderr().contains("--disk-add-file"), "{}", r.stderr());
}

#[test]
fn dump_xenconfig_names_each_guest_d_file() {
    let s = Scratch::new();
    s.write("net.cfg", "vif = ['bridge=xenbr0']\n");
    s.write("pci.cfg", "pci = ['01:00.0']");
    s.create("g", &["--xen-append=net.cfg", "--xen-append=pci.cfg"]);
    let out = s.run(&["dump-xenconfig", "g"]).success().stdout();
    let net = out.find("# --- guest.d/net.cfg ---\nvif = ").expect("net.cfg named");
    let pci = out.find("# --- guest.d/pci.cfg ---\npci = ").expect("pci.cfg named");
    assert!(out.find("memory = ").unwrap() < net && net < pci, "{out}");
    // What xl reads stays without them.
    let merged = s.run(&["dump-xenconfig", "--merged", "g"]).success().stdout();
    assert!(!merged.contains("# --- guest.d/"), "{merged}");
}

#[test]
fn help_lists_generate_and_verify_takes_a_directory() {
    let s = Scratch::new();
    s.run(&["--help"]).success().stdout_has(&["generate"]);
    s.run(&["verify", "--help"])
        .success()
        .stdout_has(&["Image file or directory"]);
}

#[test]
fn an_empty_numeric_knob_means_unset() {
    let s = Scratch::new();
    s.create("g", &["--xen-memory=64", "--xen-vcpus=2"]);
    s.update("g", &["--xen-memory=", "--xen-vcpus="]);
    let xl = s.xl("g");
    assert!(!xl.contains_key("memory") && !xl.contains_key("vcpus"), "{xl:?}");
    s.run(&[
        "build",
        "--set",
        "guest.memory=",
        "--set",
        "guest.vcpus=3",
        "-o",
        "b.xenguest",
    ])
    .success();
    let xl = s.xl("b.xenguest");
    assert!(!xl.contains_key("memory") && xl["vcpus"] == "3", "{xl:?}");
}

#[test]
fn print_inputs_lists_each_input_once() {
    let s = Scratch::new();
    s.write("Image", b"kernel");
    s.write(
        "g.toml",
        "[guest]\nkernel = \"Image\"\n[xen.files]\n\"copy-of-kernel\" = \"Image\"\n",
    );
    let out = s.run(&["build", "g.toml", "--print-inputs"]).success().stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].ends_with("Image"), "{out}");
}

/// A refused `guest.d` file or init script names the file it was made
/// from and the TOML item and line, not only the image member.
#[test]
fn errors_in_sources_name_the_file_and_the_toml_line() {
    let s = Scratch::new();
    s.write("conf/s.sh", "#!/bin/sh\r\necho hi\r\n");
    s.write("conf/bad.cfg", "vif = [\"a\"\n");
    s.write("t.toml", "[init]\nscripts = [\"conf/s.sh\"]\n");
    s.run(&["build", "t.toml", "-o", "t.xenguest"]).error(&[
        "`init.d/s.sh`",
        "carriage return",
        "conf/s.sh",
        "`init.scripts[1]`",
        "line 2",
    ]);
    s.write("u.toml", "# net\n[xen]\nconfig = [\"conf/bad.cfg\"]\n");
    s.run(&["build", "u.toml", "-o", "u.xenguest"]).error(&[
        "`guest.d/bad.cfg:1`",
        "conf/bad.cfg",
        "`xen.config[1]`",
        "line 3",
    ]);
}
