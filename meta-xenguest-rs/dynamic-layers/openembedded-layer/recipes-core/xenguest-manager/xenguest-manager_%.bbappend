# SPDX-License-Identifier: MIT
# LVM's tools (lvm2) come from meta-oe; this file is only read when that
# layer (collection openembedded-layer) is in BBLAYERS (BBFILES_DYNAMIC in
# conf/layer.conf). Without them the manager still creates file-backed disks
# (no XENGUEST_VOLUME_DEVICE configured); a configured volume device needs them.
RDEPENDS:${PN} += "lvm2"
