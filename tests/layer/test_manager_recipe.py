# SPDX-License-Identifier: MIT
"""The xenguest-manager recipe through BitBake's own parser and executor:
what it depends on with and without meta-virtualization, its sources shared
with the tool recipe, the configuration file its knobs write (read back by
the real manager), its boot scripts, and xenguest-guests installing where
the manager looks."""

import glob
import os
import shutil
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
NFT_APPEND = os.path.join(h.LAYER, "dynamic-layers", "networking-layer", "recipes-core",
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
    # BitBake resolves recommendations like dependencies: with OE-core
    # alone, nothing from meta-networking either (real BitBake found
    # nftables unbuildable there); iptables is OE-core's.
    rrecommends = d.getVar("RRECOMMENDS:xenguest-manager").split()
    assert "nftables" not in rrecommends
    assert "iptables" in rrecommends
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
    assert "xen-tools-xenstore" in d.getVar("RDEPENDS:xenguest-manager").split()


def test_lvm_comes_with_meta_oe(parsed):
    # layer.conf selects the bbappend only for meta-oe's collection
    # (openembedded-layer), where lvm2 lives.
    dynamic = parsed.d.getVar("BBFILES_DYNAMIC").split()
    patterns = [p.split(":", 1)[1] for p in dynamic if p.startswith("openembedded-layer:")]
    assert any(LVM_APPEND in glob.glob(p) for p in patterns), dynamic
    d = parse(parsed.d, [LVM_APPEND])
    assert "lvm2" in d.getVar("RDEPENDS:xenguest-manager").split()


def test_nftables_comes_with_meta_networking(parsed):
    dynamic = parsed.d.getVar("BBFILES_DYNAMIC").split()
    patterns = [p.split(":", 1)[1] for p in dynamic if p.startswith("networking-layer:")]
    assert any(NFT_APPEND in glob.glob(p) for p in patterns), dynamic
    d = parse(parsed.d, [NFT_APPEND])
    assert "nftables" in d.getVar("RRECOMMENDS:xenguest-manager").split()


def test_sources_are_the_tool_recipes(parsed):
    tool = parsed.parse(TOOL_RECIPE)
    d = parse(parsed.d)
    crates = lambda x: sorted(u for u in x.getVar("SRC_URI").split() if u.startswith("crate://"))
    assert crates(d) == crates(tool) and crates(d)
    local = lambda x: sorted(u for u in x.getVar("SRC_URI").split() if u.startswith("file://") and ";subdir=" in u)
    assert [u.replace("xenguest-manager", "X") for u in local(d)] == [u.replace("xenguest-mkimage", "X") for u in local(tool)]


def install(bitbake, knobs, distro_features="systemd sysvinit", unpacked=()):
    """Parse with knobs, unpack the boot files (and the files of
    `unpacked`, as do_unpack would put SRC_URI entries there), run
    do_install; return the datastore and D."""
    base = bb.data.createCopy(bitbake.d)
    for k, v in knobs.items():
        base.setVar(k, v)
    base.setVar("DISTRO_FEATURES", distro_features)
    d = parse(base)
    boot = [u for u in d.getVar("SRC_URI").split() if u.startswith("file://") and ";subdir=" not in u]
    assert sorted(boot) == ["file://dist/xenguest-manager.init.in", "file://dist/xenguest-manager.service.in"]
    unpackdir = d.getVar("UNPACKDIR")
    bb.utils.mkdirhier(unpackdir)
    bb.fetch2.Fetch(boot, d).unpack(unpackdir)
    for path in unpacked:
        shutil.copy(path, unpackdir)
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


def test_boot_files_run_the_manager_from_bindir(bitbake):
    # The recipe fills the templates of dist/ with its bindir.
    d, dest = install(bitbake, {"bindir": "/opt/xen/bin"})
    unit = os.path.join(dest, "lib", "systemd", "system", "xenguest-manager.service")
    with open(unit) as f:
        text = f.read()
    assert "ExecStart=/opt/xen/bin/xenguest-manager boot-start\n" in text
    assert "@BINDIR@" not in text
    with open(os.path.join(dest, "etc", "init.d", "xenguest-manager")) as f:
        text = f.read()
    assert "MANAGER=/opt/xen/bin/xenguest-manager\n" in text
    assert "@BINDIR@" not in text


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


def fake_xl_env(tmp_path, root):
    """The environment for the real manager on the installed tree `root`,
    with an xl that only answers `xl info`."""
    fake = tmp_path / "fake-xl"
    fake.mkdir(exist_ok=True)
    (fake / "xl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "xl").chmod(0o755)
    return dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]), XENGUEST_MANAGER_ROOT=str(root))


def conf_lines(dest):
    with open(os.path.join(dest, "etc", "xenguest", "xenguest-manager.conf")) as f:
        return [l for l in f.read().splitlines() if not l.startswith("#")]


