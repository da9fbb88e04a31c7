# nooelint: oelint.var.bbclassextend - guests are built for one MACHINE; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Xen guests installed on the host"
DESCRIPTION = "Installs the xenguest images named in XENGUEST_GUESTS as /usr/share/guests/NAME.xenguest for the host's guest manager (see xenguest_guests.bbclass)."
HOMEPAGE = "https://example.invalid/xenguest-mkimage"
BUGTRACKER = "https://example.invalid/xenguest-mkimage/issues"
SECTION = "base"
CVE_PRODUCT = ""
LICENSE = "MIT"
# nooelint: oelint.var.licenseremotefile - the recipe has no source of its own; it is under the layer's MIT license
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

# Guests come from other recipes' deploy output, or from SRC_URI entries
# added in local.conf or a bbappend (see xenguest_guests.bbclass).
SRC_URI = ""

inherit xenguest_guests

ALLOW_EMPTY:${PN} = "1"
