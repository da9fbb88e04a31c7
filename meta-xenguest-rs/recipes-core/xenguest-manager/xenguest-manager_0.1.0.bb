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

# The native image tool writes the manager's man pages and completions
# (xenguest_manager_install_docs).
DEPENDS:append = " xenguest-mkimage-native"

# The boot files are the repository's dist/ templates (the Debian package
# and dist/install.sh use the same ones); do_install sets their @BINDIR@.
SRC_URI += "file://dist/xenguest-manager.service.in \
            file://dist/xenguest-manager.init.in \
            "

inherit systemd update-rc.d

# Only this binary of the crate.
CARGO_BUILD_FLAGS += "--bin xenguest-manager"

# Man pages go to ${PN}-doc (OE-core's default FILES); each shell's
# completion gets a package of its own, as for the image tool.
PACKAGES =+ "${PN}-bash-completion ${PN}-zsh-completion ${PN}-fish-completion"
FILES:${PN}-bash-completion += "${datadir}/bash-completion"
FILES:${PN}-zsh-completion += "${datadir}/zsh"
FILES:${PN}-fish-completion += "${datadir}/fish"

SYSTEMD_SERVICE:${PN} = "xenguest-manager.service"
INITSCRIPT_NAME = "xenguest-manager"
# As the classic xenguest-init: start late, stop guests early.
INITSCRIPT_PARAMS = "start 90 2 3 4 5 . stop 79 0 1 6 ."

# What the manager runs on the host, all from OE-core. Xen's xl comes from
# meta-virtualization (xen-tools-xl) and LVM's tools from meta-oe (lvm2):
# dynamic-layers/virtualization-layer and dynamic-layers/openembedded-layer
# add them when those layers are present, so this layer parses and builds
# with OE-core alone (file-backed guest disks need no LVM).
FILES:${PN} += "${sysconfdir}/xenguest ${localstatedir}/lib/xenguest ${XENGUEST_MANAGER_KEYS_DIR}"
CONFFILES:${PN} = "${sysconfdir}/xenguest/xenguest-manager.conf"
RDEPENDS:${PN} = "bash bzip2 dosfstools e2fsprogs-mke2fs gzip parted tar util-linux-losetup util-linux-lsblk util-linux-mkswap util-linux-mount util-linux-umount xz"
# For nat guests (docs/manager.md, "Guest network"): busybox (in every
# OE-core image) brings udhcpd, which serves each guest its address, and
# ip and sysctl, which set up its link; iptables (OE-core) holds the rules,
# or nftables where meta-networking provides it (a dynamic-layers
# bbappend: OE-core has no nftables, and BitBake resolves recommendations
# like dependencies). The bridge of bridge guests comes from
# xenguest-network. Recommended only: a host with bridge guests alone
# needs none of it.
RRECOMMENDS:${PN} = "iptables kernel-module-nft-nat kernel-module-nft-masq kernel-module-nft-chain-nat \
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
                          XENGUEST_REQUIRE_SIGNATURE=XENGUEST_MANAGER_REQUIRE_SIGNATURE \
                          XENGUEST_REQUIRE_SIGNED_SCRIPTS=XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS \
                          XENGUEST_ALLOW_XL_KEYS=XENGUEST_MANAGER_ALLOW_XL_KEYS \
                          XENGUEST_COMPATIBLE=XENGUEST_MANAGER_COMPATIBLE \
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
        if knob in ('XENGUEST_MANAGER_REQUIRE_MANIFEST', 'XENGUEST_MANAGER_ALLOW_IMAGE_DEVICE',
                    'XENGUEST_MANAGER_REQUIRE_SIGNATURE', 'XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS') and value not in ('0', '1'):
            bb.fatal("%s '%s' is not 0 or 1" % (knob, value))
        if knob in ('XENGUEST_MANAGER_VOLUME_DEVICE', 'XENGUEST_MANAGER_GUEST_DIR', 'XENGUEST_MANAGER_DISK_DIR') and not value.startswith('/'):
            bb.fatal("%s '%s' is not an absolute path - give the full path, starting with /" % (knob, value))
        if knob == 'XENGUEST_MANAGER_TRUSTED_KEYS':
            for path in value.split():
                if not path.startswith('/'):
                    bb.fatal("XENGUEST_MANAGER_TRUSTED_KEYS entry '%s' is not an absolute path - give the full path on the host, starting with /" % path)
        if knob in ('XENGUEST_MANAGER_REQUIRE_SIGNATURE', 'XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS') and value == '1' \
                and not (d.getVar('XENGUEST_MANAGER_TRUSTED_KEYS') or '').strip():
            bb.fatal("%s is 1 but XENGUEST_MANAGER_TRUSTED_KEYS names no key - set XENGUEST_MANAGER_TRUSTED_KEY_FILES (or XENGUEST_MANAGER_TRUSTED_KEYS)" % knob)
        if knob == 'XENGUEST_MANAGER_ALLOW_XL_KEYS':
            for name in value.split():
                if not re.fullmatch(r'[a-z_][a-z0-9_-]*', name):
                    bb.fatal("XENGUEST_MANAGER_ALLOW_XL_KEYS entry '%s' is not an xl key or permission name - give names such as pci dtdev vif-script" % name)
        if knob == 'XENGUEST_MANAGER_NETWORK_BRIDGE' and not re.fullmatch(r'[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}', value):
            bb.fatal("XENGUEST_MANAGER_NETWORK_BRIDGE '%s' is not a network interface name (1 to 15 letters, digits, _ . -)" % value)
        if knob == 'XENGUEST_MANAGER_NAT_SUBNET' and not re.fullmatch(r'\d{1,3}(\.\d{1,3}){3}/\d{1,2}', value):
            bb.fatal("XENGUEST_MANAGER_NAT_SUBNET '%s' is not ADDRESS/PREFIX, e.g. 10.201.0.0/16" % value)
        if knob == 'XENGUEST_MANAGER_FIREWALL' and value not in ('auto', 'nftables', 'iptables'):
            bb.fatal("XENGUEST_MANAGER_FIREWALL '%s' is not auto, nftables or iptables" % value)
        lines.append('%s="%s"' % (key, value))
    keys_dir = d.getVar('XENGUEST_MANAGER_KEYS_DIR')
    trusted = (d.getVar('XENGUEST_MANAGER_TRUSTED_KEYS') or '').split()
    if (d.getVar('XENGUEST_MANAGER_TRUSTED_KEY_FILES') or '').split() and keys_dir not in trusted:
        bb.fatal("XENGUEST_MANAGER_TRUSTED_KEY_FILES installs keys into %s, which XENGUEST_MANAGER_TRUSTED_KEYS '%s' does not list - add it, or leave XENGUEST_MANAGER_TRUSTED_KEYS unset" % (keys_dir, " ".join(trusted)))
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
    XENGUEST_MANAGER_TRUSTED_KEYS XENGUEST_MANAGER_REQUIRE_SIGNATURE \
    XENGUEST_MANAGER_REQUIRE_SIGNED_SCRIPTS XENGUEST_MANAGER_ALLOW_XL_KEYS XENGUEST_MANAGER_COMPATIBLE \
    XENGUEST_MANAGER_TRUSTED_KEY_FILES XENGUEST_MANAGER_KEYS_DIR \
    XENGUEST_MANAGER_NETWORK_BRIDGE XENGUEST_MANAGER_NAT_SUBNET XENGUEST_MANAGER_FIREWALL"

