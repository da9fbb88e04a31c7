# SPDX-License-Identifier: MIT
"""Layer structure and parsing: layer.conf, class lookup, recipe variants,
dependencies and signatures, all through BitBake's own parser."""

import os
import re

import bb
import bb.data
import bb.fetch2
import bb.parse
import bb.utils
import bb.data_smart

import bbharness as h


def test_layer_conf_sets_only_layer_variables():
    d = bb.data.init()
    before = set(d.keys())
    d.setVar("LAYERDIR", h.LAYER)
    bb.parse.handle(os.path.join(h.LAYER, "conf", "layer.conf"), d, True)
    d.delVar("LAYERDIR")
    added = set(d.keys()) - before
    assert added
    stray = sorted(v for v in added if not re.match(r"^(BB|LAYER)", v) and v not in ("FILE", "__depends"))
    assert stray == [], "layer.conf must set only BB*/LAYER* variables"
    assert "INHERIT" not in added
    compat = d.getVar("LAYERSERIES_COMPAT_xenguest-rs").split()
    assert "wrynose" in compat and "scarthgap" in compat
    # OE-core master's LAYERSERIES_CORENAMES (6.1): without it BitBake refuses the layer there.
    assert "blacksail" in compat


def test_classes_found_through_bbpath(parsed):
    bbpath = parsed.d.getVar("BBPATH")
    for name in ("xenguest_image", "image_types_xenguest", "xenguest_common", "xenguest_guests"):
        found = bb.utils.which(bbpath, os.path.join("classes", name + ".bbclass"))
        assert os.path.normpath(found) == os.path.join(h.REPO, "classes", name + ".bbclass")


def test_every_layer_recipe_parses(parsed):
    recipes = []
    for pattern in parsed.d.getVar("BBFILES").split():
        import glob

        recipes += glob.glob(pattern)
    assert len(recipes) >= 4
    for path in recipes:
        variants = parsed.parse_all(path)
        assert "" in variants, path


def test_tool_recipe(parsed):
    path = h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb")
    variants = parsed.parse_all(path)
    assert set(variants) == {"", "native", "nativesdk"}
    assert variants["native"].getVar("PN") == "xenguest-mkimage-native"
    assert variants["nativesdk"].getVar("PN") == "nativesdk-xenguest-mkimage"
    d = variants[""]
    assert bb.data.inherits_class("cargo", d)
    src_uri = d.getVar("SRC_URI").split()
    local = [u for u in src_uri if u.startswith("file://")]
    assert sorted(u.split(";")[0] for u in local) == ["file://Cargo.lock", "file://Cargo.toml", "file://LICENSE", "file://build.rs", "file://src"]
    # The local entries resolve to this very checkout (not to target/ or the layer).
    fetcher = bb.fetch2.Fetch(local, d)
    for url in local:
        where = fetcher.localpath(url)
        assert os.path.dirname(os.path.normpath(where)) == h.REPO, (url, where)
        assert os.path.exists(where)
    assert d.getVar("S") == os.path.join(d.getVar("UNPACKDIR"), d.getVar("BP"))


