# SPDX-License-Identifier: MIT
"""The tool recipe's local SRC_URI entries are enough to build the crate:
unpack them with BitBake's fetcher as do_unpack would, then let cargo check
the unpacked tree offline against Cargo.lock (--frozen), as cargo.bbclass
builds it."""

import glob
import os
import shutil
import subprocess

import pytest

import bb.fetch2

import bbharness as h


def test_local_sources_build(parsed, tool, tmp_path):
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed")
    d = parsed.parse(h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb"))
    local = [u for u in d.getVar("SRC_URI").split() if u.startswith("file://")]
    unpackdir = tmp_path / "sources"
    unpackdir.mkdir()
    # BitBake's work directory often lies inside some other git checkout
    # (a build directory under poky): --version must not report its commit.
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(tmp_path)]
    subprocess.run(git[:5] + ["init", "-q", str(tmp_path)], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "outer"], check=True)
    bb.fetch2.Fetch(local, d).unpack(str(unpackdir))
    source = unpackdir / d.getVar("BP")
    assert sorted(os.listdir(source)) == ["Cargo.lock", "Cargo.toml", "LICENSE", "build.rs", "src"]
    # LIC_FILES_CHKSUM (checked by OE-core's do_populate_lic) matches the file.
    import hashlib

    for entry in d.getVar("LIC_FILES_CHKSUM").split():
        name, _, params = entry[len("file://"):].partition(";")
        md5 = dict(p.split("=", 1) for p in params.split(";"))["md5"]
        with open(source / name, "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == md5, entry
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(h.REPO, "target", "layer-test"))
    result = subprocess.run(
        ["cargo", "check", "--offline", "--frozen", "--quiet", "--bins"],
        cwd=source, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # build.rs found no .git of the crate's own: the plain package version.
    outputs = glob.glob(os.path.join(env["CARGO_TARGET_DIR"], "debug", "build", "xenguest-mkimage-*", "output"))
    newest = max(outputs, key=os.path.getmtime)
    with open(newest) as f:
        lines = [line.strip() for line in f if "XENGUEST_MKIMAGE_VERSION" in line]
    assert lines == ["cargo:rustc-env=XENGUEST_MKIMAGE_VERSION=%s" % d.getVar("PV")], (newest, lines)
