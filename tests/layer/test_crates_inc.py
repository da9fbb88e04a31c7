# SPDX-License-Identifier: MIT
"""xenguest-mkimage-crates.inc must agree with Cargo.lock."""

import os
import subprocess
import sys

import bbharness as h

SCRIPT = os.path.join(h.LAYER, "scripts", "update-crates-inc")


def test_crates_inc_matches_cargo_lock():
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