def test_guest_recipe_tasks_and_depends(parsed):
    d = parsed.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"))
    assert "do_deploy" in d.getVar("__BBTASKS", False)
    depends = d.getVarFlag("do_deploy", "depends").split()
    assert "xenguest-mkimage-native:do_populate_sysroot" in depends
    assert "virtual/kernel:do_deploy" in depends
    assert d.getVarFlag("do_deploy", "sstate-outputdirs") == d.getVar("DEPLOY_DIR_IMAGE")

    d = parsed.parse(h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"))
    # The TOML only: the class does not read it. The files it names are
    # checked at task time (test_an_input_bitbake_does_not_track_is_fatal).
    checksums = d.getVarFlag("do_deploy", "file-checksums").split()
    files = sorted(os.path.basename(c.rsplit(":", 1)[0]) for c in checksums)
    assert files == ["guest.toml"]


def knobs(d):
    """Every knob, from the class's one table plus those that say how the
    tool runs (the class's own _XENGUEST_IMAGE_KNOBS)."""
    table = [row.split(":")[0] for row in d.getVar("_XENGUEST_IMAGE_KNOB_TABLE").split()]
    return table + ["XENGUEST_IMAGE_CONFIG", "XENGUEST_IMAGE_EXTRA_CMD", "XENGUEST_IMAGE_DEFINES",
                    "XENGUEST_IMAGE_SOURCE_DATE_EPOCH"]


def test_knob_table_matches_the_tools_keys(parsed, tool):
    """Each knob maps to a key `build --set` takes, and every ??= knob of
    the class is in the table or says how the tool runs."""
    import re
    import subprocess

    d = parsed.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    rows = [row.split(":") for row in d.getVar("_XENGUEST_IMAGE_KNOB_TABLE").split()]
    assert len(rows) >= 18 and all(len(r) == 3 for r in rows)
    for knob, key, unit in rows:
        assert unit in ("value", "deploy-file", "deploy-files", "src-files", "src-pairs", "items", "disk",
                        "assignments"), knob
        if unit == "assignments":
            assert key == "*", knob
            continue
        out = subprocess.run([tool, "build", "--set=%s=" % key, "--print-inputs"], capture_output=True, text=True)
        assert "is not a key --set can give" not in out.stderr, (knob, key, out.stderr)
    with open(os.path.join(h.REPO, "classes", "xenguest_common.bbclass")) as f:
        declared = re.findall(r"^(XENGUEST_\w+) \?\?=", f.read(), re.M)
    # XENGUEST_IMAGE_CONFIG is xenguest_image.bbclass's own; the signing
    # key's path is the one knob kept out of the signatures on purpose.
    unsigned = d.getVar("_XENGUEST_IMAGE_UNSIGNED_KNOBS").split()
    assert unsigned == ["XENGUEST_IMAGE_SIGN_KEY"]
    assert sorted(declared + ["XENGUEST_IMAGE_CONFIG"]) == sorted(knobs(d) + unsigned)
    # The layer README documents every knob.
    with open(os.path.join(h.LAYER, "README.md")) as f:
        readme = f.read()
    assert [k for k in knobs(d) + unsigned if k not in readme] == []


def test_the_classes_know_no_toml():
    for name in os.listdir(os.path.join(h.REPO, "classes")):
        with open(os.path.join(h.REPO, "classes", name)) as f:
            text = f.read()
        for needle in ("tomllib", "import toml", "[guest]", "[[disk.partitions]]", ".toml'"):
            assert needle not in text, (name, needle)


def test_file_checksums_of_variable_guests(parsed, tmp_path):
    script = tmp_path / "outside.sh"
    script.write_text("#!/bin/sh\n")
    d = parsed.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    assert d.getVarFlag("do_deploy", "file-checksums").split() == []
    d.setVar("XENGUEST_EXTRA_INIT", "setup.sh " + str(script))
    # SRC_URI files are checksummed by do_fetch; a file outside it here.
    assert d.getVarFlag("do_deploy", "file-checksums").split() == [str(script) + ":True"]


def test_vardeps_contain_every_knob(parsed):
    d = parsed.parse(h.fixture_recipe("xenguest-test-vars.bb"))
    taskdeps, _ = h.task_signatures(d)
    missing = [k for k in knobs(d) if k not in taskdeps["do_deploy"]]
    assert missing == []
    assert "DATETIME" not in taskdeps["do_deploy"]


def test_a_knob_change_changes_only_the_guest_task(parsed):
    path = h.fixture_recipe("xenguest-test-vars.bb")
    _, base = h.task_signatures(parsed.parse(path))
    for knob in knobs(parsed.parse(path)):
        d = parsed.parse(path)
        d.setVar(knob, (d.getVar(knob) or "") + "x")
        _, changed = h.task_signatures(d)
        differing = sorted(t for t in base if base[t] != changed[t])
        assert differing == ["do_deploy"], knob


def test_the_layer_changes_no_signature_of_a_recipe_that_does_not_use_it(tmp_path):
    plain = tmp_path / "plain_1.0.bb"
    plain.write_text('LICENSE = "MIT"\nSRC_URI = ""\n')
    without = h.BitBake(str(tmp_path / "a"), "/nonexistent", layers=())
    with_layer = h.BitBake(str(tmp_path / "a"), "/nonexistent")
    _, a = h.task_signatures(without.parse(str(plain)))
    _, b = h.task_signatures(with_layer.parse(str(plain)))
    assert a == b


def test_image_type_parse(parsed):
    d = parsed.parse(h.fixture_recipe("xenguest-test-image.bb"))
    assert d.getVar("IMAGE_TYPEDEP:xenguest") == "tar.gz"
    tasks = d.getVar("__BBTASKS", False)
    assert "do_image_xenguest" in tasks and "do_image_tar" in tasks
    assert "do_image_tar" in d.getVarFlag("do_image_xenguest", "deps")
    depends = d.getVarFlag("do_image_xenguest", "depends").split()
    assert "xenguest-mkimage-native:do_populate_sysroot" in depends
    assert "virtual/kernel:do_deploy" in depends
    # image.bbclass appends set_image_size; the spec writer comes after it.
    assert d.getVarFlag("do_image_xenguest", "prefuncs").split() == ["set_image_size", "xenguest_image_types_prepare"]
    assert d.getVarFlag("do_image_xenguest", "subimages").split()[-2:] == ["xenguest", "xenguest.sha256"]
    taskdeps, _ = h.task_signatures(d)
    assert [k for k in knobs(d) if k not in taskdeps["do_image_xenguest"]] == []
    checksums = d.getVarFlag("do_image_xenguest", "file-checksums").split()
    assert checksums == [h.fixture_recipe("xenguest-test-image/hello.sh") + ":True"]


def test_image_type_without_its_class_names_the_missing_class(parsed, tmp_path, caplog):
    """IMAGE_FSTYPES += "xenguest" without IMAGE_CLASSES += "image_types_xenguest":
    image.bbclass stops the parse with its own message (the README quotes it)."""
    import pytest

    recipe = tmp_path / "image-without-class.bb"
    recipe.write_text('LICENSE = "MIT"\ninherit image\nIMAGE_FSTYPES = "xenguest"\n')
    with pytest.raises(bb.BBHandledException):
        bb.parse.handle(str(recipe), bb.data.createCopy(parsed.d))
    assert "No IMAGE_CMD defined for IMAGE_FSTYPES entry 'xenguest' - possibly invalid type name or missing support class" in caplog.text
    with open(os.path.join(h.LAYER, "README.md")) as f:
        assert "No IMAGE_CMD defined for IMAGE_FSTYPES entry 'xenguest'" in f.read()


def test_image_type_only_as_conversion_input(parsed):
    """IMAGE_FSTYPES = "xenguest.sha256sum": image.bbclass deletes the
    .xenguest after the conversion, so its sidecar gets no link either."""
    d = bb.data.createCopy(parsed.d)
    d.setVar("IMAGE_FSTYPES:forcevariable", "xenguest.sha256sum")
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), d)[""]
    assert d.getVarFlag("do_image_xenguest", "subimages").split() == ["xenguest.sha256sum"]
    assert d.getVarFlag("do_image_xenguest", "prefuncs").split() == ["set_image_size", "xenguest_image_types_prepare"]
    assert "\trm " in d.getVar("do_image_xenguest", False)