def xenguest_manager_key_sources(d):
    """[(entry, path on the build host)] of XENGUEST_MANAGER_TRUSTED_KEY_FILES:
    a relative entry is a file do_unpack put there from SRC_URI, an absolute
    one a file of the build host."""
    import os
    unpack = d.getVar('UNPACKDIR') or d.getVar('WORKDIR')
    out = []
    for entry in (d.getVar('XENGUEST_MANAGER_TRUSTED_KEY_FILES') or '').split():
        out.append((entry, entry if os.path.isabs(entry) else os.path.join(unpack, entry)))
    return out

def xenguest_manager_key_checksums(d):
    """do_install[file-checksums] for the absolute key paths, so another
    key rebuilds (those from SRC_URI are covered by do_fetch)."""
    import os
    return " ".join("%s:%s" % (p, os.path.exists(p)) for e, p in xenguest_manager_key_sources(d) if os.path.isabs(e))

def xenguest_manager_check_key(var, entry, path):
    """The PEM text of a public key or certificate at path, or bb.fatal
    naming var and the file: a private key never goes into a host image."""
    import base64
    import re
    try:
        with open(path, 'rb') as f:
            data = f.read(1 << 20)
    except OSError as e:
        if entry == path:
            bb.fatal("%s entry '%s' cannot be read (%s) - give the path of a PEM public key on the build host" % (var, entry, e.strerror))
        bb.fatal("%s entry '%s' is not in the unpack directory (%s) - add file://%s to SRC_URI, or give an absolute path" % (var, entry, e.strerror, entry))
    if b'PRIVATE KEY-----' in data:
        bb.fatal("%s entry '%s' is a private key - install only its public half (openssl pkey -in KEY.pem -pubout -out KEY.pub.pem); the private key must stay with the signer" % (var, entry))
    blocks = re.findall(rb'-----BEGIN (PUBLIC KEY|CERTIFICATE)-----\s*([A-Za-z0-9+/=\s]+?)-----END \1-----', data)
    if not blocks:
        bb.fatal("%s entry '%s' is not a PEM public key or certificate (-----BEGIN PUBLIC KEY-----) - make one with openssl pkey -in KEY.pem -pubout" % (var, entry))
    for _, body in blocks:
        try:
            base64.b64decode(b''.join(body.split()), validate=True)
        except Exception:
            bb.fatal("%s entry '%s' is not a PEM public key or certificate (bad base64) - make one with openssl pkey -in KEY.pem -pubout" % (var, entry))
    return data

