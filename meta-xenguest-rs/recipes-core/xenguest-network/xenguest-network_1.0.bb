# nooelint: oelint.var.bbclassextend - the network of the Xen host; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Host bridge of bridge-type Xen guests"
DESCRIPTION = "Creates at boot the bridge on which xenguest-manager puts the guests whose image says XENGUEST_NETWORK_TYPE=bridge, with its member interfaces and address: systemd-networkd files on systemd hosts, an init script on sysvinit hosts. The successor of meta-arm-autonomy's xenguest-network bridge."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "net"
CVE_PRODUCT = ""
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - the recipe's files are under the layer's MIT license
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# XENGUEST_NETWORK_BRIDGE_NAME (default xenbr0), shared with xenguest-manager.
require recipes-core/xenguest-manager/xenguest-manager-config.inc

# Interfaces added to the bridge (space-separated names; empty: none, e.g. a
# bridge that only links guests and Dom0)
XENGUEST_NETWORK_BRIDGE_MEMBERS ??= "eth0"
# The bridge's own address: dhcp, none, or ADDRESS/PREFIX optionally
# followed by a gateway (e.g. "192.168.1.2/24 192.168.1.1")
XENGUEST_NETWORK_BRIDGE_ADDRESS ??= "dhcp"

SRC_URI = "file://xenguest-network.init"

inherit update-rc.d

INITSCRIPT_NAME = "xenguest-network"
# Before the manager starts guests (90), removed after it stopped them (79).
INITSCRIPT_PARAMS = "start 41 S . stop 80 0 6 ."

FILES:${PN} += "${nonarch_base_libdir}/systemd/network ${sysconfdir}/default/xenguest-network"
CONFFILES:${PN} = "${sysconfdir}/default/xenguest-network"

def xenguest_network_settings(d):
    """(bridge, [members], address words), or bb.fatal naming the knob."""
    import re
    name = re.compile(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$')
    bridge = (d.getVar('XENGUEST_NETWORK_BRIDGE_NAME') or '').strip()
    if not name.match(bridge):
        bb.fatal("XENGUEST_NETWORK_BRIDGE_NAME '%s' is not a network interface name (1 to 15 letters, digits, _ . -)" % bridge)
    members = (d.getVar('XENGUEST_NETWORK_BRIDGE_MEMBERS') or '').split()
    for member in members:
        if not name.match(member) or member == bridge:
            bb.fatal("XENGUEST_NETWORK_BRIDGE_MEMBERS entry '%s' is not a network interface name other than the bridge" % member)
    address = (d.getVar('XENGUEST_NETWORK_BRIDGE_ADDRESS') or '').split()
    ipv4 = r'(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}'
    ok = address in (['dhcp'], ['none']) or (
        1 <= len(address) <= 2 and re.fullmatch(ipv4 + r'/([0-9]|[12][0-9]|3[0-2])', address[0])
        and (len(address) == 1 or re.fullmatch(ipv4, address[1])))
    if not ok:
        bb.fatal("XENGUEST_NETWORK_BRIDGE_ADDRESS '%s' is not dhcp, none, or ADDRESS/PREFIX [GATEWAY] (IPv4)"
                 % d.getVar('XENGUEST_NETWORK_BRIDGE_ADDRESS'))
    return bridge, members, address

def xenguest_network_networkd(d):
    """{file name: text} of the systemd-networkd configuration."""
    bridge, members, address = xenguest_network_settings(d)
    files = {'40-xenguest-%s.netdev' % bridge: "[NetDev]\nName=%s\nKind=bridge\n" % bridge}
    if members:
        files['40-xenguest-%s-members.network' % bridge] = "[Match]\nName=%s\n\n[Network]\nBridge=%s\n" % (" ".join(members), bridge)
    net = "[Match]\nName=%s\n\n[Network]\n" % bridge
    if address == ['dhcp']:
        net += "DHCP=ipv4\n"
    elif address == ['none']:
        net += "LinkLocalAddressing=no\nConfigureWithoutCarrier=yes\n"
    else:
        net += "Address=%s\nConfigureWithoutCarrier=yes\n" % address[0]
        if len(address) == 2:
            net += "Gateway=%s\n" % address[1]
    files['40-xenguest-%s.network' % bridge] = net
    return files

# Classic meta-arm-autonomy: XENGUEST_NETWORK_BRIDGE_CONFIG named an ifupdown
# file; its default ran DHCP on the bridge.
# nooelint: oelint.task.noanonpython - the classic setting must be mapped or refused while parsing
python __anonymous() {
    classic = d.getVar('XENGUEST_NETWORK_BRIDGE_CONFIG', False)
    if classic is not None:
        if 'dhcp' in classic:
            d.setVar('XENGUEST_NETWORK_BRIDGE_ADDRESS', 'dhcp')
            bb.warn("%s: XENGUEST_NETWORK_BRIDGE_CONFIG is a setting of the retired meta-arm-autonomy layer: mapped to "
                    "XENGUEST_NETWORK_BRIDGE_ADDRESS = \"dhcp\" - set that instead" % d.getVar('PN'))
        else:
            bb.fatal("%s: XENGUEST_NETWORK_BRIDGE_CONFIG '%s' is a setting of the retired meta-arm-autonomy layer and is no "
                     "longer read - use XENGUEST_NETWORK_BRIDGE_ADDRESS (dhcp, none, or ADDRESS/PREFIX [GATEWAY])"
                     % (d.getVar('PN'), classic))
}

python xenguest_network_write() {
    import os
    bridge, members, address = xenguest_network_settings(d)
    dest = d.getVar('D')
    default = os.path.join(dest + d.getVar('sysconfdir'), 'default', 'xenguest-network')
    os.makedirs(os.path.dirname(default), exist_ok=True)
    with open(default, 'w') as f:
        f.write("# Written by the xenguest-network recipe from its knobs; read by the xenguest-network init script.\n"
                "BRIDGE=\"%s\"\nMEMBERS=\"%s\"\nADDRESS=\"%s\"\n" % (bridge, " ".join(members), " ".join(address)))
    os.chmod(default, 0o644)
    if bb.utils.contains('DISTRO_FEATURES', 'systemd', True, False, d):
        netdir = os.path.join(dest + d.getVar("nonarch_base_libdir"), "systemd", "network")
        os.makedirs(netdir, exist_ok=True)
        for name, text in xenguest_network_networkd(d).items():
            with open(os.path.join(netdir, name), 'w') as f:
                f.write(text)
            os.chmod(os.path.join(netdir, name), 0o644)
}
xenguest_network_write[doc] = "Writes /etc/default/xenguest-network and the systemd-networkd files from the knobs"
xenguest_network_write[vardeps] += "XENGUEST_NETWORK_BRIDGE_NAME XENGUEST_NETWORK_BRIDGE_MEMBERS XENGUEST_NETWORK_BRIDGE_ADDRESS"

# Where do_unpack put the files: UNPACKDIR on styhead and later, WORKDIR
# on scarthgap.
_XENGUEST_NETWORK_FILES = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

do_install() {
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        install -m 0755 ${_XENGUEST_NETWORK_FILES}/xenguest-network.init ${D}${sysconfdir}/init.d/xenguest-network
    fi
}

do_install[postfuncs] += "xenguest_network_write"
