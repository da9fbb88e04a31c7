# SPDX-License-Identifier: MIT
"""The xenguest-network recipe through BitBake's own parser and executor:
the bridge of bridge guests at boot, for systemd-networkd and sysvinit
hosts, from its knobs; the classic XENGUEST_NETWORK_BRIDGE_CONFIG mapped;
the manager's bridge following the recipe's; the init script's commands
(run against stand-ins)."""

import os
import stat
import subprocess

import bb
import bb.data
import bb.fetch2
import bb.parse
import pytest

import bbharness as h

RECIPE = h.recipe("recipes-core", "xenguest-network", "xenguest-network_1.0.bb")
MANAGER = h.recipe("recipes-core", "xenguest-manager", "xenguest-manager_0.1.0.bb")


def install(bitbake, knobs, distro_features="systemd sysvinit"):
    base = bb.data.createCopy(bitbake.d)
    for k, v in knobs.items():
        base.setVar(k, v)
    base.setVar("DISTRO_FEATURES", distro_features)
    d = bb.parse.handle(RECIPE, base)[""]
    unpackdir = d.getVar("UNPACKDIR")
    bb.utils.mkdirhier(unpackdir)
    bb.fetch2.Fetch(d.getVar("SRC_URI").split(), d).unpack(unpackdir)
    bitbake.run(d, "do_install")
    return d, d.getVar("D")


def read(path):
    with open(path) as f:
        return f.read()


def test_networkd_and_sysvinit_get_the_bridge_of_the_knobs(bitbake):
    d, dest = install(bitbake, {
        "XENGUEST_NETWORK_BRIDGE_MEMBERS": "eth0 eth1",
        "XENGUEST_NETWORK_BRIDGE_ADDRESS": "192.168.7.2/24 192.168.7.1",
    })
    net = os.path.join(dest, "lib", "systemd", "network")
    assert sorted(os.listdir(net)) == [
        "40-xenguest-xenbr0-members.network", "40-xenguest-xenbr0.netdev", "40-xenguest-xenbr0.network"]
    assert read(os.path.join(net, "40-xenguest-xenbr0.netdev")) == "[NetDev]\nName=xenbr0\nKind=bridge\n"
    assert "Name=eth0 eth1\n\n[Network]\nBridge=xenbr0\n" in read(os.path.join(net, "40-xenguest-xenbr0-members.network"))
    own = read(os.path.join(net, "40-xenguest-xenbr0.network"))
    assert "Address=192.168.7.2/24\n" in own and "Gateway=192.168.7.1\n" in own
    default = read(os.path.join(dest, "etc", "default", "xenguest-network"))
    assert 'BRIDGE="xenbr0"\nMEMBERS="eth0 eth1"\nADDRESS="192.168.7.2/24 192.168.7.1"\n' in default
    init = os.path.join(dest, "etc", "init.d", "xenguest-network")
    assert os.stat(init).st_mode & stat.S_IXUSR
    assert d.getVar("INITSCRIPT_PARAMS") == "start 41 S . stop 80 0 6 ."


def test_dhcp_is_the_default_and_sysvinit_alone_has_no_networkd_files(bitbake):
    d, dest = install(bitbake, {}, distro_features="sysvinit")
    assert not os.path.exists(os.path.join(dest, "lib", "systemd"))
    assert 'ADDRESS="dhcp"' in read(os.path.join(dest, "etc", "default", "xenguest-network"))


def test_systemd_alone_has_no_init_script(bitbake):
    d, dest = install(bitbake, {"XENGUEST_NETWORK_BRIDGE_NAME": "br-guests"}, distro_features="systemd")
    assert not os.path.exists(os.path.join(dest, "etc", "init.d", "xenguest-network"))
    own = read(os.path.join(dest, "lib", "systemd", "network", "40-xenguest-br-guests.network"))
    assert "Name=br-guests\n" in own and "DHCP=ipv4\n" in own