python xenguest_manager_install_keys() {
    import os
    var = 'XENGUEST_MANAGER_TRUSTED_KEY_FILES'
    sources = xenguest_manager_key_sources(d)
    if not sources:
        return
    keys_dir = d.getVar('D') + d.getVar('XENGUEST_MANAGER_KEYS_DIR')
    os.makedirs(keys_dir, exist_ok=True)
    os.chmod(keys_dir, 0o755)
    names = {}
    for entry, path in sources:
        data = xenguest_manager_check_key(var, entry, path)
        # The manager reads every *.pem of the directory.
        name = os.path.basename(entry)
        if not name.endswith('.pem'):
            name += '.pem'
        if name in names:
            bb.fatal("%s entries '%s' and '%s' would both be installed as %s - rename one" % (var, names[name], entry, name))
        names[name] = entry
        dest = os.path.join(keys_dir, name)
        with open(dest, 'wb') as f:
            f.write(data)
        os.chmod(dest, 0o644)
}
xenguest_manager_install_keys[doc] = "Installs the public keys of XENGUEST_MANAGER_TRUSTED_KEY_FILES into XENGUEST_MANAGER_KEYS_DIR, refusing private keys and non-key files"
xenguest_manager_install_keys[vardeps] += "XENGUEST_MANAGER_TRUSTED_KEY_FILES XENGUEST_MANAGER_KEYS_DIR"
do_install[file-checksums] += "${@xenguest_manager_key_checksums(d)}"

# Where do_unpack put the boot files' templates: UNPACKDIR on styhead and
# later, WORKDIR on scarthgap.
_XENGUEST_MANAGER_FILES = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/dist"

xenguest_manager_install() {
    install -d ${D}${sysconfdir}/xenguest/guests \
        ${D}${sysconfdir}/xenguest/init.pre \
        ${D}${sysconfdir}/xenguest/init.d \
        ${D}${sysconfdir}/xenguest/init.post
    if ${@bb.utils.contains('DISTRO_FEATURES', 'systemd', 'true', 'false', d)}; then
        install -d ${D}${systemd_system_unitdir}
        sed -e 's,@BINDIR@,${bindir},g' ${_XENGUEST_MANAGER_FILES}/xenguest-manager.service.in \
            > ${D}${systemd_system_unitdir}/xenguest-manager.service
        chmod 0644 ${D}${systemd_system_unitdir}/xenguest-manager.service
    fi
    if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
        install -d ${D}${sysconfdir}/init.d
        sed -e 's,@BINDIR@,${bindir},g' ${_XENGUEST_MANAGER_FILES}/xenguest-manager.init.in \
            > ${D}${sysconfdir}/init.d/xenguest-manager
        chmod 0755 ${D}${sysconfdir}/init.d/xenguest-manager
    fi
}

xenguest_manager_install[doc] = "Installs the configuration directories, the systemd unit and the sysvinit script"

# The manager's man pages and shell completions, generated from its own
# command definition by the native image tool (built from the same
# sources; a target binary cannot run on the build host).
xenguest_manager_install_docs() {
    xenguest-mkimage generate man ${D}${mandir}/man1 --program xenguest-manager
    xenguest-mkimage generate completions --program xenguest-manager bash ${D}${datadir}/bash-completion/completions
    xenguest-mkimage generate completions --program xenguest-manager zsh ${D}${datadir}/zsh/site-functions
    xenguest-mkimage generate completions --program xenguest-manager fish ${D}${datadir}/fish/vendor_completions.d
}

xenguest_manager_install_docs[doc] = "Installs the manager's man pages and shell completions, generated by the native image tool"

do_install[postfuncs] += "xenguest_manager_install xenguest_manager_install_keys xenguest_manager_write_conf xenguest_manager_install_docs"
