# SPDX-License-Identifier: MIT
"""The xenguest-manager recipe through BitBake's own parser and executor:
what it depends on with and without meta-virtualization, its sources shared
with the tool recipe, the configuration file its knobs write (read back by
the real manager), its boot scripts, and xenguest-guests installing where
the manager looks."""

import glob
import os
import stat
import subprocess

import bb
import bb.data
import bb.fetch2
import bb.parse
import pytest

import bbharness as h

RECIPE = h.recipe("recipes-core", "xenguest-manager", "xenguest-manager_0.1.0.bb")
TOOL_RECIPE = h.recipe("recipes-devtools", "xenguest-mkimage", "xenguest-mkimage_0.1.0.bb")
APPEND = os.path.join(h.LAYER, "dynamic-layers", "virtualization-layer", "recipes-core",
                      "xenguest-manager", "xenguest-manager_%.bbappend")
LVM_APPEND = os.path.join(h.LAYER, "dynamic-layers", "openembedded-layer", "recipes-core",
                          "xenguest-manager", "xenguest-manager_%.bbappend")


@pytest.fixture(scope="session")
def manager(tool):
    """The real xenguest-manager, built beside xenguest-mkimage."""
    path = os.path.join(os.path.dirname(tool), "xenguest-manager")
    if not os.access(path, os.X_OK):
        pytest.fail("xenguest-manager not found at %s - run cargo build --release" % path)
    return path


def parse(base, appends=()):
    d = bb.data.createCopy(base)
    if appends:
        # As BitBake's cache does for the .bbappend files BBFILES selected.
        d.setVar("__BBAPPEND", " ".join(appends))
    return bb.parse.handle(RECIPE, d)[""]


def test_recipe_parses_without_meta_virtualization(parsed):
    d = parse(parsed.d)
    assert d.getVar("PN") == "xenguest-manager"
    for cls in ("cargo", "systemd", "update-rc.d"):
        assert bb.data.inherits_class(cls, d), cls
    rdepends = d.getVar("RDEPENDS:xenguest-manager").split()
    # OE-core alone: nothing from meta-oe or meta-virtualization (real
    # OE-core's yocto-check-layer found lvm2 unbuildable there).
    for pkg in ("parted", "e2fsprogs-mke2fs", "dosfstools", "util-linux-losetup",
                "util-linux-mount", "tar", "gzip", "bzip2", "xz", "bash"):
        assert pkg in rdepends, pkg
    assert "xen-tools-xl" not in rdepends
    assert "lvm2" not in rdepends
    assert d.getVar("SYSTEMD_SERVICE:xenguest-manager") == "xenguest-manager.service"
    assert d.getVar("INITSCRIPT_PARAMS") == "start 90 2 3 4 5 . stop 79 0 1 6 ."
    assert "--bin xenguest-manager" in d.getVar("CARGO_BUILD_FLAGS")
    assert "--bin xenguest-mkimage" in parsed.parse(TOOL_RECIPE).getVar("CARGO_BUILD_FLAGS")


def test_xl_comes_with_meta_virtualization(parsed):
    # layer.conf selects the bbappend only for the virtualization-layer
    # collection, and the bbappend adds Xen's xl.
    dynamic = parsed.d.getVar("BBFILES_DYNAMIC").split()
    patterns = [p.split(":", 1)[1] for p in dynamic if p.startswith("virtualization-layer:")]
    assert any(APPEND in glob.glob(p) for p in patterns), dynamic
    d = parse(parsed.d, [APPEND])
    assert "xen-tools-xl" in d.getVar("RDEPENDS:xenguest-manager").split()


def test_lvm_comes_with_meta_oe(parsed):
    # layer.conf selects the bbappend only for meta-oe's collection
    # (openembedded-layer), where lvm2 lives.
    dynamic = parsed.d.getVar("BBFILES_DYNAMIC").split()
    patterns = [p.split(":", 1)[1] for p in dynamic if p.startswith("openembedded-layer:")]
    assert any(LVM_APPEND in glob.glob(p) for p in patterns), dynamic
    d = parse(parsed.d, [LVM_APPEND])
    assert "lvm2" in d.getVar("RDEPENDS:xenguest-manager").split()


