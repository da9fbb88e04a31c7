# nooelint: oelint.var.bbclassextend - a service of the Xen host; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Xen host (Dom0) manager of guests from xenguest images"
DESCRIPTION = "xenguest-manager verifies xenguest images and creates, starts, stops and removes their Xen guests: disks on LVM or sparse files, partitions, contents, host init scripts. A drop-in successor of the classic bash manager; at boot it creates and starts the guests installed by xenguest-guests."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "admin"
CVE_PRODUCT = "xenguest-manager"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSE;md5=cadb383a005209ad01794400f88b24e3"

require recipes-devtools/xenguest-mkimage/xenguest-mkimage-source.inc
require xenguest-manager-config.inc

SRC_URI += "file://xenguest-manager.service \
            file://xenguest-manager.init \
            "

inherit systemd update-rc.d

# Only this binary of the crate.
CARGO_BUILD_FLAGS += "--bin xenguest-manager"

SYSTEMD_SERVICE:${PN} = "xenguest-manager.service"
INITSCRIPT_NAME = "xenguest-manager"
# As the classic xenguest-init: start late, stop guests early.
INITSCRIPT_PARAMS = "start 90 2 3 4 5 . stop 79 0 1 6 ."

# What the manager runs on the host, all from OE-core. Xen's xl comes from
# meta-virtualization (xen-tools-xl) and LVM's tools from meta-oe (lvm2):
# dynamic-layers/virtualization-layer and dynamic-layers/openembedded-layer
# add them when those layers are present, so this layer parses and builds
# with OE-core alone (file-backed guest disks need no LVM).
FILES:${PN} += "${sysconfdir}/xenguest ${localstatedir}/lib/xenguest"
CONFFILES:${PN} = "${sysconfdir}/xenguest/xenguest-manager.conf"
RDEPENDS:${PN} = "bash bzip2 dosfstools e2fsprogs-mke2fs gzip parted tar util-linux-losetup util-linux-lsblk util-linux-mkswap util-linux-mount util-linux-umount xz"
# For nat guests (docs/manager.md, "Guest network"): busybox (in every
# OE-core image) brings udhcpd, which serves each guest its address, and
# ip and sysctl, which set up its link; nftables holds the rules (iptables
# works too). The bridge of bridge guests comes from xenguest-network.
# Recommended only: a host with bridge guests alone needs none of it.
RRECOMMENDS:${PN} = "nftables kernel-module-nft-nat kernel-module-nft-masq kernel-module-nft-chain-nat \
                     kernel-module-bridge kernel-module-xen-netback xenguest-network"

# Configuration keys written from the knobs of xenguest-manager-config.inc.
_XENGUEST_MANAGER_KEYS = "XENGUEST_VOLUME_DEVICE=XENGUEST_MANAGER_VOLUME_DEVICE \
                          XENGUEST_VOLUME_NAME=XENGUEST_MANAGER_VOLUME_NAME \
                          XENGUEST_GUEST_DIR=XENGUEST_MANAGER_GUEST_DIR \
                          XENGUEST_LOG_LEVEL=XENGUEST_MANAGER_LOG_LEVEL \
                          XENGUEST_DISK_DIR=XENGUEST_MANAGER_DISK_DIR \
                          XENGUEST_REQUIRE_MANIFEST=XENGUEST_MANAGER_REQUIRE_MANIFEST \
                          XENGUEST_ALLOW_IMAGE_DEVICE=XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE \
                          XENGUEST_TRUSTED_KEYS=XENGUEST_MANAGER_TRUSTED_KEYS \
                          XENGUEST_NETWORK_BRIDGE=XENGUEST_MANAGER_NETWORK_BRIDGE \
                          XENGUEST_NAT_SUBNET=XENGUEST_MANAGER_NAT_SUBNET \
                          XENGUEST_FIREWALL=XENGUEST_MANAGER_FIREWALL \
                          "

