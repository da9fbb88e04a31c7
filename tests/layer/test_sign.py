# SPDX-License-Identifier: MIT
"""Signed images from BitBake (XENGUEST_IMAGE_SIGN_KEY): guest recipes and
the image type sign with the key, the key (not its path) is part of the task
signatures, and a missing or non-key file stops with the variable's name.
Keys are made by `openssl genpkey` here; none is committed."""

import os
import shutil
import subprocess

import pytest

import bbharness as h
from test_guest_recipes import deploy, fake_deploy
from test_image_type import fake_inputs


def keypair(directory, name, algorithm="ed25519"):
    key = os.path.join(str(directory), name + ".pem")
    args = ["openssl", "genpkey", "-algorithm", algorithm, "-out", key]
    if algorithm == "EC":
        args[4:4] = ["-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(args, check=True, capture_output=True)
    pub = os.path.join(str(directory), name + ".pub.pem")
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    return key, pub


def parse(bitbake, recipe, key):
    """Parse a fixture recipe with XENGUEST_IMAGE_SIGN_KEY set in the
    configuration, as local.conf sets it (image.bbclass expands IMAGE_CMD
    at parse time)."""
    bitbake.d.setVar("XENGUEST_IMAGE_SIGN_KEY", key)
    return bitbake.parse(h.fixture_recipe(recipe))


def guest(bitbake, key):
    return parse(bitbake, "xenguest-test-vars.bb", key)


def test_guest_recipe_signs_reproducibly(bitbake, tool, tmp_path):
    key, pub = keypair(tmp_path, "release", "EC")
    d = guest(bitbake, key)
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
    deploydir = deploy(bitbake, d)
    image = os.path.join(deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % d.getVar("MACHINE"))
    out = h.tool_run(tool, "verify", image, "--key", pub)
    assert "signature by trusted key" in out
    assert "signed by" in h.tool_run(tool, "check", image)
    members = list(h.image_members(image))
    assert members[-3:] == ["./manifest.sha256", "./manifest.sha256.pub", "./manifest.sha256.sig"]
    with open(image, "rb") as f:
        first = f.read()
    deploy(bitbake, d)
    with open(image, "rb") as f:
        assert f.read() == first


def test_image_type_signs(bitbake, tool, tmp_path):
    key, pub = keypair(tmp_path, "release")
    d = parse(bitbake, "xenguest-test-image.bb", key)
    fake_inputs(d)
    bitbake.run(d, "do_image_xenguest")
    image = os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".xenguest")
    h.tool_run(tool, "verify", image, "--key", pub)
    # The path is not in the command the signature covers.
    assert key not in d.getVar("IMAGE_CMD:xenguest")


@pytest.mark.parametrize("recipe,task", [("xenguest-test-vars.bb", "do_deploy"),
                                         ("xenguest-test-image.bb", "do_image_xenguest")])
def test_key_changes_rebuild_and_key_moves_do_not(bitbake, tmp_path, recipe, task):
    key, _ = keypair(tmp_path, "a")
    other, _ = keypair(tmp_path, "b")
    moved = str(tmp_path / "elsewhere" / "a.pem")
    os.makedirs(os.path.dirname(moved))
    shutil.copy(key, moved)

    def signature(value):
        d = parse(bitbake, recipe, value)
        deps, hashes = h.task_signatures(d)
        assert "XENGUEST_IMAGE_SIGN_KEY" not in deps[task]
        return hashes

    unsigned, signed, same_key_moved, another_key = (signature(v) for v in ("", key, moved, other))
    assert signed[task] == same_key_moved[task]
    assert signed[task] != another_key[task]
    assert signed[task] != unsigned[task]
    # Only the image task depends on the key.
    assert sorted(t for t in signed if signed[t] != unsigned[t]) == [task]


@pytest.mark.parametrize("content,problem", [(None, "cannot be read"),
                                             ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                              "is not a PEM private key")])
def test_missing_or_non_key_is_fatal(bitbake, tmp_path, content, problem):
    path = str(tmp_path / "key.pem")
    if content is not None:
        with open(path, "w") as f:
            f.write(content)
    d = guest(bitbake, path)
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"dtb"})
    bitbake.run(d, "do_fetch")
    bitbake.run(d, "do_unpack")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "XENGUEST_IMAGE_SIGN_KEY '%s' %s" % (path, problem) in bitbake.log.text()
    assert not os.listdir(d.getVar("DEPLOYDIR"))


def test_image_type_with_a_missing_key_fails_at_parse(bitbake, tmp_path):
    """image.bbclass expands IMAGE_CMD:xenguest at parse time, so the image
    recipe stops there, naming the variable."""
    path = str(tmp_path / "missing.pem")
    with pytest.raises(Exception):
        parse(bitbake, "xenguest-test-image.bb", path)
    assert "XENGUEST_IMAGE_SIGN_KEY '%s' cannot be read" % path in bitbake.log.text()


def test_relative_key_path_is_fatal(bitbake):
    d = guest(bitbake, "keys/release.pem")
    with pytest.raises(Exception):
        d.getVar("_XENGUEST_IMAGE_SIGN_KEY_ID")
    assert "XENGUEST_IMAGE_SIGN_KEY 'keys/release.pem' is not an absolute path" in bitbake.log.text()
