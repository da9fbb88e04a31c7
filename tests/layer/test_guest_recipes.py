# SPDX-License-Identifier: MIT
"""Guest recipes (xenguest_image.bbclass): run do_fetch, do_unpack and
do_deploy with BitBake's executor and check the image with the real tool."""

import os

import pytest

import bb

import bbharness as h

EPOCH = 1700000000  # SOURCE_DATE_EPOCH of the fixture configuration


def fake_deploy(d, files):
    """Put what other recipes would have deployed into DEPLOY_DIR_IMAGE."""
    deploy = d.getVar("DEPLOY_DIR_IMAGE")
    bb.utils.mkdirhier(deploy)
    for name, data in files.items():
        with open(os.path.join(deploy, name), "wb") as f:
            f.write(data)


def fake_rootfs_tgz(path):
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        data = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("./etc/passwd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def deploy(bitbake, d):
    for task in ("do_fetch", "do_unpack", "do_deploy"):
        bitbake.run(d, task)
        if task == "do_unpack" and d.getVar("SRC_URI").split():
            # OE-core's insane.bbclass (do_qa_unpack, a do_unpack postfunc)
            # warns when S does not exist after unpacking.
            assert os.path.isdir(d.getVar("S")), d.getVar("S")
    return d.getVar("DEPLOYDIR")


def check_sidecar_and_links(tool, deploydir, versioned, link):
    image = os.path.join(deploydir, versioned)
    assert os.path.isfile(image) and not os.path.islink(image)
    with open(image + ".sha256") as f:
        digest, name = f.read().split()
    assert name == versioned
    import hashlib

    with open(image, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest
    assert os.readlink(os.path.join(deploydir, link)) == versioned
    assert os.readlink(os.path.join(deploydir, link + ".sha256")) == versioned + ".sha256"
    h.tool_run(tool, "verify", image)
    h.tool_run(tool, "check", image)
    return image


def test_toml_recipe(bitbake, tool):
    d = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"))
    machine = d.getVar("MACHINE")
    fake_deploy(d, {"Image": b"kernel-image\n"})
    fake_rootfs_tgz(os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), "core-image-minimal-%s.rootfs.tar.gz" % machine))

    deploydir = deploy(bitbake, d)
    image = check_sidecar_and_links(
        tool, deploydir, "xenguest-example-disk-%s-1.0-r0.xenguest" % machine, "xenguest-example-disk-%s.xenguest" % machine
    )
    # Only DEPLOYDIR is written: deploy.bbclass's sstate moves it to DEPLOY_DIR_IMAGE.
    assert sorted(os.listdir(d.getVar("DEPLOY_DIR_IMAGE"))) == ["Image", "core-image-minimal-%s.rootfs.tar.gz" % machine]
    assert sorted(os.listdir(deploydir)) == sorted(
        "xenguest-example-disk-%s%s.xenguest%s" % (machine, v, s) for v in ("", "-1.0-r0") for s in ("", ".sha256")
    )
    members = h.image_members(image)
    for name in ("./params.cfg", "./guest.cfg", "./disk.cfg", "./files/kernel", "./guest.d/example.cfg",
                 "./init.d/example-setup.sh", "./disk/rootfs.tar.gz"):
        assert name in members, name
    assert members["./init.d/example-setup.sh"].mode & 0o111
    assert all(m.mtime == EPOCH for m in members.values())
    xen = h.tool_run(tool, "dump-xenconfig", image)
    assert "memory = 512" in xen and "vcpus = 2" in xen
    assert 'kernel = "files/kernel"' in xen
    assert 'on_crash = "restart"' in xen
    disk = h.tool_run(tool, "dump-diskconfig", image)
    assert 'DISK_SIZE="4000M"' in disk
    assert 'DISK_PART1="3G:ext4:rootfs.tar.gz"' in disk
    params = h.tool_run(tool, "dump-paramsconfig", image)
    assert 'GUEST_AUTOBOOT="1"' in params and 'XENGUEST_NETWORK_TYPE="bridge"' in params

    # A second run gives the same bytes.
    with open(image, "rb") as f:
        first = f.read()
    deploy(bitbake, d)
    with open(image, "rb") as f:
        assert f.read() == first