def test_policy_knobs_and_trusted_keys(bitbake, manager, tmp_path):
    from test_sign import keypair

    _, from_src_uri = keypair(tmp_path, "release")
    build_host = tmp_path / "elsewhere" / "ops.pub"
    build_host.parent.mkdir()
    shutil.copy(keypair(tmp_path, "ops", "EC")[1], build_host)
    d, dest = install(bitbake, {
        "XENGUEST_MANAGER_TRUSTED_KEY_FILES": "release.pub.pem %s" % build_host,
        "XENGUEST_MANAGER_REQUIRE_SIGNATURE": "1",
        "XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS": "1",
        "XENGUEST_MANAGER_ALLOW_XL_KEYS": "pci  dtdev vif-script",
        "XENGUEST_MANAGER_COMPATIBLE": "qemux86-64",
    }, unpacked=[from_src_uri])
    keys = os.path.join(dest, "etc", "xenguest", "keys")
    assert sorted(os.listdir(keys)) == ["ops.pub.pem", "release.pub.pem"]
    for name, source in (("release.pub.pem", from_src_uri), ("ops.pub.pem", str(build_host))):
        with open(os.path.join(keys, name)) as f, open(source) as g:
            assert f.read() == g.read()
        assert stat.S_IMODE(os.stat(os.path.join(keys, name)).st_mode) == 0o644
    # The keys' directory is trusted without being named.
    assert conf_lines(dest) == [
        'XENGUEST_GUEST_DIR="/usr/share/guests"',
        'XENGUEST_LOG_LEVEL="ERROR"',
        'XENGUEST_TRUSTED_KEYS="/etc/xenguest/keys"',
        'XENGUEST_REQUIRE_SIGNATURE="1"',
        'XENGUEST_REQUIRE_SIGNED_SCRIPTS="1"',
        'XENGUEST_ALLOW_XL_KEYS="pci dtdev vif-script"',
        'XENGUEST_COMPATIBLE="qemux86-64"',
        'XENGUEST_NETWORK_BRIDGE="xenbr0"',
    ]
    assert "/etc/xenguest/keys" in d.getVar("FILES:xenguest-manager").split()
    # The real manager loads the installed tree's configuration and policy.
    result = subprocess.run([manager, "list"], capture_output=True, text=True, env=fake_xl_env(tmp_path, dest))
    assert result.returncode == 0, result.stderr


def test_absolute_key_files_are_in_the_install_signature(bitbake, tmp_path):
    from test_sign import keypair

    _, pub = keypair(tmp_path, "release")
    bitbake.d.setVar("XENGUEST_MANAGER_TRUSTED_KEY_FILES", pub)
    d = parse(bitbake.d)
    assert "%s:True" % pub in d.getVarFlag("do_install", "file-checksums")


PRIVATE = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFWmNQ==\n-----END PRIVATE KEY-----\n"
NOT_A_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host\n"