def xenguest_manager_conf(d):
    """The text of xenguest-manager.conf, or bb.fatal naming the knob. The
    manager reads KEY="VALUE" lines without a shell and refuses what a
    shell would expand, so such values are refused here already."""
    import re
    lines = ["# Written by the xenguest-manager recipe from its XENGUEST_MANAGER_* knobs.",
             "# KEY=\"VALUE\" lines, read (not run) by xenguest-manager; see its --help."]
    for pair in d.getVar('_XENGUEST_MANAGER_KEYS').split():
        key, knob = pair.split('=', 1)
        value = " ".join((d.getVar(knob) or '').split())
        if not value:
            continue
        bad = [c for c in value if c in '"\\$`' or ord(c) < 32]
        if bad:
            bb.fatal("%s '%s' contains %r - the manager's configuration cannot hold \", \\, $, backticks or control characters" % (knob, value, bad[0]))
        if knob == 'XENGUEST_MANAGER_LOG_LEVEL' and value not in ('ERROR', 'INFO', 'VERBOSE'):
            bb.fatal("XENGUEST_MANAGER_LOG_LEVEL '%s' is not a level - use ERROR, INFO or VERBOSE" % value)
        if knob in ('XENGUEST_MANAGER_REQUIRE_MANIFEST', 'XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE') and value not in ('0', '1'):
            bb.fatal("%s '%s' is not 0 or 1" % (knob, value))
        if knob in ('XENGUEST_MANAGER_VOLUME_DEVICE', 'XENGUEST_MANAGER_GUEST_DIR', 'XENGUEST_MANAGER_DISK_DIR') and not value.startswith('/'):
            bb.fatal("%s '%s' is not an absolute path - give the full path, starting with /" % (knob, value))
        if knob == 'XENGUEST_MANAGER_TRUSTED_KEYS':
            for path in value.split():
                if not path.startswith('/'):
                    bb.fatal("XENGUEST_MANAGER_TRUSTED_KEYS entry '%s' is not an absolute path - give the full path on the host, starting with /" % path)
        if knob == 'XENGUEST_MANAGER_NETWORK_BRIDGE' and not re.fullmatch(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}', value):
            bb.fatal("XENGUEST_MANAGER_NETWORK_BRIDGE '%s' is not a network interface name (1 to 15 letters, digits, _ . -)" % value)
        if knob == 'XENGUEST_MANAGER_NAT_SUBNET' and not re.fullmatch(r'\d{1,3}(\.\d{1,3}){3}/\d{1,2}', value):
            bb.fatal("XENGUEST_MANAGER_NAT_SUBNET '%s' is not ADDRESS/PREFIX, e.g. 10.201.0.0/16" % value)
        if knob == 'XENGUEST_MANAGER_FIREWALL' and value not in ('auto', 'nftables', 'iptables'):
            bb.fatal("XENGUEST_MANAGER_FIREWALL '%s' is not auto, nftables or iptables" % value)
        lines.append('%s="%s"' % (key, value))
    return "\n".join(lines) + "\n"

python xenguest_manager_write_conf() {
    import os
    conf = os.path.join(d.getVar('D') + d.getVar('sysconfdir'), 'xenguest', 'xenguest-manager.conf')
    os.makedirs(os.path.dirname(conf), exist_ok=True)
    with open(conf, 'w') as f:
        f.write(xenguest_manager_conf(d))
    os.chmod(conf, 0o644)
}
xenguest_manager_write_conf[doc] = "Writes xenguest-manager.conf from the XENGUEST_MANAGER_* knobs"
xenguest_manager_write_conf[vardeps] += "XENGUEST_MANAGER_VOLUME_DEVICE XENGUEST_MANAGER_VOLUME_NAME \
    XENGUEST_MANAGER_GUEST_DIR XENGUEST_MANAGER_LOG_LEVEL XENGUEST_MANAGER_DISK_DIR \
    XENGUEST_MANAGER_REQUIRE_MANIFEST XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE \
    XENGUEST_MANAGER_TRUSTED_KEYS XENGUEST_MANAGER_NETWORK_BRIDGE XENGUEST_MANAGER_NAT_SUBNET \
    XENGUEST_MANAGER_FIREWALL"

# Where do_unpack put the boot files: UNPACKDIR on styhead and later,
# WORKDIR on scarthgap.
_XENGUEST_MANAGER_FILES = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}"

xenguest_manager_install() {
    install -d ${D}${sysconfdir}/xenguest/guests \
        ${D}${sysconfdir}/xenguest/init.pre \
        ${D}${sysconfdir}/xenguest/init.d \
        ${D}${sysconfdir}/xenguest/init.post
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        sed -e 's,/usr/bin/,${bindir}/,g' ${_XENGUEST_MANAGER_FILES}/xenguest-manager.service \
            > ${D}${systemd_system_unitdir}/xenguest-manager.service
        chmod 0644 ${D}${systemd_system_unitdir}/xenguest-manager.service
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        sed -e 's,/usr/bin/,${bindir}/,g' ${_XENGUEST_MANAGER_FILES}/xenguest-manager.init \
            > ${D}${sysconfdir}/init.d/xenguest-manager
        chmod 0755 ${D}${sysconfdir}/init.d/xenguest-manager
    fi
}

xenguest_manager_install[doc] = "Installs the configuration directories, the systemd unit and the sysvinit script"

do_install[postfuncs] += "xenguest_manager_install xenguest_manager_write_conf"
