# SPDX-License-Identifier: MIT
"""Issue 14: recipes and configurations written for the retired
meta-arm-autonomy layer stop at parse time with a message naming the
successor, and guests that would be installed under one file name are
refused. Everything goes through BitBake's own parser (bbharness)."""

import os
import re

import bb
import bb.data
import bb.parse
import pytest

import bbharness as h

GUESTS = h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb")
CLASSIC_NOTE = "Migrating from meta-arm-autonomy"


def parse_text(parsed, tmp_path, text, name="classic-guest_1.0.bb"):
    recipe = tmp_path / name
    recipe.write_text('LICENSE = "MIT"\n' + text)
    return bb.parse.handle(str(recipe), bb.data.createCopy(parsed.d))[""]


def parse_fails(parsed, tmp_path, caplog, text, name="classic-guest_1.0.bb"):
    with pytest.raises(bb.BBHandledException):
        parse_text(parsed, tmp_path, text, name)
    return caplog.text


# --- guests installed under one name ----------------------------------------


def guests(parsed, names, copies):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_GUESTS", names)
    for name in names.split():
        base.setVarFlag("XENGUEST_GUEST_FILE", name, "/srv/%s.xenguest" % name)
    for name, count in copies.items():
        base.setVarFlag("XENGUEST_GUEST_COPIES", name, count)
    return bb.parse.handle(GUESTS, base)[""]


def test_a_copy_named_like_another_guest_is_refused(parsed):
    d = guests(parsed, "web web2", {"web": "2"})
    assert d.getVar("__SKIPPED") == (
        "XENGUEST_GUESTS: copy 2 of guest 'web' (XENGUEST_GUEST_COPIES[web] = \"2\") and guest 'web2' "
        "would both be installed as web2.xenguest - rename one guest or lower its XENGUEST_GUEST_COPIES"
    )
    # Listed the other way round, both are still named.
    d = guests(parsed, "web2 web", {"web": "3"})
    assert "guest 'web2' and copy 2 of guest 'web'" in d.getVar("__SKIPPED")


def test_copies_of_two_guests_and_a_repeated_name_are_refused(parsed):
    # a's 12th copy is a12.xenguest, as is a1's 2nd.
    d = guests(parsed, "a a1", {"a": "12", "a1": "2"})
    assert "copy 12 of guest 'a'" in d.getVar("__SKIPPED")
    assert "copy 2 of guest 'a1'" in d.getVar("__SKIPPED")
    assert "a12.xenguest" in d.getVar("__SKIPPED")
    d = guests(parsed, "db db", {})
    assert d.getVar("__SKIPPED").startswith("XENGUEST_GUESTS: guest 'db' and guest 'db' would both be installed as db.xenguest")


def test_guests_with_distinct_names_are_accepted(parsed):
    d = guests(parsed, "web web5 db", {"web": "4"})
    assert d.getVar("__SKIPPED") is None
    import bb.utils

    assert bb.utils.to_boolean(d.getVar("__SKIPPED") or "0") is False


# --- classic class spellings ------------------------------------------------


@pytest.mark.parametrize(
    "classic, successor",
    [
        ("xenguest-image", "inherit xenguest_image"),
        ("xenguest-image-extra", "inherit xenguest_image"),
        ("xenguest_image_extra", "inherit xenguest_image"),
        ("kernel-xenguest", "remove it from KERNEL_CLASSES"),
    ],
)
def test_classic_classes_stop_the_parse_naming_the_successor(parsed, tmp_path, caplog, classic, successor):
    text = parse_fails(parsed, tmp_path, caplog, "inherit %s\n" % classic)
    assert classic in text and successor in text, text
    assert CLASSIC_NOTE in text


def test_kernel_xenguest_names_the_guest_recipe_way(parsed, tmp_path, caplog):
    text = parse_fails(parsed, tmp_path, caplog, "inherit kernel-xenguest\n", name="linux-yocto_6.6.bb")
    assert "XENGUEST_IMAGE_KERNEL" in text and "Image-initramfs-" in text, text


