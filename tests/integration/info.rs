//! `info`: what an image is and what it needs, as text and as JSON.

use std::fs;

use crate::support::{repo, Scratch};

/// Every field of `info --json`, in the order docs/json.md lists them.
const FIELDS: &[&str] = &[
    "schema",
    "command",
    "image",
    "format",
    "name",
    "version",
    "description",
    "arch",
    "type",
    "compatible",
    "xen",
    "signed",
    "signature",
    "manifest",
    "ok",
    "problems",
    "members",
    "disk",
    "xl",
    "init",
    "permissions",
    "sbom",
];

fn signed_demo(s: &Scratch) {
    let out = s.ext("openssl", &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.cmd(&["build", "examples/demo/guest.toml", "--sign-key"])
        .arg(s.join("k.pem"))
        .arg("-o")
        .arg(s.join("demo.xenguest"))
        .dir(repo())
        .run()
        .success();
}

#[test]
fn info_json_of_the_demo_shows_every_field() {
    let s = Scratch::new();
    signed_demo(&s);
    let doc = s.run(&["info", "--json", "demo.xenguest"]).success().json();
    for field in FIELDS {
        assert!(doc.get(field).is_some(), "no `{field}` in {doc:#}");
    }
    assert_eq!(doc["command"], "info");
    assert_eq!(doc["format"], 1);
    assert_eq!(
        (doc["name"].as_str(), doc["version"].as_str()),
        (Some("demo"), Some("1.0"))
    );
    assert!(doc["description"].as_str().unwrap().contains("Arm64"), "{doc:#}");
    assert_eq!(
        (doc["arch"].as_str(), doc["type"].as_str()),
        (Some("aarch64"), Some("pvh"))
    );
    assert_eq!(doc["compatible"], serde_json::json!(["qemuarm64"]));
    assert_eq!(doc["xen"], "4.17");
    assert_eq!(doc["signed"], true);
    assert_eq!(doc["signature"]["algorithm"], "ed25519");
    assert_eq!(doc["signature"]["fingerprint"].as_str().unwrap().len(), 64);
    assert_eq!(
        (doc["manifest"].as_str(), doc["ok"].as_bool()),
        (Some("ok"), Some(true))
    );
    let members = doc["members"].as_array().unwrap();
    let size_of = |name: &str| {
        members
            .iter()
            .find(|m| m["member"] == name)
            .and_then(|m| m["size"].as_u64())
            .unwrap_or_else(|| panic!("no member {name} in {members:?}"))
    };
    assert_eq!(
        size_of("metadata.json"),
        s.member("demo.xenguest", "metadata.json").len() as u64
    );
    assert_eq!(
        size_of("disk/rootfs.tar.gz"),
        fs::metadata(repo().join("examples/demo/rootfs.tar.gz")).unwrap().len()
    );
    assert!(size_of("manifest.sha256.sig") > 0);
    let part = &doc["disk"]["partitions"][0];
    assert_eq!((part["number"].as_u64(), part["fs"].as_str()), (Some(1), Some("ext4")));
    assert_eq!(
        (part["start_mb"].as_u64(), part["size_mb"].as_u64()),
        (Some(1), Some(512))
    );
    assert_eq!(part["content"], "rootfs.tar.gz");
    assert_eq!(doc["disk"]["size_mb"], 1000);
    assert_eq!(
        (doc["xl"]["memory"].as_u64(), doc["xl"]["vcpus"].as_u64()),
        (Some(512), Some(2))
    );
    assert_eq!(doc["xl"]["on_crash"], "restart", "{doc:#}");
    assert_eq!(
        doc["init"],
        serde_json::json!([{ "stage": "init.d", "name": "setup-network.sh" }])
    );
    assert_eq!(doc["permissions"], serde_json::json!([]));
    assert_eq!(doc["sbom"], serde_json::json!([]));
    // The text form says the same.
    s.run(&["info", "demo.xenguest"]).success().stdout_has(&[
        "name:        demo",
        "arch:        aarch64",
        "type:        pvh",
        "compatible:  qemuarm64",
        "xen:         4.17 or newer",
        "signature:   ed25519 ",
        "manifest:    ok",
        "init.d/setup-network.sh",
    ]);
}

#[test]
fn info_names_what_an_image_without_metadata_needs() {
    let s = Scratch::new();
    s.write("kernel", b"k");
    s.write("pci.cfg", "pci = ['01:00.0']\n");
    s.create("plain.xenguest", &["--xen-kernel=kernel", "--xen-append=pci.cfg"]);
    let doc = s.run(&["info", "--json", "plain.xenguest"]).success().json();
    assert_eq!((doc["format"].as_u64(), doc["name"].is_null()), (Some(1), true));
    assert_eq!(doc["compatible"], serde_json::json!([]));
    assert_eq!(doc["signed"], false);
    assert_eq!(
        doc["permissions"],
        serde_json::json!([{ "setting": "XENGUEST_ALLOW_XL_KEYS", "values": ["pci"] }])
    );
    s.run(&["info", "plain.xenguest"]).success().stdout_has(&[
        "signature:   unsigned",
        "compatible:  any host",
        "pci (XENGUEST_ALLOW_XL_KEYS)",
    ]);
}

/// An image of a newer format is refused by every reader, naming the
/// format it has and the one this tool reads.
#[test]
fn an_image_of_a_newer_format_is_refused_clearly() {
    let s = Scratch::new();
    s.write("kernel", b"k");
    s.create("g.xenguest", &["--xen-kernel=kernel", "--image-name=g"]);
    s.mkdir("dir");
    s.run(&["extract", "g.xenguest", "dir"]).success();
    s.write(
        "dir/metadata.json",
        "{\"format\": 2, \"name\": \"g\", \"layers\": []}\n",
    );
    for op in ["info", "check", "dump-xenconfig"] {
        s.run(&[op, "dir"])
            .error(&["metadata.json", "format 2", "newer than format 1"]);
    }
}

/// SBOM documents go under `sbom/`, are listed in the manifest (so
/// signed), shown by `info`, and exported and rebuilt like every input.
#[test]
fn sbom_documents_are_signed_members_info_names() {
    let s = Scratch::new();
    s.write("deploy/core-image.spdx.json", "{\"spdxVersion\": \"SPDX-2.2\"}\n");
    s.write("deploy/kernel.spdx.json", "{\"spdxVersion\": \"SPDX-2.2\"}\n");
    s.write(
        "g.toml",
        "[image]\nname = \"g\"\nsbom = [\"deploy/core-image.spdx.json\"]\n[guest]\nmemory = 64\n",
    );
    s.run(&[
        "build",
        "g.toml",
        "--set",
        "image.sbom=deploy/kernel.spdx.json",
        "-o",
        "g.xenguest",
    ])
    .success();
    let manifest = String::from_utf8(s.member("g.xenguest", "manifest.sha256")).unwrap();
    for name in ["core-image.spdx.json", "kernel.spdx.json"] {
        assert!(manifest.contains(&format!("./sbom/{name}")), "{manifest}");
    }
    let doc = s.run(&["info", "--json", "g.xenguest"]).success().json();
    let sbom: Vec<&str> = doc["sbom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["member"].as_str().unwrap())
        .collect();
    assert_eq!(sbom, ["sbom/core-image.spdx.json", "sbom/kernel.spdx.json"]);
    s.run(&["export", "g.xenguest", "out"]).success();
    assert!(s.read_text("out/guest.toml").contains("sbom = ["));
    s.run(&["build", "out/guest.toml", "-o", "again.xenguest"]).success();
    s.run(&["diff", "-q", "g.xenguest", "again.xenguest"]).success();
    s.run(&["create", "c.xenguest", "--image-add-sbom=deploy/kernel.spdx.json"])
        .success();
    assert!(s.has_member("c.xenguest", "sbom/kernel.spdx.json"));
}

/// The classic host's flows do not see the new members: its validity
/// check lists the three configuration files, it reads `params.cfg` with
/// `tar -xOf`, and it appends every `guest.d` file to `guest.cfg`
/// (`metadata.json` and `sbom/` are outside both).
#[test]
fn the_classic_host_flows_ignore_metadata_and_sbom() {
    let s = Scratch::new();
    s.write("Image", b"KERNEL");
    s.write("r.spdx.json", "{}\n");
    s.create(
        "g.xenguest",
        &[
            "--xen-kernel=Image",
            "--set-param=XENGUEST_NETWORK_TYPE=nat",
            "--image-name=g",
            "--image-arch=aarch64",
            "--image-compatible=qemuarm64",
            "--image-add-sbom=r.spdx.json",
        ],
    );
    assert!(s.has_member("g.xenguest", "metadata.json") && s.has_member("g.xenguest", "sbom/r.spdx.json"));
    let out = s.ext(
        "tar",
        &["-tvf", "g.xenguest", "./guest.cfg", "./disk.cfg", "./params.cfg"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = s.ext("tar", &["-xOf", "g.xenguest", "./params.cfg"]);
    let params = String::from_utf8(out.stdout).unwrap();
    assert!(
        params.contains("XENGUEST_NETWORK_TYPE=\"nat\"") && !params.contains("aarch64"),
        "{params}"
    );
    s.mkdir("x");
    assert!(s.ext("tar", &["-C", "x", "-xf", "g.xenguest"]).status.success());
    let out = s.ext("sh", &["-c", "cat x/guest.cfg x/guest.d/*"]);
    let merged = String::from_utf8(out.stdout).unwrap();
    assert!(
        merged.contains("kernel = \"files/kernel\"") && !merged.contains("qemuarm64"),
        "{merged}"
    );
}

/// A `metadata.json` made elsewhere is held to the rules of the settings
/// that write it.
#[test]
fn metadata_made_elsewhere_is_checked_like_the_settings() {
    let s = Scratch::new();
    s.create("g.xenguest", &["--image-name=g"]);
    s.mkdir("dir");
    s.run(&["extract", "g.xenguest", "dir"]).success();
    s.write(
        "dir/metadata.json",
        "{\"format\": 1, \"arch\": \"mips\", \"xen\": \"four\", \"compatible\": [\"a;b\"]}\n",
    );
    s.run(&["check", "dir"]).failure(
        1,
        &[
            "metadata.json: arch",
            "`mips`",
            "metadata.json: xen",
            "`four`",
            "metadata.json: compatible",
        ],
    );
}

/// `diff` shows a metadata change as a line diff of `metadata.json`.
#[test]
fn diff_shows_metadata_changes() {
    let s = Scratch::new();
    s.create("a.xenguest", &["--image-name=g", "--image-version=1"]);
    s.create("b.xenguest", &["--image-name=g", "--image-version=2"]);
    s.run(&["diff", "a.xenguest", "b.xenguest"])
        .failure(1, &[])
        .stdout_has(&[
            "changed: ./metadata.json",
            "-  \"version\": \"1\"",
            "+  \"version\": \"2\"",
        ]);
}
