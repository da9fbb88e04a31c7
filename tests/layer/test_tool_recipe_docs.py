# SPDX-License-Identifier: MIT
"""The tool recipe installs man pages and shell completions that the tool
generates from its option table: target and nativesdk builds with
xenguest-mkimage-native (a target binary cannot run on the build host), the
native build with the binary it has just installed. do_install:append runs
through BitBake's executor; the cargo class is a stand-in without a
do_install of its own, so the binary is put into ${D} by hand where the
native variant needs it."""

import fnmatch
import os
import shutil
import subprocess

import bb.data

import bbharness as h

RECIPE = h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb")
SHELLS = {
    "bash": "/usr/share/bash-completion/completions/xenguest-mkimage",
    "zsh": "/usr/share/zsh/site-functions/_xenguest-mkimage",
    "fish": "/usr/share/fish/vendor_completions.d/xenguest-mkimage.fish",
}


def installed(d):
    root = d.getVar("D")
    found = []
    for top, _, files in os.walk(root):
        found += ["/" + os.path.relpath(os.path.join(top, f), root) for f in files]
    return sorted(found)


def expected_from_tool(tool, tmp_path):
    """{installed path: bytes} as the tool itself generates them."""
    out = tmp_path / "expected"
    subprocess.run([tool, "generate", "man", str(out / "man")], check=True)
    want = {"/usr/share/man/man1/" + n: (out / "man" / n).read_bytes() for n in os.listdir(out / "man")}
    for shell, path in SHELLS.items():
        subprocess.run([tool, "generate", "completions", shell, str(out / shell)], check=True)
        want[path] = (out / shell / os.path.basename(path)).read_bytes()
    return want


def check_install(d, want):
    got = installed(d)
    docs = [p for p in got if not p.startswith("/usr/bin/")]
    assert docs == sorted(want), docs
    for path, data in want.items():
        with open(d.getVar("D") + path, "rb") as f:
            assert f.read() == data, path
    man = [p for p in docs if p.startswith("/usr/share/man/man1/")]
    assert "/usr/share/man/man1/xenguest-mkimage.1" in man
    assert "/usr/share/man/man1/xenguest-mkimage-build.1" in man
    result = subprocess.run(["bash", "-n", d.getVar("D") + SHELLS["bash"]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_target_variant_generates_docs_with_the_native_tool(bitbake, tool, tmp_path):
    variants = bitbake.parse_all(RECIPE)
    assert "xenguest-mkimage-native" in variants[""].getVar("DEPENDS").split()
    assert "xenguest-mkimage-native" in variants["nativesdk"].getVar("DEPENDS").split()
    assert "xenguest-mkimage-native" not in (variants["native"].getVar("DEPENDS") or "").split()

    d = variants[""]
    assert d.getVar("XENGUEST_MKIMAGE_DOC_TOOL") == "xenguest-mkimage"  # from the native sysroot's PATH
    bb.utils.mkdirhier(d.getVar("B"))
    bitbake.run(d, "do_install")
    check_install(d, expected_from_tool(tool, tmp_path))

    # Every installed file is in a package: completions in their own, the
    # man pages in ${PN}-doc (OE-core's FILES:${PN}-doc holds ${mandir}).
    packages = d.getVar("PACKAGES").split()
    for shell, path in SHELLS.items():
        pkg = "xenguest-mkimage-%s-completion" % shell
        assert pkg in packages
        patterns = d.getVar("FILES:" + pkg).split()
        assert any(path == p or path.startswith(p + "/") or fnmatch.fnmatch(path, p) for p in patterns), (pkg, patterns)
    assert d.getVar("mandir") == "/usr/share/man"


def test_native_variant_runs_the_binary_it_installed(parsed, tool, tmp_path):
    # `parsed` has no tool in PATH: only ${D}${bindir} can be the generator.
    d = parsed.parse_all(RECIPE)["native"]
    d.setVar("TOPDIR", str(tmp_path))
    d.setVar("TMPDIR", str(tmp_path / "tmp"))
    tool_path = d.expand("${D}${bindir}/xenguest-mkimage")
    assert d.getVar("XENGUEST_MKIMAGE_DOC_TOOL") == tool_path
    bb.utils.mkdirhier(os.path.dirname(tool_path))
    shutil.copy(tool, tool_path)
    bb.utils.mkdirhier(d.getVar("B"))
    parsed.run(d, "do_install")
    check_install(d, expected_from_tool(tool, tmp_path))