def test_the_readme_names_every_classic_class():
    with open(os.path.join(h.LAYER, "README.md")) as f:
        readme = f.read()
    for name in ("xenguest-image", "xenguest_image", "xenguest-image-extra", "xenguest_image_extra", "kernel-xenguest"):
        assert "`%s`" % name in readme or "`inherit %s`" % name in readme, name
    # The classic spellings exist as classes (so the parse can name the successor).
    for name in ("xenguest-image", "xenguest-image-extra", "xenguest_image_extra", "kernel-xenguest"):
        assert os.path.isfile(os.path.join(h.REPO, "classes", name + ".bbclass")), name


# --- classic variables and helpers in a recipe that inherits xenguest_image --


def test_a_new_style_recipe_parses_without_migration_errors(parsed, tmp_path):
    d = parse_text(parsed, tmp_path, 'inherit xenguest_image\nXENGUEST_IMAGE_MEMORY_SIZE = "256"\nXENGUEST_IMAGE_EXTRA_CMD = "--compress gzip"\n')
    assert d.getVar("XENGUEST_IMAGE_MEMORY_SIZE") == "256"


@pytest.mark.parametrize(
    "setting, successor",
    [
        ('XENGUEST_IMAGE_NETWORK_BRIDGE = "1"', 'XENGUEST_IMAGE_NETWORK_TYPE = "bridge"'),
        ('XENGUEST_IMAGE_DEPLOY_SUBDIR = "xenguest"', "XENGUEST_IMAGE_DEPLOY_NAME"),
        ('XENGUEST_IMAGE_DEPLOY_DIR = "${WORKDIR}/x"', "XENGUEST_IMAGE_LINK_NAME"),
        ('XENGUEST_IMAGE_VARS_EXTRA += "FOO"', "xenguestenv files are gone"),
        ('XENGUEST_IMAGE_SRC_URI_INIT = "file://a.sh"', "SRC_URI plus XENGUEST_EXTRA_INIT "),
        ('XENGUEST_IMAGE_SRC_URI_DISK_FILES = "file://b.tar"', "XENGUEST_EXTRA_DISK_FILES"),
        ('ARM_AUTONOMY_HOST_IMAGE_EXTERN_GUESTS = "a.xenguest"', "XENGUEST_GUESTS"),
    ],
)
def test_classic_variables_stop_the_parse_naming_the_successor(parsed, tmp_path, caplog, setting, successor):
    text = parse_fails(parsed, tmp_path, caplog, "inherit xenguest_image\n%s\n" % setting)
    var = setting.split()[0]
    assert "%s is a setting of the retired meta-arm-autonomy layer" % var in text, text
    assert successor in text, text


def test_classic_variables_are_refused_by_the_guests_recipe_too(parsed, caplog):
    base = bb.data.createCopy(parsed.d)
    base.setVar("ARM_AUTONOMY_HOST_IMAGE_EXTERN_GUESTS", "https://example.com/a.xenguest")
    with pytest.raises(bb.BBHandledException):
        bb.parse.handle(GUESTS, base)
    assert "use XENGUEST_GUESTS with one XENGUEST_GUEST_FILE[NAME]" in caplog.text


def test_classic_xenguest_image_recipe_calling_the_old_helpers(parsed, tmp_path, caplog):
    """The last classic release spelt the class xenguest_image, as this
    layer does: a recipe written for it must not fail obscurely."""
    text = parse_fails(
        parsed,
        tmp_path,
        caplog,
        "inherit deploy xenguest_image\n"
        "do_deploy() {\n    xenguest_image_create\n    call_xenguest_mkimage partial --xen-extra=quiet\n}\n",
    )
    assert "do_deploy calls the classic helper" in text, text
    assert "XENGUEST_IMAGE_CONFIG" in text


@pytest.mark.parametrize(
    "extra, successor",
    [
        ("--xen-memory=256", "XENGUEST_IMAGE_MEMORY_SIZE"),
        ("--disk-size=4 --disk-add-part=1:4:ext4:rootfs.tar.gz", "XENGUEST_IMAGE_DISK_SIZE"),
        ("--xen-extra=quiet", "XENGUEST_IMAGE_CMDLINE"),
        ("--init-script=setup.sh", "XENGUEST_EXTRA_INIT"),
        ("--set-param=GUEST_AUTOBOOT=0", "XENGUEST_IMAGE_AUTOBOOT"),
        ("--set-param=MY_PARAM=1", "--set params.MY_PARAM=1 there"),
        ("--compress gzip --xen-name=web", "--set KEY=VALUE there, KEY being the option's TOML key"),
    ],
)
def test_classic_create_options_in_extra_cmd_name_the_knob(parsed, tmp_path, caplog, extra, successor):
    text = parse_fails(parsed, tmp_path, caplog, "inherit xenguest_image\nXENGUEST_IMAGE_EXTRA_CMD = \"%s\"\n" % extra)
    assert "XENGUEST_IMAGE_EXTRA_CMD '%s' holds" % extra in text, text
    assert "now holds `xenguest-mkimage build` arguments" in text
    assert "use " + successor in text, text


