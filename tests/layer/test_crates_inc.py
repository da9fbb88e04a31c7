# SPDX-License-Identifier: MIT
"""xenguest-mkimage-crates.inc must agree with Cargo.lock."""

import os
import subprocess
import sys

import bbharness as h

SCRIPT = os.path.join(h.LAYER, "scripts", "update-crates-inc")


def test_crates_inc_matches_cargo_lock(parsed):
    """What BitBake parses from the tool recipe is what Cargo.lock locks."""
    import tomllib

    d = parsed.parse(h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb"))
    prefix = "crate://crates.io/"
    crates = {u.split(";")[0][len(prefix):] for u in d.getVar("SRC_URI").split() if u.startswith(prefix)}
    with open(os.path.join(h.REPO, "Cargo.lock"), "rb") as f:
        lock = tomllib.load(f)
    expected = {
        "%s/%s" % (p["name"], p["version"]): p["checksum"]
        for p in lock["package"]
        if "crates.io" in p.get("source", "")  # as OE-core's do_update_crates selects them
    }
    hint = "\nrun meta-xenguest-rs/scripts/update-crates-inc"
    assert sorted(crates - set(expected)) == [], "crates not in Cargo.lock" + hint
    assert sorted(set(expected) - crates) == [], "Cargo.lock crates missing from the recipe" + hint
    for key, checksum in expected.items():
        name, version = key.split("/")
        assert d.getVarFlag("SRC_URI", "%s-%s.sha256sum" % (name, version)) == checksum, key + hint


def test_crates_inc_is_the_scripts_output():
    result = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + "\nrun meta-xenguest-rs/scripts/update-crates-inc"


def test_script_output_layout(tmp_path):
    lock = tmp_path / "Cargo.lock"
    lock.write_text(
        'version = 3\n\n[[package]]\nname = "root"\nversion = "0.1.0"\ndependencies = ["a"]\n\n'
        '[[package]]\nname = "a"\nversion = "1.2.3"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "ab12"\n'
    )
    out = tmp_path / "x-crates.inc"
    subprocess.run([sys.executable, SCRIPT, "--lock", str(lock), "--output", str(out)], check=True)
    text = out.read_text()
    assert "crate://crates.io/a/1.2.3;name=a-1.2.3 \\" in text
    assert 'SRC_URI[a-1.2.3.sha256sum] = "ab12"' in text
    assert "root" not in text


def test_script_takes_sparse_registry_crates(tmp_path):
    lock = tmp_path / "Cargo.lock"
    lock.write_text(
        'version = 3\n\n[[package]]\nname = "b"\nversion = "0.1.0"\n'
        'source = "sparse+https://index.crates.io/"\nchecksum = "cd34"\n\n'
        '[[package]]\nname = "c"\nversion = "0.2.0"\nsource = "git+https://example.invalid/c#abc"\n'
    )
    out = tmp_path / "x-crates.inc"
    subprocess.run([sys.executable, SCRIPT, "--lock", str(lock), "--output", str(out)], check=True)
    text = out.read_text()
    assert "crate://crates.io/b/0.1.0;name=b-0.1.0 \\" in text
    assert "c-0.2.0" not in text
