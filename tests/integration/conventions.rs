//! Issue 11: the conventions of the command line and of machine output:
//! `-v` only where something is written, `-q` silences "OK", `diff` exits
//! like diff(1), `build` replaces a file only with `--force`, `dump-init`
//! names its scripts in run order, `dump-xenconfig --merged` prints what
//! xl gets, and every `--json` document (errors too) follows docs/json.md.

use crate::support::Scratch;

/// Every operation with `--json`.
const JSON_OPERATIONS: &[&str] = &[
    "check",
    "verify",
    "info",
    "diff",
    "dump-xenconfig",
    "dump-diskconfig",
    "dump-paramsconfig",
    "dump-init",
];

#[test]
fn verbose_only_where_something_is_written() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.run(&["create", "g", "-v", "--xen-kernel=Image"])
        .success()
        .failure(0, &["wrote g (", "sha256"]);
    s.run(&["update", "g", "-v", "--xen-memory=300"])
        .failure(0, &["wrote g ("]);
    s.run(&["pack", "-v", "missing-dir", "p"]).error(&["missing-dir"]);
    s.mkdir("x");
    s.run(&["extract", "-v", "g", "x"]).failure(0, &["members into x"]);
    s.run(&["partial", "-v", "part", "--xen-memory=300"])
        .failure(0, &["wrote directory image part"]);
    s.run(&["export", "-v", "g", "exported"]).failure(0, &["wrote "]);
    s.run(&["build", "-v", "exported/guest.toml", "-o", "b"])
        .failure(0, &["wrote b ("]);
    for args in [
        &["check", "-v", "g"][..],
        &["verify", "-v", "g"],
        &["diff", "-v", "g", "g"],
        &["dump-xenconfig", "-v", "g"],
        &["dump-init", "-v", "g"],
        &["extract-disk-file", "-v", "g", "x"],
        &["-v", "check", "g"],
    ] {
        s.run(args).failure(2, &["-v"]);
    }
}

#[test]
fn quiet_silences_ok() {
    let s = Scratch::new();
    s.create("g", &[]);
    s.run(&["check", "g"]).success().stdout_has(&["Image is OK"]);
    let r = s.run(&["check", "-q", "g"]);
    r.success();
    assert_eq!(r.stdout(), "");
    let r = s.run(&["-q", "verify", "g"]);
    r.success();
    assert_eq!(r.stdout(), "");
    // Problems are still reported.
    s.write("bad", b"not an image");
    s.run(&["check", "-q", "bad"]).error(&["bad"]);
}

#[test]
fn diff_exits_like_diff_and_cmp() {
    let s = Scratch::new();
    s.create("a", &[]);
    s.create("b", &["--xen-memory=300"]);
    s.run(&["diff", "a", "a"]).success().stdout_has(&["identical"]);
    s.run(&["diff", "a", "b"])
        .failure(1, &[])
        .stdout_has(&["changed: ./guest.cfg"]);
    // --exit-code is accepted for compatibility and changes nothing.
    s.run(&["diff", "--exit-code", "a", "a"]).success();
    s.run(&["diff", "--exit-code", "a", "b"]).failure(1, &[]);
    s.run(&["diff", "a", "nothing"]).failure(2, &["nothing"]);
    s.run(&["diff", "a"]).failure(2, &[]);
}

#[test]
fn build_replaces_an_existing_output_only_with_force() {
    let s = Scratch::new();
    s.write("g.toml", "[guest]\nmemory = 300\n");
    s.write("out", b"precious");
    s.run(&["build", "g.toml", "-o", "out"])
        .failure(1, &["`out` already exists", "--force"]);
    assert_eq!(s.read("out"), b"precious");
    assert!(!s.exists("out.sha256"));
    s.run(&["build", "g.toml", "-o", "out", "--force"]).success();
    s.run(&["check", "out"]).success();
    // The default output name too.
    s.run(&["build", "g.toml"]).success();
    s.run(&["build", "g.toml"]).failure(1, &["g.xenguest", "--force"]);
    s.run(&["build", "-f", "g.toml"]).success();
}