def test_variable_recipe(bitbake, tool):
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    machine = d.getVar("MACHINE")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
    deploydir = deploy(bitbake, d)
    image = check_sidecar_and_links(
        tool, deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % machine, "xenguest-test-vars-%s.xenguest" % machine
    )

    # The class wrote no TOML: it passed each knob as --set KEY=VALUE.
    assert not os.path.exists(os.path.join(d.getVar("WORKDIR"), "xenguest-image", "guest.toml"))
    log = bitbake.log.text()
    assert "--set=guest.memory=768" in log
    assert "'--set=guest.cmdline=console=hvc0   quiet marker=${NOT_A_BITBAKE_VARIABLE}'" in log

    members = h.image_members(image)
    for name in ("./files/kernel", "./files/guest.dtb", "./files/net/kea.json", "./guest.d/extra.cfg",
                 "./init.pre/pre.sh", "./init.d/setup.sh", "./init.post/net.sh", "./disk/data.tar"):
        assert name in members, name
    assert all(m.mtime == EPOCH for m in members.values())
    xen = h.tool_run(tool, "dump-xenconfig", image)
    assert "memory = 768" in xen and "vcpus = 3" in xen
    assert 'root = "/dev/xvda2"' in xen
    assert 'extra = "console=hvc0 quiet marker=${NOT_A_BITBAKE_VARIABLE}"' in xen
    assert 'device_tree = "files/guest.dtb"' in xen
    assert 'on_crash = "destroy"' in xen
    params = h.tool_run(tool, "dump-paramsconfig", image)
    assert 'GUEST_AUTOBOOT="0"' in params and 'XENGUEST_NETWORK_TYPE="nat"' in params
    disk = h.tool_run(tool, "dump-diskconfig", image)
    assert 'DISK_SIZE="2000M"' in disk and 'DISK_DEVICE="/dev/vg0"' in disk
    assert 'DISK_PART1="1000M:ext4:data.tar"' in disk and 'DISK_PART2="500M:swap:"' in disk

    with open(image, "rb") as f:
        first = f.read()
    deploy(bitbake, d)
    with open(image, "rb") as f:
        assert f.read() == first


def test_diskless_initramfs_recipe(bitbake, tool):
    d = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"))
    machine = d.getVar("MACHINE")
    fake_deploy(d, {"Image-initramfs-%s.bin" % machine: b"kernel+initramfs\n"})
    deploydir = deploy(bitbake, d)
    image = check_sidecar_and_links(
        tool, deploydir, "xenguest-example-initramfs-%s-1.0-r0.xenguest" % machine,
        "xenguest-example-initramfs-%s.xenguest" % machine,
    )
    members = h.image_members(image)
    assert "./files/kernel" in members
    assert not any(n.startswith("./disk/") and n != "./disk/" for n in members)
    assert 'DISK_SIZE="0"' in h.tool_run(tool, "dump-diskconfig", image)
    xen = h.tool_run(tool, "dump-xenconfig", image)
    assert "memory = 256" in xen


# The class checks no value itself: the tool refuses it, and the task
# failure names the knob, its value, the TOML key and the tool's reason.
BAD = [
    ("XENGUEST_IMAGE_DISK_SIZE", "abc", ["XENGUEST_IMAGE_DISK_SIZE 'abc' is refused by xenguest-mkimage (as disk.size)", "not a size"]),
    ("XENGUEST_IMAGE_MEMORY_SIZE", "lots", ["XENGUEST_IMAGE_MEMORY_SIZE 'lots' is refused", "not a whole number"]),
    ("XENGUEST_IMAGE_AUTOBOOT", "yes", ["XENGUEST_IMAGE_AUTOBOOT 'yes' is refused", "use 1 or 0"]),
    ("XENGUEST_IMAGE_NETWORK_TYPE", "wifi", ["XENGUEST_IMAGE_NETWORK_TYPE 'wifi' is refused", "bridge, nat, none"]),
    ("XENGUEST_IMAGE_DISK_PARTITIONS", "one:1G::", ["XENGUEST_IMAGE_DISK_PARTITIONS 'one:1G::' is refused", "not a whole number"]),
    ("XENGUEST_IMAGE_KERNEL", "zImage", ["XENGUEST_IMAGE_KERNEL 'zImage' is refused", "deploy/images/qemuarm64/zImage", "no such file"]),
    ("XENGUEST_EXTRA_FILES", "missing.json:a.json", ["XENGUEST_EXTRA_FILES 'missing.json:a.json' is refused", "missing.json", "no such file"]),
    ("XENGUEST_IMAGE_EXTRA_CMD", "--compress 'gzip", ["XENGUEST_IMAGE_EXTRA_CMD '--compress 'gzip' is not a list of shell words"]),
]


@pytest.mark.parametrize("var,value,messages", BAD, ids=[b[0] for b in BAD])
def test_bad_configuration_is_fatal(bitbake, var, value, messages):
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar(var, value)
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"dtb"})
    bitbake.run(d, "do_fetch")
    bitbake.run(d, "do_unpack")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    for message in messages:
        assert message in bitbake.log.text()
    assert not os.listdir(d.getVar("DEPLOYDIR"))


