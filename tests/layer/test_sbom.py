# SPDX-License-Identifier: MIT
"""What an image says about itself from BitBake: the metadata knobs
(name, version, architecture, compatible machines) and the SBOM that OE's
create-spdx writes for the image's root file system, on both SPDX layouts
(2.2 on scarthgap, 3.0 on master), with stand-in SPDX files where no real
root file system is built."""

import json
import os

import pytest

import bb

import bbharness as h
from test_guest_recipes import deploy, fake_deploy
from test_image_type import fake_inputs
from test_sign import keypair

# What create-spdx would write: stand-ins, fixed bytes.
SPDX22 = b"(zstd tar of the image's SPDX 2.2 documents)\n"
SPDX30 = b'{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld", "@graph": []}\n'


def parse_image(bitbake, **config):
    """The image fixture parsed under configuration `config` (what
    local.conf and create-spdx set)."""
    base = bb.data.createCopy(bitbake.d)
    for var, value in config.items():
        base.setVar(var, value)
    return bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]


def image_path(d):
    return os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".xenguest")


def info(tool, path):
    return json.loads(h.tool_run(tool, "info", "--json", path))


def test_image_type_carries_its_metadata(bitbake, tool):
    d = parse_image(bitbake)
    fake_inputs(d)
    bitbake.run(d, "do_image_xenguest")
    doc = info(tool, image_path(d))
    assert (doc["name"], doc["version"]) == ("xenguest-test-image", "1.0")
    assert (doc["arch"], doc["compatible"]) == ("aarch64", ["qemuarm64"])
    assert doc["sbom"] == [] and doc["xen"] is None
    # Knobs override the defaults; XENGUEST_IMAGE_COMPATIBLE takes several names.
    d = parse_image(bitbake, XENGUEST_IMAGE_COMPATIBLE="qemuarm64 rpi4", XENGUEST_IMAGE_XEN_VERSION="4.17",
                    XENGUEST_IMAGE_DESCRIPTION="Test guest")
    fake_inputs(d)
    bitbake.run(d, "do_image_xenguest")
    doc = info(tool, image_path(d))
    assert (doc["compatible"], doc["xen"], doc["description"]) == (["qemuarm64", "rpi4"], "4.17", "Test guest")


@pytest.mark.parametrize("series", ["scarthgap", "master"])
def test_spdx_sbom_is_in_the_signed_manifest_and_reproducible(bitbake, tool, tmp_path, series):
    key, pub = keypair(tmp_path, "release")
    bitbake.d.setVar("XENGUEST_IMAGE_SIGN_KEY", key)
    if series == "scarthgap":
        d = parse_image(bitbake, SPDX_VERSION="2.2")
        source = os.path.join(d.getVar("IMGDEPLOYDIR"), d.getVar("IMAGE_NAME") + ".spdx.tar.zst")
        member, data = "sbom/rootfs.spdx.tar.zst", SPDX22
    else:
        d = parse_image(bitbake, SPDX_VERSION="3.0.1", DEPLOY_DIR_SPDX="${DEPLOY_DIR}/spdx/${MACHINE}",
                        SSTATE_PKGARCH="${MACHINE_ARCH}")
        # The document exists before the image is made: a task dependency.
        assert "xenguest-test-image:do_create_rootfs_spdx" in d.getVarFlag("do_image_xenguest", "depends")
        source = os.path.join(d.getVar("DEPLOY_DIR"), "spdx", "qemuarm64", "qemuarm64", "rootfs",
                              "xenguest-test-image-qemuarm64-rootfs.spdx.json")
        member, data = "sbom/rootfs.spdx.json", SPDX30
    fake_inputs(d)
    bb.utils.mkdirhier(os.path.dirname(source))
    with open(source, "wb") as f:
        f.write(data)
    bitbake.run(d, "do_image_xenguest")
    image = image_path(d)
    h.tool_run(tool, "verify", "--key", pub, image)
    assert h.image_file(image, "./" + member) == data.decode()
    assert "./" + member in h.image_file(image, "./manifest.sha256")
    assert [s["member"] for s in info(tool, image)["sbom"]] == [member]
    with open(image, "rb") as f:
        first = f.read()
    bitbake.run(d, "do_image_xenguest")
    with open(image, "rb") as f:
        assert f.read() == first


def test_a_missing_spdx_output_stops_the_task(bitbake):
    d = parse_image(bitbake, SPDX_VERSION="2.2")
    fake_inputs(d)
    with pytest.raises(h.TaskFailed):
        bitbake.run(d, "do_image_xenguest")
    assert "SPDX_VERSION '2.2' is set (create-spdx is inherited) but" in bitbake.log.text()
    assert ".spdx.tar.zst does not exist" in bitbake.log.text()


def test_sbom_knob_adds_deployed_documents(bitbake, tool):
    d = parse_image(bitbake, XENGUEST_IMAGE_SBOM="linux-qemuarm64.spdx.json")
    fake_inputs(d)
    deploy = d.getVar("DEPLOY_DIR_IMAGE")
    with open(os.path.join(deploy, "linux-qemuarm64.spdx.json"), "wb") as f:
        f.write(SPDX30)
    bitbake.run(d, "do_image_xenguest")
    assert [s["member"] for s in info(tool, image_path(d))["sbom"]] == ["sbom/linux-qemuarm64.spdx.json"]


def test_guest_recipe_carries_metadata_and_a_deployed_sbom(bitbake, tool):
    """A guest recipe: name and version from PN/PV, arch from TARGET_ARCH,
    compatible from MACHINE, and an SBOM a rootfs recipe deployed, under
    the name XENGUEST_IMAGE_SBOM gives it."""
    d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    d.setVar("XENGUEST_IMAGE_SBOM", "core-image-minimal-qemuarm64.rootfs.spdx.json")
    fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed",
                    "core-image-minimal-qemuarm64.rootfs.spdx.json": SPDX30})
    deploydir = deploy(bitbake, d)
    image = os.path.join(deploydir, "xenguest-test-vars-qemuarm64.xenguest")
    doc = info(tool, image)
    assert (doc["name"], doc["version"], doc["arch"]) == ("xenguest-test-vars", "1.0", "aarch64")
    assert doc["compatible"] == ["qemuarm64"]
    assert [s["member"] for s in doc["sbom"]] == ["sbom/core-image-minimal-qemuarm64.rootfs.spdx.json"]
