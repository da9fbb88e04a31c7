# SPDX-License-Identifier: MIT
"""The xenguest image type (image_types_xenguest.bbclass): run the
do_image_xenguest task that the image class generates, on a fake root file
system archive and kernel, and check the result with the real tool."""

import hashlib
import io
import os
import tarfile

import pytest

import bb

import bbharness as h

ROOTFS_EPOCH = 1520598896  # REPRODUCIBLE_TIMESTAMP_ROOTFS of the fixture


def fake_inputs(d, kernel=True):
    """What do_image_tar (+ gz conversion) and virtual/kernel:do_deploy leave."""
    imgdeploy = d.getVar("IMGDEPLOYDIR")
    bb.utils.mkdirhier(imgdeploy)
    with tarfile.open(os.path.join(imgdeploy, d.getVar("IMAGE_NAME") + ".tar.gz"), "w:gz") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("./etc/motd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    if kernel:
        deploy = d.getVar("DEPLOY_DIR_IMAGE")
        bb.utils.mkdirhier(deploy)
        with open(os.path.join(deploy, "Image"), "wb") as f:
            f.write(b"kernel\n")


def test_image_type(bitbake, tool):
    d = bitbake.parse(h.fixture_recipe("xenguest-test-image.bb"))
    fake_inputs(d)
    bitbake.run(d, "do_image_xenguest")

    imgdeploy = d.getVar("IMGDEPLOYDIR")
    name = d.getVar("IMAGE_NAME")
    link = d.getVar("IMAGE_LINK_NAME")
    assert name.startswith("xenguest-test-image-qemuarm64.rootfs-")
    image = os.path.join(imgdeploy, name + ".xenguest")
    h.tool_run(tool, "verify", image)

    # image.bbclass's links, and OE-core's sha256sum conversion.
    assert os.readlink(os.path.join(imgdeploy, link + ".xenguest")) == name + ".xenguest"
    assert os.readlink(os.path.join(imgdeploy, link + ".xenguest.sha256sum")) == name + ".xenguest.sha256sum"
    assert os.readlink(os.path.join(imgdeploy, link + ".xenguest.sha256")) == name + ".xenguest.sha256"
    with open(image, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(imgdeploy, name + ".xenguest.sha256sum")) as f:
        assert f.read().split() == [digest, name + ".xenguest"]
    with open(image + ".sha256") as f:
        assert f.read().split() == [digest, name + ".xenguest"]

    members = h.image_members(image)
    assert "./files/kernel" in members and "./disk/rootfs.tar.gz" in members
    # A local file of a knob, found through FILESPATH (images do not unpack).
    assert members["./init.post/hello.sh"].mode & 0o111
    assert all(m.mtime == ROOTFS_EPOCH for m in members.values())
    assert "memory = 1024" in h.tool_run(tool, "dump-xenconfig", image)
    disk = h.tool_run(tool, "dump-diskconfig", image)
    assert 'DISK_SIZE="3000M"' in disk and 'DISK_PART1="3G:ext4:rootfs.tar.gz"' in disk
    with open(os.path.join(imgdeploy, name + ".tar.gz"), "rb") as f:
        rootfs = f.read()
    with tarfile.open(image) as tar:
        assert tar.extractfile("./disk/rootfs.tar.gz").read() == rootfs

    with open(image, "rb") as f:
        first = f.read()
    bitbake.run(d, "do_image_xenguest")
    with open(image, "rb") as f:
        assert f.read() == first


def test_empty_rootfs_timestamp_follows_image_bbclass(bitbake, tool):
    """REPRODUCIBLE_TIMESTAMP_ROOTFS = "": image.bbclass then dates the root
    file system by COREBASE's last commit; the image members get that time,
    computed at task time (the parse does not fail on the empty value)."""
    import subprocess

    base = bb.data.createCopy(bitbake.d)
    base.setVar("REPRODUCIBLE_TIMESTAMP_ROOTFS", "")
    base.setVar("COREBASE", h.REPO)
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]
    assert '"$_XENGUEST_IMAGE_EPOCH"' in d.getVar("do_image_xenguest", False)
    fake_inputs(d)
    bitbake.run(d, "do_image_xenguest")
    commit_time = int(subprocess.run(["git", "-C", h.REPO, "log", "-1", "--pretty=%ct"],
                                     capture_output=True, text=True, check=True).stdout)
    image = os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".xenguest")
    assert {m.mtime for m in h.image_members(image).values()} == {commit_time}


def test_bad_member_time_stops_the_task_not_the_parse(bitbake):
    base = bb.data.createCopy(bitbake.d)
    base.setVar("XENGUEST_IMAGE_SOURCE_DATE_EPOCH", "yesterday")
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]
    fake_inputs(d)
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_image_xenguest")
    assert "XENGUEST_IMAGE_SOURCE_DATE_EPOCH 'yesterday' is not a number of seconds" in bitbake.log.text()


def test_image_that_is_the_initramfs_has_no_kernel(bitbake, tool):
    base = bb.data.createCopy(bitbake.d)
    base.setVar("INITRAMFS_IMAGE", "xenguest-test-image")
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]
    fake_inputs(d, kernel=False)
    bitbake.run(d, "do_image_xenguest")
    image = os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".xenguest")
    assert "./files/kernel" not in h.image_members(image)


def test_image_without_rootfs_archive_is_fatal(bitbake):
    d = bitbake.parse(h.fixture_recipe("xenguest-test-image.bb"))
    bb.utils.mkdirhier(d.getVar("IMGDEPLOYDIR"))
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_image_xenguest")
    assert "XENGUEST_IMAGE_DISK_PARTITIONS '1:3G:ext4:rootfs.tar.gz' names rootfs.tar.gz but" in bitbake.log.text()


def test_bad_knob_stops_the_task_naming_it(bitbake):
    """The prefunc has the tool check every --set before IMAGE_CMD runs, so
    the failure names the knob, not only the tool's --set key."""
    d = bitbake.parse(h.fixture_recipe("xenguest-test-image.bb"))
    d.setVar("XENGUEST_IMAGE_DISK_PARTITIONS", "1:9G:ext4:rootfs.tar.gz")
    fake_inputs(d)
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_image_xenguest")
    text = bitbake.log.text()
    assert "XENGUEST_IMAGE_DISK_PARTITIONS '1:9G:ext4:rootfs.tar.gz' is refused by xenguest-mkimage (as disk.partitions)" in text
    assert "raise it with `--set disk.size`" in text
    assert not os.path.exists(os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".xenguest"))