def test_image_that_is_the_initramfs_does_not_depend_on_the_kernel(parsed):
    base = bb.data.createCopy(parsed.d)
    base.setVar("INITRAMFS_IMAGE", "xenguest-test-image")
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]
    assert "virtual/kernel:do_deploy" not in d.getVarFlag("do_image_xenguest", "depends").split()

    base.setVar("INITRAMFS_IMAGE", "some-other-initramfs")
    d = bb.parse.handle(h.fixture_recipe("xenguest-test-image.bb"), base)[""]
    assert "virtual/kernel:do_deploy" in d.getVarFlag("do_image_xenguest", "depends").split()


def test_guests_class_dependencies(parsed):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_GUESTS", "a b c")
    base.setVarFlag("XENGUEST_GUEST_RECIPE", "a", "xenguest-example-disk")
    base.setVarFlag("XENGUEST_GUEST_IMAGE", "b", "core-image-minimal")
    base.setVarFlag("XENGUEST_GUEST_IMAGE", "c", "core-image-minimal")
    base.setVarFlag("XENGUEST_GUEST_MULTICONFIG", "c", "guest")
    base.setVarFlag("XENGUEST_GUEST_FILE", "c", "/srv/c.xenguest")
    d = bb.parse.handle(h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb"), base)[""]
    depends = d.getVarFlag("do_install", "depends").split()
    assert "xenguest-example-disk:do_deploy" in depends
    assert "core-image-minimal:do_image_complete" in depends
    assert d.getVarFlag("do_install", "mcdepends").split() == ["mc::guest:core-image-minimal:do_image_complete"]


def test_guests_class_configuration_mismatch_skips_the_recipe(parsed):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_GUESTS", "web")
    base.setVarFlag("XENGUEST_GUEST_MULTICONFIG", "web", "guest")
    d = bb.parse.handle(h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb"), base)[""]
    assert d.getVar("__SKIPPED") == (
        "XENGUEST_GUEST_MULTICONFIG[web] 'guest' needs XENGUEST_GUEST_IMAGE[web] - set the image built in that multiconfig"
    )


def test_every_variable_expands_like_bitbake_e(parsed):
    """`bitbake -e` expands every variable and flag: none of the classes'
    inline Python may fail at parse time (nor need a built artifact)."""
    for path in (
        h.recipe("recipes-guests", "xenguest-example", "xenguest-example-disk_1.0.bb"),
        h.recipe("recipes-guests", "xenguest-example", "xenguest-example-initramfs_1.0.bb"),
        h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb"),
        h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb"),
        h.fixture_recipe("xenguest-test-vars.bb"),
        h.fixture_recipe("xenguest-test-image.bb"),
    ):
        d = parsed.parse(path)
        for key in d.keys():
            if key.startswith("__"):
                continue
            try:
                d.getVar(key)
                for flag in d.getVarFlags(key) or {}:
                    if flag not in ("func", "python") and not flag.startswith("_"):
                        d.getVarFlag(key, flag)
            except bb.data_smart.ExpansionError as e:
                raise AssertionError("%s: %s: %s" % (os.path.basename(path), key, e))