#[test]
fn dump_init_names_each_script_in_run_order() {
    let s = Scratch::new();
    s.write("a.sh", "#!/bin/sh\necho a\n");
    s.write("b.sh", "#!/bin/sh\necho b");
    s.write("p.sh", "#!/bin/sh\necho p\n");
    s.create(
        "g",
        &[
            "--init-post=p.sh",
            "--init-script=b.sh",
            "--init-script=a.sh",
            "--init-pre=p.sh",
        ],
    );
    let out = s.run(&["dump-init", "g"]).success().stdout();
    let expected = "\
=== init.pre ===
--- init.pre/p.sh ---
#!/bin/sh
echo p
===============

=== init.d ===
--- init.d/a.sh ---
#!/bin/sh
echo a
--- init.d/b.sh ---
#!/bin/sh
echo b
===============

=== init.post ===
--- init.post/p.sh ---
#!/bin/sh
echo p
===============

";
    assert_eq!(out, expected);
}

#[test]
fn dump_xenconfig_merged_is_what_xl_gets() {
    let s = Scratch::new();
    s.write("z.cfg", "on_crash = \"destroy\"\n");
    s.write("a.cfg", "vif = ['bridge=xenbr0']\n");
    s.create("g", &["--xen-append=z.cfg", "--xen-append=a.cfg", "--xen-memory=300"]);
    let merged = s.run(&["dump-xenconfig", "--merged", "g"]).success().stdout();
    // The host's `cat guest.cfg guest.d/*`, read with GNU tar.
    let expected =
        s.member_text("g", "guest.cfg") + &s.member_text("g", "guest.d/a.cfg") + &s.member_text("g", "guest.d/z.cfg");
    assert_eq!(merged, expected);
    assert!(!merged.contains("Xen configuration:"));
    // Every line is a comment, blank, or `key = value` as xl reads it.
    for line in merged.lines() {
        let line = line.trim();
        assert!(
            line.is_empty() || line.starts_with('#') || line.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')),
            "not an xl line: {line:?}\n{merged}"
        );
    }
    s.run(&["dump-xenconfig", "--merged", "--json", "g"])
        .failure(2, &["--merged"]);
}

#[test]
fn every_json_document_has_a_schema_and_errors_are_json() {
    let s = Scratch::new();
    s.create("g", &[]);
    for op in JSON_OPERATIONS {
        let args: Vec<&str> = if *op == "diff" {
            vec![op, "--json", "g", "g"]
        } else {
            vec![op, "--json", "g"]
        };
        let v = s.run(&args).success().json();
        assert_eq!(v["schema"], 1, "{op}: {v}");
        assert_eq!(v["command"], *op, "{op}: {v}");
        // An image that does not exist: one JSON document on stdout, the
        // message on stderr too, and a non-zero exit.
        let args: Vec<&str> = args.iter().map(|a| if *a == "g" { "nothing" } else { a }).collect();
        let r = s.run(&args);
        assert_ne!(r.code(), 0, "{op}");
        let v = r.json();
        assert_eq!(
            (v["schema"].clone(), v["ok"].clone()),
            (1.into(), false.into()),
            "{op}: {v}"
        );
        assert_eq!(v["command"], *op);
        assert!(r.stderr().contains("nothing"), "{op}: {}", r.stderr());
        let text = v.get("error").or_else(|| v["problems"].get(0)).and_then(|e| e.as_str());
        assert!(text.is_some_and(|t| t.contains("nothing")), "{op}: {v}");
    }
    // A usage error with --json is JSON too (exit 2).
    let r = s.run(&["check", "--json", "g", "extra"]);
    assert_eq!(r.code(), 2);
    assert_eq!(r.json()["ok"], false);
    // verify lists members with sizes and digests.
    let v = s.run(&["verify", "--json", "g"]).success().json();
    let cfg = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["member"] == "guest.cfg")
        .expect("guest.cfg listed");
    assert_eq!(cfg["size"], s.member("g", "guest.cfg").len());
    assert_eq!(cfg["sha256"], cfg["manifest_sha256"]);
    assert_eq!(v["sha256"], v["sidecar_sha256"]);
}
