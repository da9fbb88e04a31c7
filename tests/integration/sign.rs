//! Issue 13: signed images. Keys are made by `openssl genpkey` in each test
//! (no private key is committed); signatures are checked by OpenSSL after
//! GNU tar extracts the members, and OpenSSL's signatures are checked by us.

use std::fs;

use crate::support::{external, keypair, openssl, repo, Scratch};

const ALGORITHMS: [(&str, &str); 3] = [
    ("ed25519", "ed25519"),
    ("ec", "ecdsa-p256-sha256"),
    ("rsa", "rsa-pkcs1v15-sha256"),
];

/// The fingerprint as the README defines it: sha256 of the SPKI DER, by
/// OpenSSL and sha256sum.
fn fingerprint(s: &Scratch, public: &str) -> String {
    let der = openssl(s, &["pkey", "-pubin", "-in", public, "-outform", "DER"]);
    s.write("spki.der", der);
    let out = s.ext("sha256sum", &["spki.der"]);
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// Builds the demo guest into `out` with extra `args`.
#[track_caller]
fn build(s: &Scratch, out: &str, args: &[&str]) {
    let mut cmd = s
        .cmd(&[
            "build",
            "examples/demo/guest.toml",
            "--source-date-epoch",
            "1700000000",
            // The tests build each output once per algorithm.
            "--force",
            "-o",
        ])
        .dir(repo())
        .arg(s.join(out));
    for a in args {
        // Key paths are relative to the scratch directory.
        cmd = if std::path::Path::new(a).extension().is_some_and(|x| x == "pem") {
            cmd.arg(s.join(a))
        } else {
            cmd.arg(a)
        };
    }
    cmd.run().success();
}

/// Extracts the manifest and its signature with GNU tar into `x/`.
fn extract_signed(s: &Scratch, image: &str) {
    let _ = fs::remove_dir_all(s.join("x"));
    s.mkdir("x");
    let out = s.ext(
        "tar",
        &["-xf", image, "-C", "x", "./manifest.sha256", "./manifest.sha256.sig"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// OpenSSL's verdict on `x/manifest.sha256.sig` over `x/manifest.sha256`,
/// with the README's commands.
fn openssl_verifies(s: &Scratch, kind: &str, public: &str) -> bool {
    let args: Vec<&str> = if kind == "ed25519" {
        vec![
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            public,
            "-rawin",
            "-in",
            "x/manifest.sha256",
            "-sigfile",
            "x/manifest.sha256.sig",
        ]
    } else {
        vec![
            "dgst",
            "-sha256",
            "-verify",
            public,
            "-signature",
            "x/manifest.sha256.sig",
            "x/manifest.sha256",
        ]
    };
    s.ext("openssl", &args).status.success()
}

#[test]
fn each_algorithm_signs_and_openssl_verifies() {
    let s = Scratch::new();
    for (kind, algorithm) in ALGORITHMS {
        keypair(&s, kind, kind);
        keypair(&s, kind, &format!("{kind}-other"));
        let image = format!("{kind}.xenguest");
        build(&s, &image, &["--sign-key", &format!("{kind}.pem")]);
        // After the manifest, in this order, regular files.
        let names = s.tar_names(&image);
        assert_eq!(
            &names[names.len() - 3..],
            ["./manifest.sha256", "./manifest.sha256.pub", "./manifest.sha256.sig"]
        );
        let public = format!("{kind}.pub.pem");
        extract_signed(&s, &image);
        assert!(
            openssl_verifies(&s, kind, &public),
            "{kind}: OpenSSL rejects our signature"
        );
        assert!(
            !openssl_verifies(&s, kind, &format!("{kind}-other.pub.pem")),
            "{kind}: OpenSSL accepts another key"
        );
        // check names the signer by the documented fingerprint.
        let fp = fingerprint(&s, &public);
        s.run(&["check", &image])
            .success()
            .stdout_has(&["Image is OK", &format!("signed by {fp} ({algorithm})")]);
        let json: serde_json::Value =
            serde_json::from_str(&s.run(&["check", "--json", &image]).success().stdout()).unwrap();
        assert_eq!(json["signed"], true);
        assert_eq!(json["signature"]["fingerprint"], fp.as_str());
        assert_eq!(json["signature"]["algorithm"], algorithm);
        s.run(&["verify", &image, "--key", &public])
            .success()
            .stdout_has(&[&format!("signature by trusted key {fp}"), "manifest and sidecar"]);
        // The embedded public key is the signer's, byte for byte as OpenSSL
        // writes it.
        assert_eq!(s.member(&image, "manifest.sha256.pub"), s.read(&public));
    }
}

#[test]
fn signed_builds_and_signing_are_deterministic() {
    let s = Scratch::new();
    for (kind, _) in ALGORITHMS {
        keypair(&s, kind, kind);
        let key = format!("{kind}.pem");
        build(&s, "a.xenguest", &["--sign-key", &key]);
        build(&s, "b.xenguest", &["--sign-key", &key]);
        assert!(
            s.read("a.xenguest") == s.read("b.xenguest"),
            "{kind}: build --sign-key is not reproducible"
        );
        // Signing an unsigned build afterwards gives the same bytes as
        // signing in the build (the members keep their time), and signing
        // again changes nothing.
        build(&s, "c.xenguest", &[]);
        s.run(&["sign", "c.xenguest", "--key", &key]).success();
        assert!(
            s.read("a.xenguest") == s.read("c.xenguest"),
            "{kind}: sign differs from build --sign-key"
        );
        assert_eq!(s.read("a.xenguest.sha256")[..64], s.read("c.xenguest.sha256")[..64]);
        s.run(&["sign", "c.xenguest", "--key", &key]).success();
        assert!(
            s.read("a.xenguest") == s.read("c.xenguest"),
            "{kind}: signing twice differs"
        );
        // The sidecar follows the signed image.
        let sum = s.ext("sha256sum", &["-c", "c.xenguest.sha256"]);
        assert!(sum.status.success(), "{}", String::from_utf8_lossy(&sum.stdout));
    }
}

#[test]
fn openssl_signatures_are_accepted() {
    let s = Scratch::new();
    for (kind, _) in ALGORITHMS {
        keypair(&s, kind, kind);
        build(&s, "g.xenguest", &["--sign-key", &format!("{kind}.pem")]);
        // Replace our signature by OpenSSL's over the same manifest, the
        // way a pipeline with its own signing tool would.
        extract_signed(&s, "g.xenguest");
        let key = format!("{kind}.pem");
        if kind == "ed25519" {
            openssl(
                &s,
                &[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    &key,
                    "-rawin",
                    "-in",
                    "x/manifest.sha256",
                    "-out",
                    "x/manifest.sha256.sig",
                ],
            );
        } else {
            openssl(
                &s,
                &[
                    "dgst",
                    "-sha256",
                    "-sign",
                    &key,
                    "-out",
                    "x/manifest.sha256.sig",
                    "x/manifest.sha256",
                ],
            );
        }
        let ours = s.member("g.xenguest", "manifest.sha256.sig");
        let theirs = s.read("x/manifest.sha256.sig");
        if kind == "ec" {
            // OpenSSL's ECDSA nonces are random: a different, valid signature.
            assert_ne!(ours, theirs);
        } else {
            assert_eq!(ours, theirs, "{kind}: deterministic schemes give OpenSSL's bytes");
        }
        // Repack with GNU tar, members in the same order, OpenSSL's
        // signature in place of ours.
        let _ = fs::remove_dir_all(s.join("full"));
        s.mkdir("full");
        let out = s.ext("tar", &["-xf", "g.xenguest", "-C", "full"]);
        assert!(out.status.success());
        fs::copy(s.join("x/manifest.sha256.sig"), s.join("full/manifest.sha256.sig")).unwrap();
        s.write("names", s.tar_names("g.xenguest").join("\n") + "\n");
        let out = s.ext(
            "tar",
            &[
                "-C",
                "full",
                "--no-recursion",
                "--format=ustar",
                "-cf",
                "g.xenguest",
                "-T",
                "names",
            ],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        fs::remove_file(s.join("g.xenguest.sha256")).unwrap();
        s.run(&["verify", "g.xenguest", "--key", &format!("{kind}.pub.pem")])
            .success()
            .stdout_has(&["signature by trusted key"]);
    }
}

#[test]
fn verify_names_each_failure() {
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    keypair(&s, "ec", "other");
    build(&s, "unsigned.xenguest", &[]);
    s.run(&["verify", "unsigned.xenguest", "--key", "k.pub.pem"])
        .error(&["is unsigned"]);
    s.run(&["check", "unsigned.xenguest"])
        .success()
        .stdout_has(&["unsigned"]);

    build(&s, "g.xenguest", &["--sign-key", "k.pem"]);
    // Wrong key.
    s.run(&["verify", "g.xenguest", "--key", "other.pub.pem"])
        .error(&["wrong key", "not a trusted key"]);
    // Any of several keys; a trust directory.
    s.run(&["verify", "g.xenguest", "--key", "other.pub.pem", "--key", "k.pub.pem"])
        .success();
    // An X.509 certificate of the key is as good as the key.
    openssl(
        &s,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "k.pem",
            "-subj",
            "/CN=release",
            "-days",
            "1",
            "-out",
            "k.crt.pem",
        ],
    );
    s.run(&["verify", "g.xenguest", "--key", "k.crt.pem"]).success();
    // Without a key: the signature is only consistent, and verify says so.
    s.run(&["verify", "g.xenguest"])
        .success()
        .stdout_has(&["not checked against a trusted key"]);
    let json = |args: &[&str]| -> serde_json::Value { serde_json::from_str(&s.run(args).success().stdout()).unwrap() };
    assert_eq!(json(&["verify", "--json", "g.xenguest"])["signature"]["trusted"], false);
    let trusted = json(&["verify", "--json", "g.xenguest", "--key", "k.pub.pem"]);
    // Main's versioned layout (docs/json.md), with the signature fields.
    assert_eq!(trusted["schema"], 1);
    assert_eq!(trusted["command"], "verify");
    assert_eq!(trusted["signed"], true);
    assert!(
        trusted["members"].as_array().is_some_and(|m| !m.is_empty()),
        "{trusted}"
    );
    assert!(
        trusted["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| !m["member"].as_str().unwrap().starts_with("manifest.sha256")),
        "the trailer is not a listed member: {trusted}"
    );
    assert_eq!(trusted["signature"]["trusted"], true);
    assert_eq!(trusted["signature"]["algorithm"], "ed25519");
    s.mkdir("trust");
    fs::copy(s.join("other.pub.pem"), s.join("trust/other.pem")).unwrap();
    s.run(&["verify", "g.xenguest", "--trust", "trust"])
        .error(&["wrong key"]);
    fs::copy(s.join("k.pub.pem"), s.join("trust/k.pem")).unwrap();
    s.run(&["verify", "g.xenguest", "--trust", "trust"]).success();
    s.mkdir("empty");
    s.run(&["verify", "g.xenguest", "--trust", "empty"])
        .error(&["holds no `*.pem`"]);
    s.run(&["verify", "g.xenguest", "--key", "k.pem"])
        .error(&["private key"]);

    // Tampered: one member changed, the manifest and signature left alone.
    let clean = s.read("g.xenguest");
    let manifest = s.member_text("g.xenguest", "manifest.sha256");
    let kernel = s.member("g.xenguest", "files/kernel");
    let mut bytes = clean.clone();
    let at = find(&bytes, &kernel);
    bytes[at] ^= 1;
    fs::write(s.join("g.xenguest"), &bytes).unwrap();
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["tampered", "`./files/kernel` does not match the manifest"]);

    // The manifest rewritten to match a changed member: the signature no
    // longer covers it.
    let mut bytes = clean.clone();
    let at = find(&bytes, manifest.as_bytes());
    let first = manifest.as_bytes()[0];
    bytes[at] = if first == b'0' { b'1' } else { b'0' };
    fs::write(s.join("g.xenguest"), &bytes).unwrap();
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["does not match the manifest", "changed after signing"]);
    s.run(&["check", "g.xenguest"])
        .error(&["signature does not match the manifest"]);
    s.run(&["verify", "g.xenguest"])
        .error(&["signature does not match the manifest"]);

    // A signature made over a different manifest (another image's).
    build(&s, "h.xenguest", &["--sign-key", "k.pem"]);
    s.run(&[
        "update",
        "h.xenguest",
        "--xen-memory=1024",
        "--sign-key",
        s.join("k.pem").to_str().unwrap(),
    ])
    .success();
    fs::write(s.join("g.xenguest"), &clean).unwrap();
    let theirs = s.member("h.xenguest", "manifest.sha256.sig");
    let ours = s.member("g.xenguest", "manifest.sha256.sig");
    let mut bytes = clean.clone();
    let at = find(&bytes, &ours);
    bytes[at..at + ours.len()].copy_from_slice(&theirs);
    fs::write(s.join("g.xenguest"), &bytes).unwrap();
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["signature by trusted key", "is over a different manifest"]);
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("member data in the archive")
}

#[test]
fn update_drops_or_renews_the_signature() {
    let s = Scratch::new();
    keypair(&s, "ec", "k");
    keypair(&s, "ed25519", "new");
    build(&s, "g.xenguest", &["--sign-key", "k.pem"]);
    let run = s.run(&["update", "g.xenguest", "--xen-memory=1024"]);
    run.success();
    assert!(run.stderr().contains("dropped its signature"), "{}", run.stderr());
    assert!(!s.has_member("g.xenguest", "manifest.sha256.sig"));
    assert!(!s.has_member("g.xenguest", "manifest.sha256.pub"));
    s.run(&["check", "g.xenguest"]).success().stdout_has(&["unsigned"]);
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["is unsigned"]);
    // With the key, the update signs.
    let key = s.join("k.pem");
    s.run(&[
        "update",
        "g.xenguest",
        "--xen-memory=512",
        "--sign-key",
        key.to_str().unwrap(),
    ])
    .success();
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"]).success();
    // Key rotation: sign replaces the signature.
    s.run(&["sign", "g.xenguest", "--key", "new.pem"]).success();
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["wrong key"]);
    s.run(&["verify", "g.xenguest", "--key", "new.pub.pem"]).success();
    assert_eq!(
        s.tar_names("g.xenguest")
            .iter()
            .filter(|n| n.starts_with("./manifest"))
            .count(),
        3
    );
}