@pytest.mark.parametrize("content,message", [
    (PRIVATE, "is a private key - install only its public half"),
    ("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "is a private key"),
    (NOT_A_KEY, "is not a PEM public key or certificate"),
    ("-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----\n", "is not a PEM public key or certificate"),
])
def test_private_or_non_key_files_are_fatal(bitbake, tmp_path, content, message):
    path = tmp_path / "key.pem"
    path.write_text(content)
    with pytest.raises(h.TaskFailed):
        install(bitbake, {"XENGUEST_MANAGER_TRUSTED_KEY_FILES": str(path)})
    assert "XENGUEST_MANAGER_TRUSTED_KEY_FILES entry '%s' %s" % (path, message) in bitbake.log.text()


@pytest.mark.parametrize("knobs,message", [
    ({"XENGUEST_MANAGER_TRUSTED_KEY_FILES": "missing.pem"},
     "XENGUEST_MANAGER_TRUSTED_KEY_FILES entry 'missing.pem' is not in the unpack directory"),
    ({"XENGUEST_MANAGER_TRUSTED_KEY_FILES": "/nonexistent/k.pem"},
     "XENGUEST_MANAGER_TRUSTED_KEY_FILES entry '/nonexistent/k.pem' cannot be read"),
    ({"XENGUEST_MANAGER_REQUIRE_SIGNATURE": "1"},
     "XENGUEST_MANAGER_REQUIRE_SIGNATURE is 1 but XENGUEST_MANAGER_TRUSTED_KEYS names no key"),
    ({"XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS": "yes"},
     "XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS 'yes' is not 0 or 1"),
    ({"XENGUEST_MANAGER_ALLOW_XL_KEYS": "pci PCI"},
     "XENGUEST_MANAGER_ALLOW_XL_KEYS entry 'PCI' is not an xl key or permission name"),
])
def test_bad_key_and_policy_knobs_are_fatal(bitbake, knobs, message):
    with pytest.raises(h.TaskFailed):
        install(bitbake, knobs)
    assert message in bitbake.log.text()


def test_installed_keys_must_be_trusted(bitbake, tmp_path):
    from test_sign import keypair

    _, pub = keypair(tmp_path, "release")
    with pytest.raises(h.TaskFailed):
        install(bitbake, {"XENGUEST_MANAGER_TRUSTED_KEY_FILES": pub,
                          "XENGUEST_MANAGER_TRUSTED_KEYS": "/etc/other.pem"})
    assert "XENGUEST_MANAGER_TRUSTED_KEY_FILES installs keys into /etc/xenguest/keys, which " \
        "XENGUEST_MANAGER_TRUSTED_KEYS '/etc/other.pem' does not list" in bitbake.log.text()


def test_signing_flow(bitbake, manager, tool, tmp_path):
    """The layer README's signing flow: a key pair; the guest recipe signs
    with the private key (XENGUEST_IMAGE_SIGN_KEY); the Dom0 image trusts
    the public key (XENGUEST_MANAGER_TRUSTED_KEY_FILES); its manager admits
    that guest and refuses one signed by another key, or not signed."""
    from test_guest_recipes import deploy, fake_deploy
    from test_sign import keypair

    key, pub = keypair(tmp_path, "release")
    foreign, _ = keypair(tmp_path, "foreign")

    def guest(sign_key):
        bitbake.d.setVar("XENGUEST_IMAGE_SIGN_KEY", sign_key)
        d = bitbake.parse(h.fixture_recipe("xenguest-test-vars.bb"))
        # No disk: the manager then creates the guest without LVM.
        d.setVar("XENGUEST_IMAGE_DISK_SIZE", "0")
        fake_deploy(d, {"Image": b"kernel\n", "guest.dtb": b"\xd0\x0d\xfe\xed"})
        deploydir = deploy(bitbake, d)
        image = os.path.join(deploydir, "xenguest-test-vars-%s-1.0-r0.xenguest" % d.getVar("MACHINE"))
        copy = str(tmp_path / ("guest-%s.xenguest" % (os.path.basename(sign_key) or "unsigned")))
        shutil.copy(image, copy)
        shutil.copy(image + ".sha256", copy + ".sha256")
        return copy

    trusted, other, unsigned = guest(key), guest(foreign), guest("")
    bitbake.d.setVar("XENGUEST_IMAGE_SIGN_KEY", "")
    _, dest = install(bitbake, {"XENGUEST_MANAGER_TRUSTED_KEY_FILES": os.path.basename(pub),
                                }, unpacked=[pub])
    env = fake_xl_env(tmp_path, dest)

    def create(image):
        return subprocess.run([manager, "create", image, "g"], capture_output=True, text=True, env=env)

    guests = os.path.join(dest, "etc", "xenguest", "guests")
    for image, message in ((other, "which is not a trusted key"),
                           (unsigned, "the image is unsigned")):
        result = create(image)
        assert result.returncode == 1
        assert message in result.stderr, result.stderr
        assert not os.path.exists(os.path.join(guests, "g"))
    result = create(trusted)
    assert result.returncode == 0, result.stderr
    listed = subprocess.run([manager, "list"], capture_output=True, text=True, env=env)
    assert listed.stdout.split() == ["g"], listed


MANAGER_SHELLS = {
    "bash": "/usr/share/bash-completion/completions/xenguest-manager",
    "zsh": "/usr/share/zsh/site-functions/_xenguest-manager",
    "fish": "/usr/share/fish/vendor_completions.d/xenguest-manager.fish",
}


def test_manager_recipe_installs_the_managers_own_docs(bitbake, tool, tmp_path):
    """The manager's man pages and completions come from its own command
    definition, written by the native image tool (`--program
    xenguest-manager`), byte for byte as the tool generates them."""
    d, dest = install(bitbake, {})
    assert "xenguest-mkimage-native" in d.getVar("DEPENDS").split()
    out = tmp_path / "expected"
    subprocess.run([tool, "generate", "man", str(out / "man"), "--program", "xenguest-manager"], check=True)
    want = {"/usr/share/man/man1/" + n: (out / "man" / n).read_bytes() for n in os.listdir(out / "man")}
    assert "/usr/share/man/man1/xenguest-manager.1" in want
    assert "/usr/share/man/man1/xenguest-manager-create.1" in want
    for shell, path in MANAGER_SHELLS.items():
        subprocess.run([tool, "generate", "completions", "--program", "xenguest-manager", shell, str(out / shell)], check=True)
        want[path] = (out / shell / os.path.basename(path)).read_bytes()
    got = []
    for top, _, files in os.walk(os.path.join(dest, "usr", "share")):
        got += ["/" + os.path.relpath(os.path.join(top, f), dest) for f in files]
    got.sort()
    assert got == sorted(want), got
    for path, data in want.items():
        with open(dest + path, "rb") as f:
            assert f.read() == data, path
    packages = d.getVar("PACKAGES").split()
    for shell, path in MANAGER_SHELLS.items():
        pkg = "xenguest-manager-%s-completion" % shell
        assert pkg in packages
        assert any(path.startswith(p + "/") for p in d.getVar("FILES:" + pkg).split()), pkg
