# SPDX-License-Identifier: MIT
"""scripts/oe-check, the manual check against real BitBake and OE-core: CI
has no such checkouts, so what is tested here is that it refuses clearly to
run without them (and with wrong ones), before touching anything."""

import os
import subprocess

import bbharness as h

SCRIPT = os.path.join(h.REPO, "scripts", "oe-check")


def _run(*args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("OE_CHECK_")}
    base.update(env or {})
    return subprocess.run(["bash", SCRIPT, *args], env=base, capture_output=True, text=True, timeout=60)


def _fake_checkouts(tmp_path):
    """Directories shaped like a BitBake and an OE-core checkout."""
    bitbake = tmp_path / "bitbake"
    (bitbake / "bin").mkdir(parents=True)
    (bitbake / "bin" / "bitbake").write_text("#!/bin/sh\nexit 99\n")
    (bitbake / "bin" / "bitbake").chmod(0o755)
    oecore = tmp_path / "openembedded-core"
    (oecore / "meta").mkdir(parents=True)
    (oecore / "oe-init-build-env").write_text("exit 99\n")
    return str(bitbake), str(oecore)


def test_help():
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    for needle in ("--bitbake", "--oe-core", "OE_CHECK_BITBAKE", "OE_CHECK_OECORE", "yocto-check-layer", "bitbake -S none"):
        assert needle in result.stdout, needle


def test_no_checkouts_is_a_usage_error():
    result = _run()
    assert result.returncode == 2
    assert "no BitBake checkout given" in result.stderr
    assert "--bitbake DIR" in result.stderr and "OE_CHECK_BITBAKE" in result.stderr
    assert result.stdout == ""


def test_no_oe_core_is_a_usage_error(tmp_path):
    bitbake, _ = _fake_checkouts(tmp_path)
    result = _run(env={"OE_CHECK_BITBAKE": bitbake})
    assert result.returncode == 2
    assert "no openembedded-core checkout given" in result.stderr
    assert "--oe-core DIR" in result.stderr and "OE_CHECK_OECORE" in result.stderr


def test_wrong_directories_are_named(tmp_path):
    bitbake, oecore = _fake_checkouts(tmp_path)
    result = _run("--bitbake", str(tmp_path), "--oe-core", oecore)
    assert result.returncode == 2
    assert "`%s' is not a BitBake checkout (no bin/bitbake)" % tmp_path in result.stderr
    result = _run("--bitbake", bitbake, "--oe-core", bitbake)
    assert result.returncode == 2
    assert "`%s' is not an openembedded-core checkout" % bitbake in result.stderr


def test_unknown_argument():
    result = _run("--bogus")
    assert result.returncode == 2
    assert "unknown argument `--bogus'" in result.stderr


def test_refuses_root_or_a_build_dir_inside_the_repository(tmp_path):
    """BitBake refuses root (so must this, unless told which user to be), and
    OE-core's sanity check refuses a .cargo/ above the build directory."""
    bitbake, oecore = _fake_checkouts(tmp_path)
    result = _run("--bitbake", bitbake, "--oe-core", oecore, "--build-dir", os.path.join(h.REPO, "oe-build"))
    assert result.returncode == 2
    if os.getuid() == 0:
        assert "BitBake refuses to run as root - pass --user USER" in result.stderr
    else:
        assert "is inside this repository" in result.stderr
    assert not os.path.exists(os.path.join(h.REPO, "oe-build"))
