# SPDX-License-Identifier: MIT
# Xen's toolstack (xl) and xenstore-read (an update's health key) from
# meta-virtualization; this file is only read when that layer (collection
# virtualization-layer) is in BBLAYERS (BBFILES_DYNAMIC in conf/layer.conf).
RDEPENDS:${PN} += "xen-tools-xl xen-tools-xenstore"
