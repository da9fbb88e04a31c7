# nooelint: oelint.var.bbclassextend - guests are built for one MACHINE; there is no native variant
# SPDX-License-Identifier: MIT
SUMMARY = "Xen guests installed on the host"
DESCRIPTION = "Installs the xenguest images named in XENGUEST_GUESTS as XENGUEST_MANAGER_GUEST_DIR/NAME.xenguest (default /usr/share/guests) for the host's xenguest-manager (see xenguest_guests.bbclass)."
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

# Install where the host's xenguest-manager looks (its XENGUEST_GUEST_DIR),
# so that guests put into a host image are created at its first boot.
require recipes-core/xenguest-manager/xenguest-manager-config.inc
XENGUEST_GUESTS_DIR ?= "${XENGUEST_MANAGER_GUEST_DIR}"

inherit xenguest_guests

ALLOW_EMPTY:${PN} = "1"
# The manager that creates and starts the installed guests at boot.
RRECOMMENDS:${PN} += "xenguest-manager"