def test_tool_rule_violation_is_fatal_with_the_tools_message(bitbake):
    # The class does not know which file systems exist: the tool does.
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_DISK_PARTITIONS", "1:1000M:ntfs:data.tar")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"dtb"})
    bitbake.run(d, "do_fetch")
    bitbake.run(d, "do_unpack")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    text = bitbake.log.text()
    assert "XENGUEST_IMAGE_DISK_PARTITIONS '1:1000M:ntfs:data.tar' is refused" in text
    assert "ntfs" in text and "unsupported file system" in text


def test_port_forwards_reach_params_cfg(bitbake, tool):
    """XENGUEST_IMAGE_PORT_FORWARDS is the image's XENGUEST_PORT_FORWARDS,
    which the host manager forwards to a nat guest."""
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_NETWORK_TYPE", "nat")
    d.setVar("XENGUEST_IMAGE_PORT_FORWARDS", "2222:22  5353:53/udp")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
    deploydir = deploy(bitbake, d)
    image = os.path.join(deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % d.getVar("MACHINE"))
    params = h.tool_run(tool, "dump-paramsconfig", image)
    assert 'XENGUEST_NETWORK_TYPE="nat"' in params
    assert 'XENGUEST_PORT_FORWARDS="2222:22 5353:53/udp"' in params
    d.setVar("XENGUEST_IMAGE_PORT_FORWARDS", "2222")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "HOST:GUEST" in bitbake.log.text()


def test_further_keys_through_xenguest_image_set(bitbake, tool):
    """XENGUEST_IMAGE_SET gives any key `build --set` takes, after the knobs."""
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_SET", "guest.memory=333 params.MY_ROLE=web")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
    deploydir = deploy(bitbake, d)
    image = os.path.join(deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % d.getVar("MACHINE"))
    assert "memory = 333" in h.tool_run(tool, "dump-xenconfig", image)
    assert 'MY_ROLE="web"' in h.tool_run(tool, "dump-paramsconfig", image)
    d.setVar("XENGUEST_IMAGE_SET", "guest.memory=333 oops")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "XENGUEST_IMAGE_SET 'guest.memory=333 oops' holds 'oops', which is not KEY=VALUE" in bitbake.log.text()
    d.setVar("XENGUEST_IMAGE_SET", "guest.memory=many")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "XENGUEST_IMAGE_SET 'guest.memory=many' is refused by xenguest-mkimage (as guest.memory)" in bitbake.log.text()


def test_an_input_bitbake_does_not_track_is_fatal(bitbake, tmp_path):
    """The TOML's inputs are checked at task time (`build --print-inputs`):
    one outside SRC_URI and TMPDIR, not in [file-checksums], would be left
    out of the signature, so the task refuses it."""
    d = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"))
    machine = d.getVar("MACHINE")
    fake_deploy(d, {"Image": b"kernel-image\n"})
    fake_rootfs_tgz(os.path.join(d.getVar("DEPLOY_DIR_IMAGE"), "core-image-minimal-%s.rootfs.tar.gz" % machine))
    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\n")
    bitbake.run(d, "do_fetch")
    bitbake.run(d, "do_unpack")
    spec = os.path.join(d.getVar("UNPACKDIR") or d.getVar("WORKDIR"), "guest.toml")
    with open(spec, "a") as f:
        f.write('\n[xen.files]\n"outside.sh" = "%s"\n' % outside)
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    text = bitbake.log.text()
    assert "reads %s, which BitBake does not track" % outside in text
    assert "file://outside.sh" in text
    assert not os.listdir(d.getVar("DEPLOYDIR"))


def test_missing_toml_is_fatal(bitbake):
    d = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"))
    d.setVar("XENGUEST_IMAGE_CONFIG", "other.toml")
    bitbake.run(d, "do_fetch")
    bitbake.run(d, "do_unpack")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "XENGUEST_IMAGE_CONFIG 'other.toml' is not in the unpack directory" in bitbake.log.text()
    assert "add file://other.toml to SRC_URI" in bitbake.log.text()