#[test]
fn signed_images_still_read_as_before() {
    let s = Scratch::new();
    keypair(&s, "rsa", "k");
    build(&s, "g.xenguest", &["--sign-key", "k.pem"]);
    // Classic-style readers: GNU tar by member name; the manifest still
    // passes sha256sum -c after a plain extraction.
    let params = s.member_text("g.xenguest", "params.cfg");
    assert!(params.contains("XENGUEST_NETWORK_TYPE"), "{params}");
    s.mkdir("out");
    s.run(&["extract", "g.xenguest", "out"]).success();
    assert!(s.exists("out/manifest.sha256.sig") && s.exists("out/params.cfg"));
    let sum = external("sha256sum", &["-c", "manifest.sha256"], &s.join("out"));
    assert!(sum.status.success(), "{}", String::from_utf8_lossy(&sum.stdout));
    s.mkdir("gnu");
    let out = s.ext("tar", &["-xf", "g.xenguest", "-C", "gnu"]);
    assert!(out.status.success());
    assert_eq!(
        fs::read(s.join("gnu/manifest.sha256.sig")).unwrap(),
        fs::read(s.join("out/manifest.sha256.sig")).unwrap()
    );
    s.run(&["dump-paramsconfig", "g.xenguest"]).success();
    // bsdtar and busybox see the same members and bytes as GNU tar.
    let gnu = s.tar_names("g.xenguest");
    for (reader, list, cat) in [
        (
            "bsdtar",
            vec!["-tf", "g.xenguest"],
            vec!["-xOf", "g.xenguest", "./manifest.sha256.sig"],
        ),
        (
            "busybox",
            vec!["tar", "-tf", "g.xenguest"],
            vec!["tar", "-xOf", "g.xenguest", "./manifest.sha256.sig"],
        ),
    ] {
        let names = s.ext_lines(reader, &list);
        assert_eq!(names, gnu, "{reader} lists other members than GNU tar");
        let out = s.ext(reader, &cat);
        assert!(
            out.status.success(),
            "{reader}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, s.member("g.xenguest", "manifest.sha256.sig"), "{reader}");
    }
    // gzip images are signed the same way.
    s.cmd(&["build", "examples/demo/guest.toml", "--compress", "gzip", "--sign-key"])
        .dir(repo())
        .arg(s.join("k.pem"))
        .arg("-o")
        .arg(s.join("z.xenguest"))
        .run()
        .success();
    s.run(&["verify", "z.xenguest", "--key", "k.pub.pem"]).success();
}

#[test]
fn bad_keys_and_misplaced_signatures_are_refused() {
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    build(&s, "g.xenguest", &[]);
    let before = s.read("g.xenguest");
    s.run(&["sign", "g.xenguest", "--key", "k.pub.pem"])
        .error(&["--key", "not a private key"]);
    s.run(&["sign", "g.xenguest", "--key", "missing.pem"])
        .error(&["missing.pem"]);
    s.write("junk.pem", "hello");
    s.run(&["sign", "g.xenguest", "--key", "junk.pem"])
        .error(&["junk.pem", "not a PEM file"]);
    openssl(
        &s,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
    );
    s.run(&["sign", "g.xenguest", "--key", "p384.pem"])
        .error(&["only P-256"]);
    openssl(
        &s,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa1024.pem",
        ],
    );
    s.run(&["sign", "g.xenguest", "--key", "rsa1024.pem"])
        .error(&["1024 bits", "at least 2048"]);
    openssl(
        &s,
        &[
            "pkey", "-in", "k.pem", "-aes256", "-passout", "pass:x", "-out", "enc.pem",
        ],
    );
    s.run(&["sign", "g.xenguest", "--key", "enc.pem"]).error(&["encrypted"]);
    assert!(s.read("g.xenguest") == before, "a refused key changed the image");
    // A damaged image is not signed: the signature would bless the damage.
    let kernel = s.member("g.xenguest", "files/kernel");
    let mut bytes = before.clone();
    let at = find(&bytes, &kernel);
    bytes[at] ^= 1;
    fs::write(s.join("g.xenguest"), &bytes).unwrap();
    s.run(&["sign", "g.xenguest", "--key", "k.pem"]).error(&[
        "does not match its manifest",
        "refusing to sign",
        "files/kernel",
    ]);
    assert!(s.read("g.xenguest") == bytes, "a refused sign changed the image");
    fs::write(s.join("g.xenguest"), &before).unwrap();
    s.mkdir("dir");
    s.run(&["sign", "dir", "--key", "k.pem"]).error(&["directory"]);

    // A signature member before the manifest, or a directory of that name.
    s.mkdir("t");
    s.run(&["extract", "g.xenguest", "t"]).success();
    s.write("t/manifest.sha256.sig", "x");
    s.write("t/manifest.sha256.pub", "x");
    let out = s.ext(
        "tar",
        &[
            "-C",
            "t",
            "-cf",
            "early.xenguest",
            "./manifest.sha256.sig",
            "./manifest.sha256.pub",
            "./params.cfg",
            "./guest.cfg",
            "./disk.cfg",
            "./manifest.sha256",
        ],
    );
    assert!(out.status.success());
    s.run(&["check", "early.xenguest"])
        .error(&["`./manifest.sha256.sig` must follow `./manifest.sha256`"]);
    let out = s.ext(
        "tar",
        &[
            "-C",
            "t",
            "-cf",
            "lone.xenguest",
            "./params.cfg",
            "./guest.cfg",
            "./disk.cfg",
            "./manifest.sha256",
            "./manifest.sha256.pub",
        ],
    );
    assert!(out.status.success());
    s.run(&["check", "lone.xenguest"])
        .error(&["without `./manifest.sha256.sig`"]);
    fs::remove_file(s.join("t/manifest.sha256.sig")).unwrap();
    s.write("t/manifest.sha256.sig/x", "x");
    let out = s.ext("tar", &["-C", "t", "-cf", "dir.xenguest", "."]);
    assert!(out.status.success());
    s.run(&["check", "dir.xenguest"])
        .error(&["reserved for a regular file"]);
}

