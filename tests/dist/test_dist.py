# SPDX-License-Identifier: MIT
"""The manager's install files (dist/): the templates installed by
dist/install.sh with the directory of the binary, the default configuration
the real manager accepts, and the Debian package `cargo deb` builds from
them (its contents, control fields, conffiles and maintainer scripts).

Run from the repository root after `cargo build --release`:
    .venv/bin/python -m pytest tests/dist -q
"""

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(REPO, "dist")
RELEASE = os.path.join(REPO, "target", "release")
MANAGER = os.path.join(RELEASE, "xenguest-manager")


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def manager():
    if not os.access(MANAGER, os.X_OK):
        pytest.fail("%s not found - run cargo build --release" % MANAGER)
    return MANAGER


@pytest.fixture
def fake_xl(tmp_path):
    """PATH with an xl that answers `xl info` (all the manager asks before `list`)."""
    bindir = tmp_path / "fake-xl"
    bindir.mkdir()
    (bindir / "xl").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "xl").chmod(0o755)
    return dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), XENGUEST_MANAGER_ROOT=str(tmp_path / "root"))


def install(*args):
    return run(["sh", os.path.join(DIST, "install.sh"), *args])


def test_install_sets_the_binary_directory(tmp_path, manager):
    stage = tmp_path / "stage"
    result = install("--bindir", RELEASE, "--destdir", str(stage))
    assert result.returncode == 0, result.stderr
    unit = (stage / "etc/systemd/system/xenguest-manager.service").read_text()
    assert "ExecStart=%s/xenguest-manager boot-start\n" % RELEASE in unit
    assert "ExecStop=%s/xenguest-manager boot-stop\n" % RELEASE in unit
    init = stage / "etc/init.d/xenguest-manager"
    assert "MANAGER=%s/xenguest-manager\n" % RELEASE in init.read_text()
    assert os.access(init, os.X_OK)
    for path in (unit, init.read_text()):
        assert "@BINDIR@" not in path
    for sub in ("guests", "init.pre", "init.d", "init.post"):
        assert (stage / "etc/xenguest" / sub).is_dir()
    with open(os.path.join(DIST, "xenguest-manager.conf")) as f:
        assert (stage / "etc/xenguest/xenguest-manager.conf").read_text() == f.read()


def test_install_keeps_an_existing_configuration(tmp_path):
    stage = tmp_path / "stage"
    conf = stage / "etc/xenguest/xenguest-manager.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('XENGUEST_VOLUME_DEVICE="/dev/sda2"\n')
    result = install("--bindir", "/usr/local/bin", "--destdir", str(stage), "--no-sysvinit")
    assert result.returncode == 0, result.stderr
    assert conf.read_text() == 'XENGUEST_VOLUME_DEVICE="/dev/sda2"\n'
    assert "kept %s" % conf in result.stdout
    assert not (stage / "etc/init.d").exists()
    assert (stage / "etc/systemd/system/xenguest-manager.service").exists()


@pytest.mark.parametrize("args,message", [
    (["--bindir", "bin"], "`bin` is not an absolute path"),
    (["--bindir", "/opt/my bin"], "--bindir `/opt/my bin` holds characters"),
    (["--bindir", "/nonexistent"], "`/nonexistent/xenguest-manager` is not an executable"),
    (["--frobnicate"], "unknown argument `--frobnicate`"),
])
def test_install_refuses_bad_arguments(tmp_path, args, message):
    result = install(*args)
    assert result.returncode != 0
    assert message in result.stderr


def test_init_script_runs_the_units_actions(tmp_path):
    stage = tmp_path / "stage"
    stand_in = tmp_path / "bin" / "xenguest-manager"
    stand_in.parent.mkdir()
    calls = tmp_path / "calls"
    stand_in.write_text('#!/bin/sh\necho "$*" >> %s\n' % calls)
    stand_in.chmod(0o755)
    assert install("--bindir", str(stand_in.parent), "--destdir", str(stage)).returncode == 0
    init = str(stage / "etc/init.d/xenguest-manager")
    for action in ("start", "stop", "restart", "status"):
        assert run(["sh", init, action]).returncode == 0, action
    assert calls.read_text() == "boot-start\nboot-stop\nboot-stop\nboot-start\nstatus\n"
    assert run(["sh", init, "frobnicate"]).returncode == 2


def test_default_configuration_is_accepted_and_names_every_key(manager, fake_xl):
    conf = os.path.join(DIST, "xenguest-manager.conf")
    result = run([manager, "--config", conf, "list"], env=fake_xl)
    assert result.returncode == 0, result.stderr
    help_text = run([manager, "--help"]).stdout
    keys = re.findall(r"^  (XENGUEST_[A-Z_]+) \(default: ([^)]*)\)", help_text, re.M)
    assert len(keys) >= 10, help_text
    text = open(conf).read()
    for key, default in keys:
        default = "" if default == "empty" else default
        # Commented out with its default (or an example for the keys).
        assert re.search(r'^#%s="' % key, text, re.M), key
        if key not in ("XENGUEST_TRUSTED_KEYS",):
            assert '#%s="%s"' % (key, default) in text, key