def test_extra_cmd_is_checked_in_image_recipes_too(parsed, caplog):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_IMAGE_EXTRA_CMD", "--xen-vcpus=2")
    with pytest.raises(bb.BBHandledException):
        bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)
    assert "use XENGUEST_IMAGE_NUM_VCPUS" in caplog.text


# --- root=/dev/xvda1 without a disk -------------------------------------------


def test_root_on_a_disk_without_a_disk_warns(parsed, tmp_path, caplog):
    parse_text(parsed, tmp_path, "inherit xenguest_image\n")
    assert re.search(r"XENGUEST_IMAGE_ROOT is '/dev/xvda1' but XENGUEST_IMAGE_DISK_SIZE is '0' \(no disk\)", caplog.text), caplog.text
    assert 'XENGUEST_IMAGE_ROOT = ""' in caplog.text


@pytest.mark.parametrize(
    "settings",
    [
        'XENGUEST_IMAGE_ROOT = ""',
        'XENGUEST_IMAGE_DISK_SIZE = "2G"\nXENGUEST_IMAGE_DISK_PARTITIONS = "1:2G:ext4:"',
        'XENGUEST_IMAGE_CONFIG = "guest.toml"',
        'XENGUEST_EXTRA_XENCONFIG = "disk.cfg"',
    ],
)
def test_a_coherent_root_does_not_warn(parsed, tmp_path, caplog, settings):
    parse_text(parsed, tmp_path, "inherit xenguest_image\n%s\n" % settings)
    assert "XENGUEST_IMAGE_ROOT is" not in caplog.text


def test_the_layer_recipes_parse_without_migration_warnings(parsed, caplog):
    for path in (
        h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"),
        h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"),
        h.fixture_recipe("xenguest-test-vars.bb"),
        h.fixture_recipe("xenguest-test-image.bb"),
        GUESTS,
    ):
        parsed.parse(path)
    assert "meta-arm-autonomy" not in caplog.text and "XENGUEST_IMAGE_ROOT is" not in caplog.text, caplog.text


# --- the classic port forward of a nat guest ---------------------------------


@pytest.mark.parametrize(
    "settings, forwards",
    [
        ('XENGUEST_IMAGE_HOST_PORT = "2222"', "2222:22"),
        ('XENGUEST_IMAGE_HOST_PORT = "8080"\nXENGUEST_IMAGE_GUEST_PORT = "80"', "8080:80"),
        ('XENGUEST_IMAGE_PORT_FORWARDS = "53:53/udp"\nXENGUEST_IMAGE_HOST_PORT = "2222"', "53:53/udp 2222:22"),
    ],
)
def test_the_classic_port_forward_is_mapped_with_a_warning(parsed, tmp_path, caplog, settings, forwards):
    d = parse_text(parsed, tmp_path, 'inherit xenguest_image\nXENGUEST_IMAGE_NETWORK_TYPE = "nat"\n%s\n' % settings)
    assert d.getVar("XENGUEST_IMAGE_PORT_FORWARDS") == forwards
    assert 'mapped to XENGUEST_IMAGE_PORT_FORWARDS = "%s"' % forwards in caplog.text, caplog.text


@pytest.mark.parametrize(
    "setting, needle",
    [
        ('XENGUEST_IMAGE_GUEST_PORT = "22"', "1000 + domid"),
        ('XENGUEST_IMAGE_HOST_PORT = "70000"', "is not a port"),
        ('XENGUEST_IMAGE_NAT_PORT_FORWARD_SCRIPT = "x.sh"', "XENGUEST_IMAGE_PORT_FORWARDS"),
    ],
)
def test_a_classic_port_forward_that_cannot_be_mapped_stops_the_parse(parsed, tmp_path, caplog, setting, needle):
    text = parse_fails(parsed, tmp_path, caplog, "inherit xenguest_image\n%s\n" % setting)
    assert needle in text, text