def test_sources_are_the_tool_recipes(parsed):
    tool = parsed.parse(TOOL_RECIPE)
    d = parse(parsed.d)
    crates = lambda x: sorted(u for u in x.getVar("SRC_URI").split() if u.startswith("crate://"))
    assert crates(d) == crates(tool) and crates(d)
    local = lambda x: sorted(u for u in x.getVar("SRC_URI").split() if u.startswith("file://") and ";subdir=" in u)
    assert [u.replace("xenguest-manager", "X") for u in local(d)] == [u.replace("xenguest-mkimage", "X") for u in local(tool)]


def install(bitbake, knobs, distro_features="systemd sysvinit"):
    base = bb.data.createCopy(bitbake.d)
    for k, v in knobs.items():
        base.setVar(k, v)
    base.setVar("DISTRO_FEATURES", distro_features)
    d = parse(base)
    boot = [u for u in d.getVar("SRC_URI").split() if u.startswith("file://") and ";subdir=" not in u]
    assert sorted(boot) == ["file://xenguest-manager.init", "file://xenguest-manager.service"]
    unpackdir = d.getVar("UNPACKDIR")
    bb.utils.mkdirhier(unpackdir)
    bb.fetch2.Fetch(boot, d).unpack(unpackdir)
    bitbake.run(d, "do_install")
    return d, d.getVar("D")