@pytest.fixture(scope="module")
def deb(tmp_path_factory):
    """The package `cargo deb` builds from the release binaries."""
    if not shutil.which("cargo-deb"):
        pytest.fail("cargo-deb not found - cargo install cargo-deb --locked")
    for tool in ("xenguest-mkimage", "xenguest-manager"):
        if not os.access(os.path.join(RELEASE, tool), os.X_OK):
            pytest.fail("%s not built - run cargo build --release" % tool)
    out = tmp_path_factory.mktemp("deb")
    stage = run(["sh", os.path.join(DIST, "debian", "stage")], cwd=REPO)
    assert stage.returncode == 0, stage.stderr
    build = run(["cargo", "deb", "--no-build", "--output", str(out)], cwd=REPO)
    assert build.returncode == 0, build.stderr
    (path,) = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".deb")]
    return path


def deb_field(deb, field):
    return run(["dpkg-deb", "-f", deb, field], check=True).stdout.strip()


def test_package_holds_both_binaries_and_the_boot_files(deb, tmp_path):
    listing = run(["dpkg-deb", "-c", deb], check=True).stdout
    names = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    for path in ("/usr/bin/xenguest-manager", "/usr/bin/xenguest-mkimage",
                 "/usr/lib/systemd/system/xenguest-manager.service",
                 "/etc/init.d/xenguest-manager",
                 "/etc/xenguest/xenguest-manager.conf",
                 "/usr/share/man/man1/xenguest-mkimage.1.gz",
                 "/usr/share/man/man1/xenguest-mkimage-build.1.gz",
                 "/usr/share/bash-completion/completions/xenguest-mkimage",
                 "/usr/share/zsh/vendor-completions/_xenguest-mkimage",
                 "/usr/share/fish/vendor_completions.d/xenguest-mkimage.fish",
                 "/usr/share/doc/xenguest-mkimage/manager.md"):
        assert path in names, path
    # The manager's own documentation, from its own command definition.
    for path in ("/usr/share/man/man1/xenguest-manager.1.gz",
                 "/usr/share/man/man1/xenguest-manager-create.1.gz",
                 "/usr/share/bash-completion/completions/xenguest-manager",
                 "/usr/share/zsh/vendor-completions/_xenguest-manager",
                 "/usr/share/fish/vendor_completions.d/xenguest-manager.fish"):
        assert path in names, path
    root = tmp_path / "root"
    run(["dpkg-deb", "-x", deb, str(root)], check=True)
    unit = (root / "usr/lib/systemd/system/xenguest-manager.service").read_text()
    assert "ExecStart=/usr/bin/xenguest-manager boot-start\n" in unit
    assert "MANAGER=/usr/bin/xenguest-manager\n" in (root / "etc/init.d/xenguest-manager").read_text()
    assert os.access(root / "usr/bin/xenguest-manager", os.X_OK)


def test_package_control(deb, tmp_path):
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    for pkg in ("xen-utils", "parted", "e2fsprogs", "dosfstools", "util-linux", "mount",
                "tar", "gzip", "bzip2", "xz-utils", "bash"):
        assert pkg in depends, depends
    # LVM for volume-backed disks; the tools of `nat` guests' networks.
    assert deb_field(deb, "Recommends") == "lvm2, iproute2, nftables, udhcpd"
    assert deb_field(deb, "Section") == "admin"
    control = tmp_path / "control"
    run(["dpkg-deb", "-e", deb, str(control)], check=True)
    conffiles = (control / "conffiles").read_text().split()
    assert "/etc/xenguest/xenguest-manager.conf" in conffiles
    assert "/etc/init.d/xenguest-manager" in conffiles
    postinst = (control / "postinst").read_text()
    # Enabled for the next boot (systemd and sysvinit), never started by
    # dpkg: starting or restarting the unit starts or stops every guest.
    assert "deb-systemd-helper enable xenguest-manager.service" in postinst
    assert "update-rc.d xenguest-manager defaults" in postinst
    assert "deb-systemd-invoke start" not in postinst
    assert "deb-systemd-invoke restart" not in postinst
    prerm = (control / "prerm").read_text() if (control / "prerm").exists() else ""
    assert "upgrade" not in prerm


def test_packaged_configuration_is_accepted(deb, tmp_path, fake_xl):
    root = tmp_path / "root"
    run(["dpkg-deb", "-x", deb, str(root)], check=True)
    result = run([str(root / "usr/bin/xenguest-manager"), "--config",
                  str(root / "etc/xenguest/xenguest-manager.conf"), "list"], env=fake_xl)
    assert result.returncode == 0, result.stderr