def test_guests_are_installed_for_the_host(bitbake, tool, tmp_path):
    # Build a guest, then publish its deploy output as sstate would.
    guest = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"))
    machine = guest.getVar("MACHINE")
    fake_deploy(guest, {"Image-initramfs-%s.bin" % machine: b"kernel+initramfs\n"})
    deploydir = deploy(bitbake, guest)
    import shutil

    for name in os.listdir(deploydir):
        shutil.copy2(os.path.join(deploydir, name), guest.getVar("DEPLOY_DIR_IMAGE"), follow_symlinks=False)
    fetched = tmp_path / "fetched.xenguest"
    shutil.copyfile(os.path.join(deploydir, "xenguest-example-initramfs-%s.xenguest" % machine), fetched)

    base = bb.data.createCopy(bitbake.d)
    base.setVar("XENGUEST_GUESTS", "tiny web fw")
    base.setVarFlag("XENGUEST_GUEST_RECIPE", "tiny", "xenguest-example-initramfs")
    base.setVarFlag("XENGUEST_GUEST_RECIPE", "web", "xenguest-example-initramfs")
    base.setVarFlag("XENGUEST_GUEST_COPIES", "web", "3")
    base.setVarFlag("XENGUEST_GUEST_FILE", "fw", str(fetched))
    d = bb.parse.handle(h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb"), base)[""]
    bitbake.run(d, "do_install")
    installed = os.path.join(d.getVar("D"), "usr", "share", "guests")
    assert sorted(os.listdir(installed)) == ["fw.xenguest", "tiny.xenguest", "web.xenguest", "web2.xenguest", "web3.xenguest"]
    assert os.readlink(os.path.join(installed, "web3.xenguest")) == "web.xenguest"
    for name in os.listdir(installed):
        h.tool_run(tool, "check", os.path.join(installed, name))

    # A guest file that does not match its sidecar is refused.
    with open(os.path.join(guest.getVar("DEPLOY_DIR_IMAGE"), "xenguest-example-initramfs-%s.xenguest" % machine), "ab") as f:
        f.write(b"\0")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_install")
    assert "does not match its checksum" in bitbake.log.text()


def test_guests_from_src_uri(bitbake, tool, tmp_path):
    """A guest added to SRC_URI (a bbappend) and named relative: it is
    unpacked where S points, so do_qa_unpack finds S and do_install the file."""
    guest = bitbake.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"))
    machine = guest.getVar("MACHINE")
    fake_deploy(guest, {"Image-initramfs-%s.bin" % machine: b"kernel+initramfs\n"})
    deploydir = deploy(bitbake, guest)
    import shutil

    shutil.copyfile(os.path.join(deploydir, "xenguest-example-initramfs-%s.xenguest" % machine), tmp_path / "db.xenguest")
    base = bb.data.createCopy(bitbake.d)
    base.setVar("XENGUEST_GUESTS", "db")
    base.setVarFlag("XENGUEST_GUEST_FILE", "db", "db.xenguest")
    d = bb.parse.handle(h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb"), base)[""]
    d.setVar("FILESEXTRAPATHS", str(tmp_path) + ":")
    d.setVar("SRC_URI", "file://db.xenguest")
    for task in ("do_fetch", "do_unpack"):
        bitbake.run(d, task)
    assert os.path.isfile(os.path.join(d.getVar("S"), "db.xenguest"))
    bitbake.run(d, "do_install")
    installed = os.path.join(d.getVar("D"), "usr", "share", "guests", "db.xenguest")
    h.tool_run(tool, "check", installed)


def test_extra_cmd_and_defines_reach_the_tool(bitbake, tool):
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_EXTRA_CMD", "--compress gzip")
    d.setVar("XENGUEST_IMAGE_DEFINES", "DEPLOY_DIR_IMAGE MACHINE PN")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"dtb"})
    deploydir = deploy(bitbake, d)
    text = bitbake.log.text()
    assert "--define PN=xenguest-test-vars" in text
    assert "--compress gzip" in text
    with open(os.path.join(deploydir, "xenguest-test-vars-qemuarm64.xenguest"), "rb") as f:
        assert f.read(2) == b"\x1f\x8b"  # gzip, as asked


def test_update_knobs_reach_the_image(bitbake, tool):
    """XENGUEST_IMAGE_HEALTH_TIMEOUT, XENGUEST_EXTRA_HEALTH and
    XENGUEST_IMAGE_DISK_KEEP become GUEST_HEALTH_TIMEOUT, health.d/ and
    DISK_PARTn_KEEP, which `xenguest-manager update` reads."""
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_HEALTH_TIMEOUT", "300")
    d.setVar("XENGUEST_EXTRA_HEALTH", "net.sh")
    d.setVar("XENGUEST_IMAGE_DISK_KEEP", "1")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
    deploydir = deploy(bitbake, d)
    image = os.path.join(deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % d.getVar("MACHINE"))
    assert 'GUEST_HEALTH_TIMEOUT="300"' in h.tool_run(tool, "dump-paramsconfig", image)
    assert "--- health.d/net.sh ---" in h.tool_run(tool, "dump-init", image)
    disk = h.tool_run(tool, "dump-diskconfig", image)
    assert 'DISK_PART1_KEEP="1"' in disk and "DISK_PART2_KEEP" not in disk
    # The tool judges the values: a partition the knobs do not define.
    d.setVar("XENGUEST_IMAGE_DISK_KEEP", "3")
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_deploy")
    assert "XENGUEST_IMAGE_DISK_KEEP '3' is refused" in bitbake.log.text()
    assert "no partition 3" in bitbake.log.text()