#[test]
fn sign_through_a_link_signs_the_file_and_keeps_the_link() {
    // As BitBake deploys: a versioned image and sidecar, and links to them.
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    build(&s, "g-1.0-r0.xenguest", &[]);
    std::os::unix::fs::symlink("g-1.0-r0.xenguest", s.join("g.xenguest")).unwrap();
    std::os::unix::fs::symlink("g-1.0-r0.xenguest.sha256", s.join("g.xenguest.sha256")).unwrap();
    s.run(&["sign", "g.xenguest", "--key", "k.pem"]).success();
    assert!(fs::symlink_metadata(s.join("g.xenguest"))
        .unwrap()
        .file_type()
        .is_symlink());
    s.run(&["verify", "g-1.0-r0.xenguest", "--key", "k.pub.pem"]).success();
    let sum = s.ext("sha256sum", &["-c", "g-1.0-r0.xenguest.sha256"]);
    assert!(sum.status.success(), "{}", String::from_utf8_lossy(&sum.stdout));
}

#[test]
fn the_classic_guest_manager_runs_signed_images() {
    let s = Scratch::new();
    keypair(&s, "ec", "k");
    build(&s, "g.xenguest", &["--sign-key", "k.pem"]);
    s.write("manager.sh", crate::host::MANAGER);
    let tool = crate::support::bin();
    let out = s.ext("bash", &["manager.sh", tool.to_str().unwrap(), "g.xenguest", "demo"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "manager failed:\n{stderr}");
    assert_eq!(stderr, "", "unexpected messages");
    let vars = s.read_text("vars");
    assert!(vars.lines().any(|l| l == "PART1=512M/ext4/rootfs.tar.gz"), "{vars}");
    let cfg = crate::support::xl_settings(&s.read_text("guests/demo/final.cfg"));
    assert_eq!(cfg.get("name").map(String::as_str), Some("\"demo\""));
    // The image itself is untouched and still verifies.
    s.run(&["verify", "g.xenguest", "--key", "k.pub.pem"]).success();
}

#[test]
fn create_and_pack_sign_too() {
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    s.run(&["create", "c.xenguest", "--xen-memory=256", "--sign-key", "k.pem"])
        .success();
    s.run(&["verify", "c.xenguest", "--key", "k.pub.pem"]).success();
    s.mkdir("empty");
    s.run(&["create", "empty", "--sign-key", "k.pem"])
        .error(&["only image files are signed"]);
    // A directory extracted from a signed image holds its signature, which
    // cannot cover what pack writes: pack says so, or signs anew.
    s.mkdir("d");
    s.run(&["extract", "c.xenguest", "d"]).success();
    let run = s.run(&["pack", "d", "p.xenguest"]);
    run.success();
    assert!(
        run.stderr().contains("the packed image is unsigned"),
        "{}",
        run.stderr()
    );
    s.run(&["check", "p.xenguest"]).success().stdout_has(&["unsigned"]);
    s.run(&["pack", "d", "q.xenguest", "--sign-key", "k.pem"]).success();
    s.run(&["verify", "q.xenguest", "--key", "k.pub.pem"]).success();
    s.run(&["update", "d", "--xen-memory=300", "--sign-key", "k.pem"])
        .error(&["only image files are signed"]);
}

/// A directory extracted from a signed image keeps the signature beside its
/// manifest: `check DIR` names the signer and `verify DIR --key` passes
/// until the directory is written, when its writers drop the signature and
/// say so. `extract-config` filters the manifest, so it leaves the
/// signature out; a later extraction removes a stale one.
#[test]
fn directories_hold_a_signature_only_as_extracted() {
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    let fp = fingerprint(&s, "k.pub.pem");
    build(&s, "g.xenguest", &["--sign-key", "k.pem"]);
    s.mkdir("d");
    s.run(&["extract", "g.xenguest", "d"]).success();
    assert!(s.exists("d/manifest.sha256.sig") && s.exists("d/manifest.sha256.pub"));
    s.run(&["check", "d"])
        .success()
        .stdout_has(&["Image is OK", &format!("signed by {fp} (ed25519)")]);
    let json: serde_json::Value = serde_json::from_str(&s.run(&["check", "--json", "d"]).success().stdout()).unwrap();
    assert_eq!(json["schema"], 1);
    assert_eq!(json["form"], "dir");
    assert_eq!(json["signed"], true);
    assert_eq!(json["signature"]["fingerprint"], fp.as_str());
    s.run(&["verify", "d", "--key", "k.pub.pem"])
        .success()
        .stdout_has(&["signature by trusted key", "a directory has no sidecar"]);
    // A file changed behind the tool's back fails against the signed
    // manifest, named.
    let params = s.read_text("d/params.cfg");
    s.write("d/params.cfg", format!("{params}EVIL=1\n"));
    s.run(&["verify", "d", "--key", "k.pub.pem"])
        .failure(1, &["tampered", "`./params.cfg` does not match the manifest"]);
    s.write("d/params.cfg", &params);
    // The signature members are regular files or a problem.
    fs::rename(s.join("d/manifest.sha256.pub"), s.join("pub.keep")).unwrap();
    s.run(&["check", "d"])
        .failure(1, &["`./manifest.sha256.pub` (the signer's public key) is missing"]);
    s.mkdir("d/manifest.sha256.pub");
    s.run(&["check", "d"])
        .failure(1, &["`./manifest.sha256.pub` is reserved for a regular file"]);
    fs::remove_dir(s.join("d/manifest.sha256.pub")).unwrap();
    fs::rename(s.join("pub.keep"), s.join("d/manifest.sha256.pub")).unwrap();
    s.run(&["check", "d"]).success();
    // Writing the directory drops the signature, and says so (-q: silent).
    s.run(&["sign", "d", "--key", "k.pem"])
        .error(&["is a directory", "pack DIR IMAGE --sign-key KEY"]);
    let run = s.run(&["update", "d", "--xen-memory=300"]);
    run.success();
    assert!(run.stderr().contains("dropped it"), "{}", run.stderr());
    assert!(!s.exists("d/manifest.sha256.sig") && !s.exists("d/manifest.sha256.pub"));
    s.run(&["check", "d"]).success().stdout_has(&["unsigned"]);
    s.run(&["verify", "d", "--key", "k.pub.pem"]).error(&["is unsigned"]);
    s.run(&["extract", "g.xenguest", "d"]).success();
    let run = s.run(&["partial", "-q", "d", "--xen-memory=310"]);
    run.success();
    assert_eq!(run.stderr(), "", "-q silences the warning");
    assert!(!s.exists("d/manifest.sha256.sig"));
    // extract-config leaves the signature out (its manifest lacks disk/).
    s.mkdir("c");
    s.run(&["extract-config", "g.xenguest", "c"]).success();
    assert!(!s.exists("c/manifest.sha256.sig") && !s.exists("c/manifest.sha256.pub"));
    // (check refuses a directory without the disk files; verify checks its
    // manifest.)
    s.run(&["verify", "c"]).success().stdout_lacks(&["signed"]);
    s.run(&["verify", "c", "--key", "k.pub.pem"]).error(&["is unsigned"]);
    // An unsigned image extracted over a signed one leaves no stale
    // signature behind.
    build(&s, "u.xenguest", &[]);
    s.mkdir("e");
    s.run(&["extract", "g.xenguest", "e"]).success();
    s.run(&["extract", "u.xenguest", "e"]).success();
    assert!(!s.exists("e/manifest.sha256.sig"));
    s.run(&["check", "e"]).success().stdout_has(&["unsigned"]);
}

/// `sign` writes, so it takes `-v` (what was signed) and `-q`.
#[test]
fn sign_reports_with_v_and_is_silent_otherwise() {
    let s = Scratch::new();
    keypair(&s, "ed25519", "k");
    let fp = fingerprint(&s, "k.pub.pem");
    build(&s, "g.xenguest", &[]);
    let run = s.run(&["sign", "g.xenguest", "--key", "k.pem"]);
    run.success();
    assert_eq!((run.stdout(), run.stderr()), (String::new(), String::new()));
    let run = s.run(&["sign", "-v", "g.xenguest", "--key", "k.pem"]);
    run.success();
    assert!(
        run.stderr().contains(&format!("signed g.xenguest with {fp} (ed25519)")),
        "{}",
        run.stderr()
    );
    s.run(&["sign", "-q", "-v", "g.xenguest", "--key", "k.pem"])
        .failure(2, &["cannot be used with"]);
    // An update without the key drops the signature with a warning that
    // -q silences.
    let run = s.run(&["update", "-q", "g.xenguest", "--xen-memory=300"]);
    run.success();
    assert_eq!(run.stderr(), "");
    s.run(&["check", "g.xenguest"]).success().stdout_has(&["unsigned"]);
}
