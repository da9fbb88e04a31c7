# SPDX-License-Identifier: MIT
"""Session fixtures: the xenguest-mkimage binary under test and a parsed
BitBake base configuration (see bbharness.py)."""

import os
import subprocess

import pytest

import bbharness


def _tool_path():
    tool = os.environ.get("XENGUEST_MKIMAGE")
    if tool:
        return os.path.abspath(tool)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=bbharness.REPO, check=True)
    return os.path.join(bbharness.REPO, "target", "release", "xenguest-mkimage")


@pytest.fixture(scope="session")
def tool():
    """The real xenguest-mkimage: $XENGUEST_MKIMAGE, else a release build."""
    path = _tool_path()
    if not os.access(path, os.X_OK):
        pytest.fail("xenguest-mkimage not found at %s" % path)
    return path


@pytest.fixture(scope="session")
def tooldir(tool, tmp_path_factory):
    """A directory holding only xenguest-mkimage: the native sysroot's bindir."""
    d = tmp_path_factory.mktemp("native-bindir")
    os.symlink(tool, d / "xenguest-mkimage")
    return str(d)


@pytest.fixture
def bitbake(tmp_path, tooldir):
    """A fresh TOPDIR with the base configuration parsed."""
    bb_ = bbharness.BitBake(str(tmp_path), tooldir)
    yield bb_
    bb_.close()


@pytest.fixture(scope="session")
def parsed(tmp_path_factory):
    """Base configuration for tests that only parse (no tool needed)."""
    top = tmp_path_factory.mktemp("parse-only")
    bb_ = bbharness.BitBake(str(top), str(top / "no-tools"))
    yield bb_
    bb_.close()