def test_knobs_write_a_configuration_the_manager_reads(bitbake, manager, tmp_path):
    d, dest = install(bitbake, {
        "XENGUEST_MANAGER_VOLUME_DEVICE": "/dev/sdb2",
        "XENGUEST_MANAGER_LOG_LEVEL": "INFO",
        "XENGUEST_MANAGER_REQUIRE_MANIFEST": "1",
        "XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE": "0",
        "XENGUEST_MANAGER_TRUSTED_KEYS": " /etc/xenguest/keys   /etc/release.pem ",
    })
    conf = os.path.join(dest, "etc", "xenguest", "xenguest-manager.conf")
    with open(conf) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("#")]
    assert lines == [
        'XENGUEST_VOLUME_DEVICE="/dev/sdb2"',
        'XENGUEST_GUEST_DIR="/usr/share/guests"',
        'XENGUEST_LOG_LEVEL="INFO"',
        'XENGUEST_REQUIRE_MANIFEST="1"',
        'XENGUEST_ALLOW_IMAGE_DEVICE="0"',
        'XENGUEST_TRUSTED_KEYS="/etc/xenguest/keys /etc/release.pem"',
        'XENGUEST_NETWORK_BRIDGE="xenbr0"',
    ]
    for sub in ("guests", "init.pre", "init.d", "init.post"):
        assert os.path.isdir(os.path.join(dest, "etc", "xenguest", sub)), sub
    unit = os.path.join(dest, "lib", "systemd", "system", "xenguest-manager.service")
    with open(unit) as f:
        text = f.read()
    assert "ExecStart=/usr/bin/xenguest-manager boot-start" in text
    assert "ExecStop=/usr/bin/xenguest-manager boot-stop" in text
    assert "Type=oneshot" in text and "RemainAfterExit=yes" in text
    init = os.path.join(dest, "etc", "init.d", "xenguest-manager")
    assert os.stat(init).st_mode & stat.S_IXUSR
    # The real manager accepts the file (it refuses unknown keys and shell
    # syntax): `list` with an xl stand-in that only answers `xl info`.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "xl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "xl").chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]), XENGUEST_MANAGER_ROOT=str(tmp_path / "root"))
    result = subprocess.run([manager, "--config", conf, "list"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    # The init script runs the same actions as the unit.
    fake_manager = tmp_path / "calls"
    script = open(init).read().replace("/usr/bin/xenguest-manager", str(tmp_path / "m"))
    (tmp_path / "m").write_text("#!/bin/sh\necho \"$*\" >> %s\n" % fake_manager)
    (tmp_path / "m").chmod(0o755)
    (tmp_path / "init").write_text(script)
    for action in ("start", "stop"):
        subprocess.run(["sh", str(tmp_path / "init"), action], check=True, capture_output=True)
    assert fake_manager.read_text() == "boot-start\nboot-stop\n"


def test_defaults_agree_with_the_manager(bitbake, manager):
    # The recipe writes only the guest directory by default, and it is the
    # manager's own default too.
    d, dest = install(bitbake, {}, distro_features="sysvinit")
    with open(os.path.join(dest, "etc", "xenguest", "xenguest-manager.conf")) as f:
        lines = [l for l in f.read().splitlines() if not l.startswith("#")]
    assert lines == ['XENGUEST_GUEST_DIR="/usr/share/guests"', 'XENGUEST_LOG_LEVEL="ERROR"',
                     'XENGUEST_NETWORK_BRIDGE="xenbr0"']
    help_text = subprocess.run([manager, "--help"], capture_output=True, text=True, check=True).stdout
    assert "XENGUEST_GUEST_DIR (default: /usr/share/guests)" in help_text
    assert "XENGUEST_LOG_LEVEL (default: ERROR)" in help_text
    assert "XENGUEST_NETWORK_BRIDGE (default: xenbr0)" in help_text
    # sysvinit only: no unit.
    assert not os.path.exists(os.path.join(dest, "lib", "systemd"))
    assert os.path.exists(os.path.join(dest, "etc", "init.d", "xenguest-manager"))


@pytest.mark.parametrize("knob,value,message", [
    ("XENGUEST_MANAGER_VOLUME_DEVICE", "/dev/sda2$(reboot)", "XENGUEST_MANAGER_VOLUME_DEVICE '/dev/sda2$(reboot)' contains '$'"),
    ("XENGUEST_MANAGER_VOLUME_DEVICE", "sda2", "XENGUEST_MANAGER_VOLUME_DEVICE 'sda2' is not an absolute path"),
    ("XENGUEST_MANAGER_LOG_LEVEL", "DEBUG", "XENGUEST_MANAGER_LOG_LEVEL 'DEBUG' is not a level"),
    ("XENGUEST_MANAGER_REQUIRE_MANIFEST", "yes", "XENGUEST_MANAGER_REQUIRE_MANIFEST 'yes' is not 0 or 1"),
    ("XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE", "2", "XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE '2' is not 0 or 1"),
    ("XENGUEST_MANAGER_TRUSTED_KEYS", "/etc/a.pem keys", "XENGUEST_MANAGER_TRUSTED_KEYS entry 'keys' is not an absolute path"),
    ("XENGUEST_MANAGER_NETWORK_BRIDGE", "br0,script=x", "XENGUEST_MANAGER_NETWORK_BRIDGE 'br0,script=x' is not a network interface name"),
    ("XENGUEST_MANAGER_NAT_SUBNET", "10.0.0.0", "XENGUEST_MANAGER_NAT_SUBNET '10.0.0.0' is not ADDRESS/PREFIX"),
    ("XENGUEST_MANAGER_FIREWALL", "ufw", "XENGUEST_MANAGER_FIREWALL 'ufw' is not auto, nftables or iptables"),
])
def test_bad_knobs_are_fatal(bitbake, knob, value, message):
    with pytest.raises(h.TaskFailed):
        install(bitbake, {knob: value})
    assert message in bitbake.log.text()


def test_guests_install_where_the_manager_looks(parsed):
    guests = h.recipe("recipes-core", "xenguest-guests", "xenguest-guests_1.0.bb")
    d = parsed.parse(guests)
    assert d.getVar("XENGUEST_GUESTS_DIR") == "/usr/share/guests"
    assert "xenguest-manager" in d.getVar("RRECOMMENDS:xenguest-guests").split()
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_MANAGER_GUEST_DIR", "/srv/guests")
    d = bb.parse.handle(guests, base)[""]
    assert d.getVar("XENGUEST_GUESTS_DIR") == "/srv/guests"
    assert parse(base).getVar("XENGUEST_MANAGER_GUEST_DIR") == "/srv/guests"
