# SPDX-License-Identifier: MIT
"""The project's addresses (homepage, bug tracker, contact and security
addresses) are declared once, in Cargo.toml; scripts/project-urls copies
them into the layer's recipes, README and SECURITY.md."""

import glob
import os
import shutil
import subprocess
import sys

import tomllib

import bbharness as h

SCRIPT = os.path.join(h.REPO, "scripts", "project-urls")


def declared(root=h.REPO):
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        package = tomllib.load(f)["package"]
    return package, package["metadata"]["project"]


def layer_recipes(root=h.REPO):
    return sorted(glob.glob(os.path.join(root, "meta-xenguest-rs", "recipes-*", "*", "*.bb")))


def test_every_copy_agrees_with_cargo_toml(parsed):
    result = subprocess.run([sys.executable, SCRIPT, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    package, project = declared()
    assert package["homepage"] and package["repository"]
    recipes = layer_recipes()
    assert len(recipes) >= 4
    for path in recipes:
        d = parsed.parse(path)
        assert d.getVar("HOMEPAGE") == package["homepage"], path
        assert d.getVar("BUGTRACKER") == project["bugtracker"], path
    with open(os.path.join(h.LAYER, "README.md")) as f:
        readme = f.read()
    for value in (package["repository"], project["bugtracker"], project["contact"]):
        assert value in readme, value
    with open(os.path.join(h.LAYER, "SECURITY.md")) as f:
        assert project["security-contact"] in f.read()
    with open(os.path.join(h.REPO, "CHANGELOG.md")) as f:
        assert "[Unreleased]: %s" % package["repository"] in f.read()


def test_filling_in_cargo_toml_updates_every_copy(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(os.path.join(h.REPO, "Cargo.toml"), root)
    shutil.copy(os.path.join(h.REPO, "CHANGELOG.md"), root)
    shutil.copytree(h.LAYER, root / "meta-xenguest-rs")
    toml = (root / "Cargo.toml").read_text()
    package, project = declared()
    new = {
        package["homepage"]: "https://xenguest.example.org",
        project["bugtracker"]: "https://tracker.example.org/xenguest",
        project["contact"]: "maintainers@xenguest.example.org",
        project["security-contact"]: "security@xenguest.example.org",
    }
    for old, value in sorted(new.items(), key=lambda kv: -len(kv[0])):
        toml = toml.replace('"%s"' % old, '"%s"' % value)
    (root / "Cargo.toml").write_text(toml)

    check = subprocess.run([sys.executable, SCRIPT, "--check", "--root", str(root)], capture_output=True, text=True)
    assert check.returncode == 1
    assert "meta-xenguest-rs/SECURITY.md" in check.stderr and "xenguest-mkimage_0.1.0.bb" in check.stderr

    subprocess.run([sys.executable, SCRIPT, "--root", str(root)], check=True, capture_output=True)
    subprocess.run([sys.executable, SCRIPT, "--check", "--root", str(root)], check=True)
    copies = [str(root / "meta-xenguest-rs" / n) for n in ("README.md", "SECURITY.md")] + [str(root / "CHANGELOG.md")]
    for path in layer_recipes(str(root)) + copies:
        with open(path) as f:
            text = f.read()
        assert "example.invalid" not in text, path
    recipe = (root / "meta-xenguest-rs" / "recipes-devtools" / "xenguest-mkimage" / "xenguest-mkimage_0.1.0.bb").read_text()
    assert 'HOMEPAGE = "https://xenguest.example.org"' in recipe
    assert 'BUGTRACKER = "https://tracker.example.org/xenguest"' in recipe
    readme = (root / "meta-xenguest-rs" / "README.md").read_text()
    assert "maintainers@xenguest.example.org" in readme and "https://tracker.example.org/xenguest" in readme
    assert "security@xenguest.example.org" in (root / "meta-xenguest-rs" / "SECURITY.md").read_text()
