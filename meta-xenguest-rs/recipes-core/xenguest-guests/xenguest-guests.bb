# SPDX-License-Identifier: MIT
SUMMARY = "Xen guests installed on the host"
DESCRIPTION = "Installs the xenguest images named in XENGUEST_GUESTS as \
/usr/share/guests/NAME.xenguest for the host's guest manager. Configure it \
from local.conf: see xenguest_guests.bbclass."
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302"

inherit xenguest_guests
ALLOW_EMPTY:${PN} = "1"