def test_the_manager_puts_bridge_guests_on_the_recipe_s_bridge(parsed):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_NETWORK_BRIDGE_NAME", "br-guests")
    d = bb.parse.handle(MANAGER, base)[""]
    assert d.getVar("XENGUEST_MANAGER_NETWORK_BRIDGE") == "br-guests"
    assert "xenguest-network" in d.getVar("RRECOMMENDS:xenguest-manager").split()


@pytest.mark.parametrize("knob,value,message", [
    ("XENGUEST_NETWORK_BRIDGE_NAME", "br0;reboot", "XENGUEST_NETWORK_BRIDGE_NAME 'br0;reboot' is not a network interface name"),
    ("XENGUEST_NETWORK_BRIDGE_MEMBERS", "eth0 $(id)", "XENGUEST_NETWORK_BRIDGE_MEMBERS entry '$(id)'"),
    ("XENGUEST_NETWORK_BRIDGE_ADDRESS", "10.0.0.300/24", "XENGUEST_NETWORK_BRIDGE_ADDRESS '10.0.0.300/24' is not dhcp, none"),
    ("XENGUEST_NETWORK_BRIDGE_ADDRESS", "static", "is not dhcp, none, or ADDRESS/PREFIX"),
])
def test_bad_knobs_are_fatal(bitbake, knob, value, message):
    with pytest.raises(h.TaskFailed):
        install(bitbake, {knob: value})
    assert message in bitbake.log.text()


def test_the_classic_bridge_config_is_mapped_or_refused(parsed, caplog):
    base = bb.data.createCopy(parsed.d)
    base.setVar("XENGUEST_NETWORK_BRIDGE_CONFIG", "xenguest-network-bridge-dhcp.cfg.in")
    d = bb.parse.handle(RECIPE, base)[""]
    assert d.getVar("XENGUEST_NETWORK_BRIDGE_ADDRESS") == "dhcp"
    assert 'mapped to XENGUEST_NETWORK_BRIDGE_ADDRESS = "dhcp"' in caplog.text
    base.setVar("XENGUEST_NETWORK_BRIDGE_CONFIG", "my-static.cfg")
    with pytest.raises(bb.BBHandledException):
        bb.parse.handle(RECIPE, base)
    assert "use XENGUEST_NETWORK_BRIDGE_ADDRESS" in caplog.text


def test_the_init_script_makes_and_removes_the_bridge(bitbake, tmp_path):
    d, dest = install(bitbake, {
        "XENGUEST_NETWORK_BRIDGE_MEMBERS": "eth0",
        "XENGUEST_NETWORK_BRIDGE_ADDRESS": "192.168.7.2/24 192.168.7.1",
    }, distro_features="sysvinit")
    calls = tmp_path / "calls"
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("ip", "udhcpc"):
        # `ip link show` fails: no bridge yet.
        (fake / tool).write_text('#!/bin/sh\necho "%s $*" >> %s\n[ "$1 $2" != "link show" ]\n' % (tool, calls))
        (fake / tool).chmod(0o755)
    script = read(os.path.join(dest, "etc", "init.d", "xenguest-network")).replace(
        "/etc/default/xenguest-network", os.path.join(dest, "etc", "default", "xenguest-network"))
    (tmp_path / "init").write_text(script)
    env = dict(os.environ, PATH="%s:%s" % (fake, os.environ["PATH"]))
    for action in ("start", "stop"):
        subprocess.run(["sh", str(tmp_path / "init"), action], check=True, capture_output=True, env=env)
    assert calls.read_text().splitlines() == [
        "ip link show dev xenbr0",
        "ip link add name xenbr0 type bridge",
        "ip link set dev eth0 master xenbr0",
        "ip link set dev eth0 up",
        "ip link set dev xenbr0 up",
        "ip address replace 192.168.7.2/24 dev xenbr0",
        "ip route replace default via 192.168.7.1 dev xenbr0",
        "ip link set dev eth0 nomaster",
        "ip link delete dev xenbr0",
    ]
